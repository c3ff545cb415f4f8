// The one seed module: its values are pinned (they decide every stochastic result), and the corruptions'
// streams are the same as before the module existed (their per-image seeds and stream seeds are the module's).
#include "tests/catch_torch.h"  // first: see the header
#include "common/seed.h"
#include "corruptions/corrupt.h"

using namespace questbench;

TEST_CASE("seed derivation is pinned to recorded values", "[seed]") {
  // Values computed by an independent implementation of splitmix64 and FNV-1a with the finalizer.
  CHECK(sample_seed(0, 0) == 0xa706dd2f4d197e6fULL);
  CHECK(sample_seed(42, 7) == 0x16062d6c1339e500ULL);
  CHECK(keyed_seed(123, "fog", uint8_t{3}) == 0xa0713b824afbce47ULL);
  CHECK(derive_seed(0, 5, std::string("pgd"), 8.0 / 255.0) == 0x28d1562b65eb3a47ULL);
  CHECK(keyed_seed(77, "restart", uint64_t{1}) == 0x7022163974118763ULL);
}

TEST_CASE("corruption seeds are the seed module's", "[seed][corruptions]") {
  const auto seeds = image_seeds(9, 100, 3);
  for (int64_t i = 0; i < 3; ++i) CHECK(seeds[i] == sample_seed(9, 100 + i));
  CHECK(corruption_stream_seed(seeds[0], "fog", 3) == keyed_seed(seeds[0], std::string("fog"), uint8_t{3}));
}

TEST_CASE("derived seeds depend on every key, in order", "[seed]") {
  const auto base = derive_seed(1, 2, std::string("pgd"), 0.5);
  CHECK(base == derive_seed(1, 2, std::string("pgd"), 0.5));
  CHECK(base != derive_seed(2, 2, std::string("pgd"), 0.5));
  CHECK(base != derive_seed(1, 3, std::string("pgd"), 0.5));
  CHECK(base != derive_seed(1, 2, std::string("fgsm"), 0.5));
  CHECK(base != derive_seed(1, 2, std::string("pgd"), 0.25));
  CHECK(keyed_seed(5, "ab", "c") != keyed_seed(5, "c", "ab"));
}
