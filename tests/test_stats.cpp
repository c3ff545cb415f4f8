// Comparison statistics against hand-computed cases: exact McNemar p-values, Wilson / Newcombe intervals
// (Newcombe 1998's worked examples), Holm's step-down, the binomial sampler, and the paired bootstrap's
// coverage on synthetic data with a known difference.
#include "tests/catch_torch.h"  // first: see the header
#include "common/seed.h"
#include "reports/stats.h"

#include <cmath>

using namespace questbench;

TEST_CASE("exact McNemar p-values match hand-computed binomial tails", "[compare][stats]") {
  // p = min(1, 2 * sum_{i<=min(b,c)} C(b+c, i) / 2^(b+c))
  CHECK(mcnemar_exact_p(0, 0) == 1.0);
  CHECK(mcnemar_exact_p(1, 0) == 1.0);                       // 2 * 1/2
  CHECK(mcnemar_exact_p(5, 0) == Approx(0.0625).epsilon(1e-12));  // 2 * 1/32
  CHECK(mcnemar_exact_p(0, 12) == Approx(2.0 / 4096).epsilon(1e-12));
  CHECK(mcnemar_exact_p(2, 8) == Approx(0.109375).epsilon(1e-12));  // 2 * (1 + 10 + 45) / 1024
  CHECK(mcnemar_exact_p(8, 2) == Approx(0.109375).epsilon(1e-12));  // symmetric
  CHECK(mcnemar_exact_p(3, 3) == 1.0);                              // 2 * 42/64 capped at 1
  // Larger tables, exact rational arithmetic done by hand (big integers) beforehand:
  CHECK(mcnemar_exact_p(10, 25) == Approx(0.01667384780012071).epsilon(1e-10));
  CHECK(mcnemar_exact_p(40, 60) == Approx(0.05688793364098079).epsilon(1e-10));
  CHECK(mcnemar_exact_p(150, 100) == Approx(0.001883300935076157).epsilon(1e-9));
  CHECK(mcnemar_exact_p(4000, 4200) == Approx(0.027972423571324383).epsilon(1e-8));
}

TEST_CASE("discordant pairs are counted per sample", "[compare][stats]") {
  const std::vector<uint8_t> a = {1, 1, 0, 0, 1, 0, 1};
  const std::vector<uint8_t> b = {1, 0, 1, 0, 0, 1, 1};
  const auto d = discordance(a, b);
  CHECK(d.n == 7);
  CHECK(d.a_only == 2);
  CHECK(d.b_only == 2);
  CHECK_THROWS_WITH(discordance(a, {1, 0}), Catch::Contains("differ in length"));
}

TEST_CASE("Wilson and Newcombe intervals reproduce Newcombe's worked examples", "[compare][stats]") {
  CHECK(normal_quantile(0.975) == Approx(1.959963984540054).epsilon(1e-12));
  auto w = wilson_interval(81, 263);
  CHECK(w.lo == Approx(0.2553).margin(5e-5));
  CHECK(w.hi == Approx(0.3662).margin(5e-5));
  w = wilson_interval(15, 148);
  CHECK(w.lo == Approx(0.0624).margin(5e-5));
  CHECK(w.hi == Approx(0.1605).margin(5e-5));
  w = wilson_interval(0, 20);
  CHECK(w.lo == 0.0);
  CHECK(w.hi == Approx(0.1611).margin(5e-5));
  auto d = newcombe_interval(56, 70, 48, 80);
  CHECK(d.lo == Approx(0.0524).margin(5e-5));
  CHECK(d.hi == Approx(0.3339).margin(5e-5));
  d = newcombe_interval(9, 10, 3, 10);
  CHECK(d.lo == Approx(0.1705).margin(5e-5));
  CHECK(d.hi == Approx(0.8090).margin(5e-5));
  // Pooled z-test: 56/70 vs 48/80: pooled 104/150, z = 2.65017, two-sided p = erfc(z / sqrt 2) = 0.0080451
  CHECK(two_proportion_p(56, 70, 48, 80) == Approx(0.0080451).margin(2e-7));
  CHECK(two_proportion_p(5, 10, 5, 10) == Approx(1.0));
}

TEST_CASE("Holm's step-down adjustment", "[compare][stats]") {
  // sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04) = 0.06
  const auto adj = holm_adjust({0.01, 0.04, 0.03, 0.005});
  REQUIRE(adj.size() == 4);
  CHECK(adj[0] == Approx(0.03));
  CHECK(adj[1] == Approx(0.06));
  CHECK(adj[2] == Approx(0.06));
  CHECK(adj[3] == Approx(0.02));
  const auto capped = holm_adjust({0.5, 0.6, std::nan("")});
  CHECK(capped[0] == 1.0);
  CHECK(capped[1] == 1.0);
  CHECK(std::isnan(capped[2]));
}

