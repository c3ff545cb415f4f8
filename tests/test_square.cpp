// Square Attack: conformance with AutoAttack's SquareAttack (reference outputs in shared/reference/autoattack),
// batch-size invariance of the per-sample streams, the threat model's bounds, and its spec.
#include "tests/catch_torch.h"  // first: see the header
#include "attacks/attack.h"
#include "common/error.h"
#include "common/npy.h"
#include "tests/test_support.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <iostream>

using namespace questbench;

namespace square_test {

std::string attacks_ref(const std::string& file) { return test::reference_dir() + "/attacks/" + file; }
std::string autoattack_ref(const std::string& file) { return test::reference_dir() + "/autoattack/" + file; }

Model load_model(const std::string& tag) {
  ModelSource s;
  s.path = attacks_ref(tag == "m1" ? "models/m1_cnn.pt" : "models/m2_mlp.pt");
  s.format = "torchscript";
  s.channels = 1;
  s.height = s.width = 28;
  return Model::load(s, torch::kCPU);
}

std::vector<uint64_t> seeds_for(int64_t n, uint64_t run_seed) {
  std::vector<uint64_t> seeds(n);
  for (int64_t i = 0; i < n; ++i) seeds[i] = run_seed * 1000003ULL + static_cast<uint64_t>(i);
  return seeds;
}

// Sets the intra-op thread count for a scope: 2 where results are compared bit for bit (the reference was made
// with 2 threads), 1 elsewhere (a loaded machine makes OpenMP's 2-thread barriers many times slower).
struct ThreadCount {
  int previous = at::get_num_threads();
  explicit ThreadCount(int threads) { at::set_num_threads(threads); }
  ~ThreadCount() { at::set_num_threads(previous); }
};

struct Comparison {
  double robust_accuracy = 0, reference_accuracy = 0, flag_agreement = 0, max_abs_diff = 0, seconds = 0;
  bool bit_identical = false;
};

// Runs `spec` on all 256 reference points and compares with <model>/<threat>/square.npz.
Comparison compare_with_reference(const std::string& tag, const std::string& threat, const std::string& spec, RngMode rng) {
  ThreadCount threads(rng == RngMode::Original ? 2 : 1);
  auto x = read_npy(attacks_ref("inputs.npy"));
  auto y = read_npy(attacks_ref("labels.npy"));
  auto ref = read_npz(autoattack_ref(tag + "/" + threat + "/square.npz"));
  auto model = load_model(tag);
  const double eps = threat == "linf_eps8" ? 8.0 / 255 : 0.5;
  auto attack = make_attack(spec);
  AttackBatch batch{x, y, torch::Tensor(), seeds_for(x.size(0), 0), rng, 0};
  const auto start = std::chrono::steady_clock::now();
  auto out = attack->run(model, batch, eps, true);
  Comparison c;
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  torch::NoGradGuard no_grad;
  auto robust = model.logits(out.x_adv).argmax(1) == y;
  auto ref_robust = ref.at("robust").to(torch::kBool);
  CHECK(torch::equal(robust, ~out.broken));
  c.robust_accuracy = robust.to(torch::kDouble).mean().item<double>();
  c.reference_accuracy = ref_robust.to(torch::kDouble).mean().item<double>();
  c.flag_agreement = (robust == ref_robust).to(torch::kDouble).mean().item<double>();
  c.max_abs_diff = (out.x_adv - ref.at("x_adv")).abs().max().item<double>();
  c.bit_identical = torch::equal(out.x_adv, ref.at("x_adv"));
  std::cout << "[square] " << tag << " " << threat << " " << rng_mode_name(rng) << ": robust " << c.robust_accuracy
            << " (reference " << c.reference_accuracy << "), flag agreement " << c.flag_agreement << ", max |x_adv - ref| "
            << c.max_abs_diff << (c.bit_identical ? " (bit-identical)" : "") << ", " << c.seconds << " s\n";
  return c;
}

// Largest perturbation norm per threat and box violations.
void check_bounds(const torch::Tensor& x, const torch::Tensor& adv, Norm norm, double eps) {
  auto delta = (adv - x).flatten(1);
  CHECK(adv.min().item<float>() >= 0.f);
  CHECK(adv.max().item<float>() <= 1.f);
  const double largest = norm == Norm::Linf ? delta.abs().amax(1).max().item<double>() : delta.norm(2, 1).max().item<double>();
  INFO("largest perturbation " << largest << " at eps " << eps);
  CHECK(largest <= eps * (1 + 1e-6) + 1e-6);
}

}  // namespace square_test

