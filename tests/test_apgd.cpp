// APGD-CE / APGD-T against the original AutoAttack (reference runs in shared/reference/autoattack): per-sample
// robust flags in RngMode::Original, robust accuracy and batch independence with per-sample streams, bounds,
// options, and APGD-CE against PGD-10.
#include "tests/catch_torch.h"  // first: see the header
#include "attacks/attack.h"
#include "common/error.h"
#include "common/npy.h"
#include "tests/test_support.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>

using namespace questbench;

namespace apgd_test {

std::string attack_ref(const std::string& file) { return test::reference_dir() + "/attacks/" + file; }
std::string autoattack_ref(const std::string& file) { return test::reference_dir() + "/autoattack/" + file; }

Model load_reference_model(const std::string& tag) {
  ModelSource s;
  s.path = attack_ref(tag == "m1" ? "models/m1_cnn.pt" : "models/m2_mlp.pt");
  s.format = "torchscript";
  s.channels = 1;
  s.height = s.width = 28;
  return Model::load(s, torch::kCPU);
}

struct Threat {
  std::string dir;  // reference directory name
  std::string norm;  // spec option
  double eps;
};
const Threat kLinf{"linf_eps8", "linf", 8.0 / 255};
const Threat kL2{"l2_eps0.5", "l2", 0.5};

std::vector<uint64_t> sample_seeds(int64_t begin, int64_t end) {
  std::vector<uint64_t> seeds;
  for (int64_t i = begin; i < end; ++i) seeds.push_back(0x5eed0000ULL + static_cast<uint64_t>(i));
  return seeds;
}

// The original's robust flag: clean-correct and still correct at x_adv (all N in one batch).
torch::Tensor robust_flags(const Model& model, const torch::Tensor& x, const torch::Tensor& x_adv, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  auto clean_ok = std::get<1>(model.logits(x).max(1)) == y;
  auto adv_ok = std::get<1>(model.logits(x_adv).max(1)) == y;
  return clean_ok & adv_ok;
}

// Perturbations inside the ball (up to float32 rounding) and the box.
void check_bounds(const torch::Tensor& x, const torch::Tensor& x_adv, const Threat& threat) {
  auto delta = (x_adv - x).flatten(1).to(torch::kDouble);
  CHECK(x_adv.min().item<float>() >= 0.f);
  CHECK(x_adv.max().item<float>() <= 1.f);
  const double size = threat.norm == "linf" ? delta.abs().max().item<double>() : delta.norm(2, 1).max().item<double>();
  INFO("largest perturbation " << size << " for eps " << threat.eps);
  CHECK(size <= threat.eps + 1e-6);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs `spec` in Original mode on all 256 points and compares with the reference file; returns the number of
// per-sample robust flags that differ.
int64_t compare_with_original(const std::string& tag, const Threat& threat, const std::string& spec, const std::string& file) {
  auto x = read_npy(attack_ref("inputs.npy"));
  auto y = read_npy(attack_ref("labels.npy"));
  auto model = load_reference_model(tag);
  auto ref = read_npz(autoattack_ref(tag + "/" + threat.dir + "/" + file + ".npz"));
  auto attack = make_attack(spec);
  AttackBatch batch{x, y, torch::Tensor(), sample_seeds(0, x.size(0)), RngMode::Original, 0};
  const auto start = std::chrono::steady_clock::now();
  auto out = attack->run(model, batch, threat.eps, true);
  const double seconds = seconds_since(start);
  auto robust = robust_flags(model, x, out.x_adv, y);
  auto ref_robust = ref.at("robust").to(torch::kBool);
  const int64_t differ = (robust != ref_robust).sum().item<int64_t>();
  const double max_diff = (out.x_adv - ref.at("x_adv")).abs().max().item<double>();
  WARN(tag << " " << threat.dir << " " << spec << " (original rng): robust " << robust.sum().item<int64_t>() << " vs reference "
           << ref_robust.sum().item<int64_t>() << ", flags differ on " << differ << " of 256, max |x_adv - ref| " << max_diff
           << ", " << seconds << " s");
  // The attack's own flags agree with the recheck.
  CHECK(torch::equal(out.broken, ~(std::get<1>(model.logits(out.x_adv).max(1)) == y)));
  check_bounds(x, out.x_adv, threat);
  return differ;
}

// Per-sample streams on all 256 points: robust accuracy, for comparison with the reference's.
struct PerSampleRun {
  torch::Tensor robust;
  double accuracy;
};
PerSampleRun per_sample_run(const Model& model, const Threat& threat, const std::string& spec, int64_t batch_size) {
  auto x = read_npy(attack_ref("inputs.npy"));
  auto y = read_npy(attack_ref("labels.npy"));
  auto attack = make_attack(spec);
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < x.size(0); b += batch_size) {
    const int64_t e = std::min<int64_t>(b + batch_size, x.size(0));
    AttackBatch batch{x.slice(0, b, e), y.slice(0, b, e), torch::Tensor(), sample_seeds(b, e)};
    parts.push_back(attack->run(model, batch, threat.eps, false).x_adv);
  }
  auto x_adv = torch::cat(parts);
  check_bounds(x, x_adv, threat);
  auto robust = robust_flags(model, x, x_adv, y);
  return {robust, robust.to(torch::kDouble).mean().item<double>()};
}

double reference_accuracy(const std::string& tag, const Threat& threat, const std::string& file) {
  return read_npz(autoattack_ref(tag + "/" + threat.dir + "/" + file + ".npz")).at("robust").to(torch::kDouble).mean().item<double>();
}

std::string spec_for(const std::string& name, const Threat& threat) { return name + ":norm=" + threat.norm; }

// Sets the thread count for a scope (the reference was made with 2 threads).
struct ThreadCount {
  explicit ThreadCount(int n) : previous(at::get_num_threads()) { at::set_num_threads(n); }
  ~ThreadCount() { at::set_num_threads(previous); }
  int previous;
};

// The test cases live in the namespace too: in the unity build a using-directive would meet other files' helpers.

TEST_CASE("APGD-CE and APGD-T in original rng mode give the original's robust flags on the MLP", "[apgd]") {
  ThreadCount threads(2);
  for (const auto& threat : {kLinf, kL2}) {
    CHECK(compare_with_original("m2", threat, spec_for("apgd-ce", threat), "apgd_ce") == 0);
    CHECK(compare_with_original("m2", threat, spec_for("apgd-t", threat), "apgd_t") == 0);
  }
}

TEST_CASE("APGD-CE in original rng mode: at most 2 of 256 flags differ from the original's on the CNN", "[apgd]") {
  ThreadCount threads(2);
  for (const auto& threat : {kLinf, kL2}) CHECK(compare_with_original("m1", threat, spec_for("apgd-ce", threat), "apgd_ce") <= 2);
}

TEST_CASE("APGD-T in original rng mode: at most 2 of 256 flags differ from the original's on the CNN", "[apgd]") {
  ThreadCount threads(2);
  for (const auto& threat : {kLinf, kL2}) CHECK(compare_with_original("m1", threat, spec_for("apgd-t", threat), "apgd_t") <= 2);
}

TEST_CASE("APGD with per-sample streams: robust accuracy within 1 point of the original on the MLP", "[apgd]") {
  auto model = load_reference_model("m2");
  for (const auto& threat : {kLinf, kL2}) {
    for (const auto& [name, file] : {std::pair<std::string, std::string>{"apgd-ce", "apgd_ce"}, {"apgd-t", "apgd_t"}}) {
      const auto run = per_sample_run(model, threat, spec_for(name, threat), 256);
      const double reference = reference_accuracy("m2", threat, file);
      WARN("m2 " << threat.dir << " " << name << " (per-sample): robust accuracy " << run.accuracy << ", original " << reference);
      CHECK(std::abs(run.accuracy - reference) <= 0.01);
    }
  }
}

TEST_CASE("APGD with per-sample streams: robust accuracy within 1 point of the original on the CNN (Linf)", "[apgd]") {
  auto model = load_reference_model("m1");
  for (const auto& [name, file] : {std::pair<std::string, std::string>{"apgd-ce", "apgd_ce"}, {"apgd-t", "apgd_t"}}) {
    const auto run = per_sample_run(model, kLinf, spec_for(name, kLinf), 256);
    const double reference = reference_accuracy("m1", kLinf, file);
    WARN("m1 linf_eps8 " << name << " (per-sample): robust accuracy " << run.accuracy << ", original " << reference);
    CHECK(std::abs(run.accuracy - reference) <= 0.01);
  }
}

TEST_CASE("APGD with per-sample streams gives the same flags for batches of 256 and of 37", "[apgd]") {
  auto model = load_reference_model("m2");
  for (const auto& threat : {kLinf, kL2}) {
    for (const std::string name : {"apgd-ce", "apgd-t"}) {
      const auto whole = per_sample_run(model, threat, spec_for(name, threat), 256);
      const auto split = per_sample_run(model, threat, spec_for(name, threat), 37);
      INFO(name << " " << threat.dir << ": " << (whole.robust != split.robust).sum().item<int64_t>() << " flags differ");
      CHECK(torch::equal(whole.robust, split.robust));
    }
  }
}

TEST_CASE("APGD options: spec round trip and defaults and norm and bad targets", "[apgd]") {
  CHECK(make_attack("apgd-ce")->spec() == "apgd-ce:norm=linf,steps=100,rho=0.75,restarts=1,eot=1");
  CHECK(make_attack("apgd-dlr")->spec() == "apgd-dlr:norm=linf,steps=100,rho=0.75,restarts=1,eot=1");
  CHECK(make_attack("apgd-t")->spec() == "apgd-t:norm=linf,steps=100,rho=0.75,restarts=1,eot=1,targets=9");
  for (const std::string text : {"apgd-t:norm=l2,steps=20,rho=3/4,restarts=2,eot=3,targets=4", "apgd-ce:norm=l2,rho=0.5",
                                 "apgd-dlr:steps=7,eot=2"}) {
    auto a = make_attack(text);
    INFO(text << " -> " << a->spec());
    CHECK(make_attack(a->spec())->spec() == a->spec());
  }
  auto t = make_attack("apgd-t:norm=l2,steps=20,targets=4");
  CHECK(t->capabilities().norm == Norm::L2);
  CHECK(make_attack("apgd-ce")->capabilities().norm == Norm::Linf);
  CHECK_FALSE(t->capabilities().targeted);
  CHECK(t->capabilities().iterative);
  CHECK(t->capabilities().randomized);
  CHECK(t->with_doubled_iterations()->spec() == "apgd-t:norm=l2,steps=40,rho=0.75,restarts=1,eot=1,targets=4");
  CHECK(t->settings(0.5).alpha == 1.0);
  CHECK_THROWS_AS(make_attack("apgd-ce:targets=3"), UsageError);
  CHECK_THROWS_AS(make_attack("apgd-ce:norm=l3"), UsageError);
  CHECK_THROWS_AS(make_attack("apgd-ce:steps=0"), UsageError);
  CHECK_THROWS_AS(make_attack("apgd-ce:rho=2"), UsageError);

  auto model = load_reference_model("m2");
  auto x = read_npy(attack_ref("inputs.npy")).slice(0, 0, 4);
  auto y = read_npy(attack_ref("labels.npy")).slice(0, 0, 4);
  AttackBatch batch{x, y, torch::Tensor(), sample_seeds(0, 4)};
  CHECK_THROWS_WITH(make_attack("apgd-t:targets=10")->run(model, batch, 8.0 / 255, true),
                    Catch::Contains("apgd-t") && Catch::Contains("targets=10") && Catch::Contains("10"));
  CHECK_NOTHROW(make_attack("apgd-t:targets=9,steps=2")->run(model, batch, 8.0 / 255, true));
}

TEST_CASE("APGD keeps perturbations in the ball and the box and counts its passes", "[apgd]") {
  auto model = load_reference_model("m2");
  auto x = read_npy(attack_ref("inputs.npy")).slice(0, 0, 64);
  auto y = read_npy(attack_ref("labels.npy")).slice(0, 0, 64);
  for (const auto& threat : {Threat{"", "linf", 16.0 / 255}, Threat{"", "l2", 1.0}}) {
    for (const std::string name : {"apgd-ce", "apgd-dlr", "apgd-t"}) {
      for (const auto mode : {RngMode::PerSample, RngMode::Original}) {
        INFO(name << " " << threat.norm << " " << rng_mode_name(mode));
        AttackBatch batch{x, y, torch::Tensor(), sample_seeds(0, 64), mode, 3};
        auto out = make_attack(spec_for(name, threat) + ",steps=20" + (name == "apgd-t" ? ",targets=3" : ""))->run(model, batch, threat.eps, true);
        check_bounds(x, out.x_adv, threat);
        CHECK(out.backwards > 0);
        CHECK(out.forwards > out.backwards);
        // Robust samples come back unchanged.
        auto robust = ~out.broken;
        CHECK(torch::equal(out.x_adv.index({robust}), x.index({robust})));
      }
    }
  }
  // A zero radius returns the input.
  AttackBatch batch{x, y, torch::Tensor(), sample_seeds(0, 64)};
  CHECK(torch::equal(make_attack("apgd-ce:steps=5")->run(model, batch, 0.0, true).x_adv, x));
}

TEST_CASE("APGD-CE breaks every point PGD-10 breaks on the reference models", "[apgd]") {
  auto x = read_npy(attack_ref("inputs.npy"));
  auto y = read_npy(attack_ref("labels.npy"));
  for (const std::string tag : {"m2", "m1"}) {
    auto model = load_reference_model(tag);
    AttackBatch batch{x, y, torch::Tensor(), sample_seeds(0, x.size(0))};
    auto pgd = make_attack("pgd:steps=10,alpha=2/255")->run(model, batch, 8.0 / 255, true);
    auto apgd = make_attack("apgd-ce")->run(model, batch, 8.0 / 255, true);
    auto pgd_robust = robust_flags(model, x, pgd.x_adv, y);
    auto apgd_robust = robust_flags(model, x, apgd.x_adv, y);
    const int64_t only_pgd = (apgd_robust & ~pgd_robust).sum().item<int64_t>();
    WARN(tag << " linf 8/255: PGD-10 robust " << pgd_robust.sum().item<int64_t>() << ", APGD-CE robust "
             << apgd_robust.sum().item<int64_t>() << ", points only PGD-10 breaks: " << only_pgd);
    CHECK(only_pgd == 0);
  }
}

}  // namespace apgd_test