TEST_CASE("binomial draws have the right mean and variance", "[compare][stats]") {
  StatsRng rng(42);
  CHECK(sample_binomial(0, 0.5, rng) == 0);
  CHECK(sample_binomial(17, 0.0, rng) == 0);
  CHECK(sample_binomial(17, 1.0, rng) == 17);
  for (auto [n, p] : std::vector<std::pair<int64_t, double>>{{10, 0.3}, {1000, 0.02}, {10000, 0.5}, {50, 0.999}, {3, 0.5}}) {
    INFO("n " << n << " p " << p);
    const int draws = 20000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < draws; ++i) {
      const auto k = sample_binomial(n, p, rng);
      REQUIRE(k >= 0);
      REQUIRE(k <= n);
      sum += k;
      sum2 += static_cast<double>(k) * k;
    }
    const double mean = sum / draws, var = sum2 / draws - mean * mean;
    const double true_var = n * p * (1 - p);
    CHECK(std::fabs(mean - n * p) < 5 * std::sqrt(true_var / draws) + 1e-12);
    CHECK(var == Approx(true_var).epsilon(0.08));
  }
}

TEST_CASE("paired bootstrap: deterministic, equal to index resampling, and covers at the stated rate", "[compare][stats]") {
  const Discordance d{1000, 60, 90};  // accuracy difference +0.03
  const auto ci = paired_bootstrap_ci(d, 2000, 7);
  const auto again = paired_bootstrap_ci(d, 2000, 7);
  CHECK(ci.lo == again.lo);
  CHECK(ci.hi == again.hi);
  const auto other = paired_bootstrap_ci(d, 2000, 8);
  CHECK((other.lo != ci.lo || other.hi != ci.hi));
  CHECK(ci.lo < 0.03);
  CHECK(ci.hi > 0.03);

  // The same data as explicit per-sample differences, resampled by index.
  std::vector<double> diffs(1000, 0.0);
  for (int i = 0; i < 60; ++i) diffs[i] = -1;
  for (int i = 60; i < 150; ++i) diffs[i] = 1;
  const auto naive = bootstrap_mean_ci(diffs, 4000, 3);
  const auto counts = paired_bootstrap_ci(d, 4000, 3);
  CHECK(counts.lo == Approx(naive.lo).margin(0.003));
  CHECK(counts.hi == Approx(naive.hi).margin(0.003));
  // Normal-theory check: sd of the mean difference = sqrt((b + c)/n - diff^2) / sqrt(n).
  const double sd = std::sqrt(0.15 - 0.03 * 0.03) / std::sqrt(1000.0);
  CHECK(counts.hi - counts.lo == Approx(2 * 1.96 * sd).epsilon(0.08));

  // Coverage: synthetic pairs with P(baseline only right) = 0.08, P(model only right) = 0.12, so the
  // true difference is +0.04; the 95 % interval must contain it in about 95 % of the data sets.
  StatsRng data_rng(2024);
  const int datasets = 400, n = 300;
  int covered = 0;
  for (int r = 0; r < datasets; ++r) {
    Discordance s{n, 0, 0};
    for (int i = 0; i < n; ++i) {
      const double u = data_rng.uniform();
      if (u < 0.08) ++s.a_only;
      else if (u < 0.20) ++s.b_only;
    }
    const auto c = paired_bootstrap_ci(s, 1000, keyed_seed(5, std::to_string(r)));
    if (c.lo <= 0.04 && 0.04 <= c.hi) ++covered;
  }
  const double rate = static_cast<double>(covered) / datasets;
  INFO("coverage " << rate);
  CHECK(rate >= 0.92);  // 95 % +- 3 binomial standard errors (0.011) over 400 data sets
  CHECK(rate <= 0.98);
}

TEST_CASE("derived seeds depend on the key and the seed", "[compare][stats]") {
  CHECK(keyed_seed(0, "clean") == keyed_seed(0, "clean"));
  CHECK(keyed_seed(0, "clean") != keyed_seed(1, "clean"));
  CHECK(keyed_seed(0, "clean") != keyed_seed(0, "fog/3"));
  StatsRng a(1), b(1);
  for (int i = 0; i < 10; ++i) CHECK(a.next() == b.next());
  for (int i = 0; i < 1000; ++i) {
    const auto v = a.below(7);
    REQUIRE(v < 7);
  }
}