// Original RNG mode: the same draws as AutoAttack on the same batch. Robust accuracy within 1 point is the
// requirement; the per-sample flag agreement and the largest image difference are printed (measured on m2: flags
// all equal, L2 images bit-identical, Linf images within one float32 ulp).
TEST_CASE("square in the original RNG mode matches AutoAttack on the MLP under Linf", "[square]") {
  auto c = square_test::compare_with_reference("m2", "linf_eps8", "square:norm=linf", RngMode::Original);
  INFO("robust " << c.robust_accuracy << " vs " << c.reference_accuracy << ", agreement " << c.flag_agreement);
  CHECK(std::abs(c.robust_accuracy - c.reference_accuracy) <= 0.01);
}

TEST_CASE("square in the original RNG mode matches AutoAttack on the MLP under L2", "[square]") {
  auto c = square_test::compare_with_reference("m2", "l2_eps0.5", "square:norm=l2", RngMode::Original);
  INFO("robust " << c.robust_accuracy << " vs " << c.reference_accuracy << ", agreement " << c.flag_agreement);
  CHECK(std::abs(c.robust_accuracy - c.reference_accuracy) <= 0.01);
}

// The CNN takes ~50 s in the original on an idle machine (L2 ~180 s: left to the MLP, as the brief allows).
TEST_CASE("square in the original RNG mode matches AutoAttack on the CNN under Linf", "[square][slow]") {
  auto c = square_test::compare_with_reference("m1", "linf_eps8", "square:norm=linf", RngMode::Original);
  INFO("robust " << c.robust_accuracy << " vs " << c.reference_accuracy << ", agreement " << c.flag_agreement);
  CHECK(std::abs(c.robust_accuracy - c.reference_accuracy) <= 0.01);
}

TEST_CASE("square with per-sample streams matches AutoAttack's robust accuracy", "[square]") {
  for (const std::string threat : {"linf_eps8", "l2_eps0.5"}) {
    const std::string norm = threat == "linf_eps8" ? "linf" : "l2";
    auto c = square_test::compare_with_reference("m2", threat, "square:norm=" + norm, RngMode::PerSample);
    INFO(threat << ": robust " << c.robust_accuracy << " vs " << c.reference_accuracy);
    CHECK(std::abs(c.robust_accuracy - c.reference_accuracy) <= 0.01);
  }
}

TEST_CASE("square with per-sample streams gives the same flags and images for any batch size", "[square]") {
  square_test::ThreadCount threads(1);
  auto x = read_npy(square_test::attacks_ref("inputs.npy"));
  auto y = read_npy(square_test::attacks_ref("labels.npy"));
  auto model = square_test::load_model("m2");
  const auto seeds = square_test::seeds_for(x.size(0), 5);
  for (const std::string spec : {"square:norm=linf,queries=500", "square:norm=l2,queries=500"}) {
    const double eps = spec.find("linf") != std::string::npos ? 8.0 / 255 : 0.5;
    auto attack = make_attack(spec);
    auto whole = attack->run(model, {x, y, torch::Tensor(), seeds}, eps, true);
    std::vector<torch::Tensor> parts, broken;
    for (int64_t b = 0; b < x.size(0); b += 37) {
      const int64_t e = std::min<int64_t>(b + 37, x.size(0));
      std::vector<uint64_t> part_seeds(seeds.begin() + b, seeds.begin() + e);
      auto out = attack->run(model, {x.slice(0, b, e), y.slice(0, b, e), torch::Tensor(), part_seeds}, eps, true);
      parts.push_back(out.x_adv);
      broken.push_back(out.broken);
    }
    auto split_broken = torch::cat(broken);
    INFO(spec << ": flags differing " << (split_broken != whole.broken).sum().item<int64_t>() << ", max |x_adv diff| "
              << (torch::cat(parts) - whole.x_adv).abs().max().item<double>());
    CHECK(torch::equal(split_broken, whole.broken));
    // Images: equal up to float32 rounding. The model's matmul may round a logit differently for another batch
    // size; a proposal that changes the image only by rounding (a square already at the ball's edge) is then
    // accepted in one run and not the other. Measured on m2 (Linf, 1000 queries, the CLI's seeds): 4 pixels of 2 points
    // differ, by <= 1.5e-8.
    CHECK((torch::cat(parts) - whole.x_adv).abs().max().item<double>() <= 1e-6);
    // The attack did something: it breaks points beyond the clean-misclassified ones.
    torch::NoGradGuard no_grad;
    auto clean_wrong = model.logits(x).argmax(1) != y;
    CHECK(whole.broken.sum().item<int64_t>() > clean_wrong.sum().item<int64_t>());
  }
}