namespace apgd_test {
// Diagnostic (hidden): which samples' images differ from the original's, for APGD_SPEC / APGD_TAG / APGD_THREADS.
TEST_CASE("APGD images against the original per sample", "[.apgd-diagnostic]") {
  const char* env_threads = std::getenv("APGD_THREADS");
  ThreadCount threads(env_threads ? std::atoi(env_threads) : 2);
  auto x = read_npy(attack_ref("inputs.npy"));
  auto y = read_npy(attack_ref("labels.npy"));
  const char* env_spec = std::getenv("APGD_SPEC");
  const char* env_tag = std::getenv("APGD_TAG");
  const std::string tag = env_tag ? env_tag : "m2";
  const std::string spec = env_spec ? env_spec : "apgd-ce:norm=linf,steps=100";
  auto model = load_reference_model(tag);
  const bool linf = spec.find("l2") == std::string::npos;
  const std::string file = spec.rfind("apgd-t", 0) == 0 ? "apgd_t" : "apgd_ce";
  auto ref = read_npz(autoattack_ref(tag + "/" + (linf ? "linf_eps8" : "l2_eps0.5") + "/" + file + ".npz"));
  AttackBatch batch{x, y, torch::Tensor(), sample_seeds(0, x.size(0)), RngMode::Original, 0};
  auto out = make_attack(spec)->run(model, batch, linf ? 8.0 / 255 : 0.5, true);
  auto diff = (out.x_adv - ref.at("x_adv")).abs().flatten(1).amax(1);
  auto idx = (diff > 0).nonzero().view({-1});
  WARN("samples differing: " << idx.numel() << " idx " << idx << " diffs " << diff.index({idx}));
}
}  // namespace apgd_test