TEST_CASE("square keeps perturbations in the ball and the box and counts its queries", "[square]") {
  square_test::ThreadCount threads(1);
  auto x = read_npy(square_test::attacks_ref("inputs.npy")).slice(0, 0, 64);
  auto y = read_npy(square_test::attacks_ref("labels.npy")).slice(0, 0, 64);
  auto model = square_test::load_model("m2");
  const auto seeds = square_test::seeds_for(64, 1);
  for (const auto rng : {RngMode::PerSample, RngMode::Original}) {
    for (const std::string spec : {"square:norm=linf,queries=300", "square:norm=l2,queries=300", "square:norm=linf,queries=300,loss=ce",
                                   "square:norm=l2,queries=300,loss=ce,restarts=2"}) {
      const bool linf = spec.find("linf") != std::string::npos;
      for (double eps : linf ? std::vector<double>{0.0, 4.0 / 255, 16.0 / 255} : std::vector<double>{0.25, 1.0, 3.0}) {
        auto attack = make_attack(spec);
        INFO(spec << " " << rng_mode_name(rng) << " eps " << eps);
        CHECK(attack->capabilities().norm == (linf ? Norm::Linf : Norm::L2));
        auto out = attack->run(model, {x, y, torch::Tensor(), seeds, rng, 0}, eps, true);
        square_test::check_bounds(x, out.x_adv, linf ? Norm::Linf : Norm::L2, eps);
        // Returned images: unchanged exactly where the point is not broken.
        auto same = (out.x_adv == x).flatten(1).all(1);
        CHECK(torch::equal(same | out.broken, torch::ones_like(out.broken)));
        torch::NoGradGuard no_grad;
        auto adv_wrong = model.logits(out.x_adv).argmax(1) != y;
        CHECK(torch::equal(adv_wrong, out.broken));
        // Queries: the clean pass over all, then per attacked point at most 1 + queries + the final check.
        const int restarts = spec.find("restarts=2") != std::string::npos ? 2 : 1;
        CHECK(out.forwards >= 64);
        CHECK(out.forwards <= 64 + restarts * 64 * (300 + 2));
        CHECK(out.backwards == 0);
        if (eps > 0.05) CHECK(out.broken.sum().item<int64_t>() > (model.logits(x).argmax(1) != y).sum().item<int64_t>());
        if (eps == 0.0) CHECK(torch::equal(out.x_adv, x));
      }
    }
  }
}

TEST_CASE("square specs round-trip and bad options are one-line usage errors", "[square]") {
  CHECK(make_attack("square")->spec() == "square:norm=linf,queries=5000,p_init=0.8,restarts=1,loss=margin");
  for (const std::string text : {"square", "square:norm=l2", "square:norm=l2,queries=100,p_init=0.05,restarts=3,loss=ce",
                                 "square:p_init=1/8"}) {
    auto a = make_attack(text);
    INFO(text << " -> " << a->spec());
    CHECK(make_attack(a->spec())->spec() == a->spec());
  }
  CHECK(make_attack("square:norm=l2")->capabilities().norm == Norm::L2);
  CHECK(make_attack("square")->capabilities().norm == Norm::Linf);
  const auto& caps = find_attack("square").capabilities;
  CHECK(caps.query_based);
  CHECK_FALSE(caps.needs_gradients);
  CHECK_FALSE(caps.targeted);
  CHECK(caps.iterative);
  CHECK(caps.randomized);
  CHECK(make_attack("square:queries=10")->with_doubled_iterations()->spec() ==
        "square:norm=linf,queries=20,p_init=0.8,restarts=1,loss=margin");
  CHECK_THROWS_AS(make_attack("square:norm=l1"), UsageError);
  CHECK_THROWS_WITH(make_attack("square:norm=l1"), Catch::Contains("linf, l2"));
  CHECK_THROWS_WITH(make_attack("square:queries=0"), Catch::Contains(">= 1"));
  CHECK_THROWS_WITH(make_attack("square:p_init=0"), Catch::Contains("p_init"));
  CHECK_THROWS_WITH(make_attack("square:p_init=2"), Catch::Contains("p_init"));
  CHECK_THROWS_WITH(make_attack("square:loss=cw"), Catch::Contains("margin, ce"));
  CHECK_THROWS_WITH(make_attack("square:steps=3"), Catch::Contains("unknown option 'steps'"));
}
