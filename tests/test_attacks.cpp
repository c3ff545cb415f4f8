// Attack engines: conformance with torchattacks 3.5.1 on the reference TorchScript models, plus the
// properties every attack must have (bounds, targeted success, restarts, early stop, seeding).
#include "tests/catch_torch.h"  // first: see the header
#include "attacks/attack.h"
#include "common/error.h"
#include "common/npy.h"
#include "tests/test_support.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <numeric>

using namespace questbench;

namespace {

std::string attack_ref(const std::string& file) { return test::reference_dir() + "/attacks/" + file; }

Model reference_model(const std::string& file) {
  ModelSource s;
  s.path = attack_ref("models/" + file);
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

double robust_accuracy(const Model& model, const torch::Tensor& x, const torch::Tensor& adv, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  auto clean_ok = model.logits(x).argmax(1) == y;
  auto adv_ok = model.logits(adv).argmax(1) == y;
  return (clean_ok & adv_ok).to(torch::kDouble).mean().item<double>();
}

}  // namespace

TEST_CASE("FGSM, PGD and PGD-L2 match torchattacks' adversarial images", "[attacks][torchattacks]") {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);  // the reference was made with 2 threads (see its README)
  auto x = read_npy(attack_ref("inputs.npy"));
  auto y = read_npy(attack_ref("labels.npy"));
  const auto seeds = seeds_for(x.size(0), 0);
  for (const std::string tag : {"m1", "m2"}) {
    auto model = reference_model(tag == "m1" ? "m1_cnn.pt" : "m2_mlp.pt");
    auto sweep = read_npz(attack_ref(tag + "/eps_sweep.npz"));
    for (int k : {1, 2, 4, 8, 16}) {
      for (const std::string name : {"fgsm", "pgd"}) {
        AttackConfig c;
        c.eps = k / 255.0;
        c.alpha = 2.0 / 255.0;
        c.steps = 10;
        c.random_start = false;
        c.early_stop = false;
        const std::string key = name + "_eps" + std::to_string(k);
        auto ref = k == 8 ? read_npy(attack_ref(tag + "/" + key + ".npy")) : sweep.at(key);
        auto out = find_attack(name).run(model, x, y, torch::Tensor(), c, seeds);
        const double diff = (out.x_adv - ref).abs().max().item<double>();
        const int64_t samples_off = ((out.x_adv - ref).abs().flatten(1).amax(1) > 1e-6).sum().item<int64_t>();
        INFO(tag << " " << key << " max |diff| = " << diff << ", samples off by > 1e-6: " << samples_off);
        if (tag == "m2" || name == "fgsm") {
          CHECK(diff <= 1e-6);
        } else {
          // M1's convolutions run through oneDNN, whose kernels are chosen by the CPU's instruction set and
          // round differently across machines (ONEDNN_MAX_CPU_ISA changes these results): over 10 PGD steps a
          // rounding-level difference can flip one gradient sign and move a pixel by one step. The reference
          // machine is not this one, so M1's PGD is held to: every sample but at most 1 % bit-equal (1e-6), and
          // each remaining one off by at most two steps. The MLP (M2) and FGSM (one gradient) stay exact.
          CHECK(samples_off <= x.size(0) / 100);
          CHECK(diff <= 2 * c.alpha + 1e-6);
        }
      }
    }
    AttackConfig l2;
    l2.eps = 1.0;
    l2.alpha = 0.2;
    l2.steps = 10;
    l2.random_start = false;
    l2.early_stop = false;
    auto out = find_attack("pgd-l2").run(model, x, y, torch::Tensor(), l2, seeds);
    const auto l2_diff = (out.x_adv - read_npy(attack_ref(tag + "/pgdl2_eps1.0.npy"))).abs();
    const double diff = l2_diff.max().item<double>();
    const int64_t samples_off = (l2_diff.flatten(1).amax(1) > 1e-6).sum().item<int64_t>();
    INFO(tag << " pgdl2 max |diff| = " << diff << ", samples off by > 1e-6: " << samples_off);
    if (tag == "m2") {
      CHECK(diff <= 1e-6);
    } else {
      CHECK(samples_off <= x.size(0) / 100);  // oneDNN rounding, as above
    }
  }
  at::set_num_threads(threads);
}

TEST_CASE("PGD with random start: robust accuracy within 2 points of torchattacks' seed mean", "[attacks][torchattacks]") {
  auto x = read_npy(attack_ref("inputs.npy"));
  auto y = read_npy(attack_ref("labels.npy"));
  const std::vector<std::pair<std::string, double>> models = {{"m1_cnn.pt", 0.5031}, {"m2_mlp.pt", 0.4883}};
  for (const auto& [file, reference_mean] : models) {
    auto model = reference_model(file);
    AttackConfig c;  // torchattacks defaults: eps 8/255, alpha 2/255, 10 steps, random start
    c.early_stop = false;
    double sum = 0;
    for (uint64_t seed = 0; seed < 5; ++seed) {
      auto out = find_attack("pgd").run(model, x, y, torch::Tensor(), c, seeds_for(x.size(0), seed));
      sum += robust_accuracy(model, x, out.x_adv, y);
    }
    const double mean = sum / 5;
    INFO(file << ": questbench mean robust accuracy " << mean << ", torchattacks " << reference_mean);
    CHECK(std::abs(mean - reference_mean) <= 0.02);
  }
}

TEST_CASE("every attack keeps perturbations inside the ball and the box", "[attacks]") {
  auto x = read_npy(attack_ref("inputs.npy")).slice(0, 0, 64);
  auto y = read_npy(attack_ref("labels.npy")).slice(0, 0, 64);
  auto model = reference_model("m1_cnn.pt");
  for (const auto& info : attack_table()) {
    if (!info.run) continue;  // the gradient family; the AutoAttack attacks are bounded in their own tests
    for (double eps : {0.0, 2.0 / 255, 8.0 / 255, 0.5}) {
      AttackConfig c;
      c.eps = info.capabilities.norm == Norm::L2 ? eps * 10 : eps;
      c.alpha = info.capabilities.norm == Norm::L2 ? c.eps / 4 : 2.0 / 255;
      c.restarts = 2;
      auto out = info.run(model, x, y, torch::Tensor(), c, seeds_for(64, 3));
      auto delta = (out.x_adv - x).flatten(1);
      INFO(info.name << " eps " << c.eps);
      CHECK(out.x_adv.min().item<float>() >= 0.f);
      CHECK(out.x_adv.max().item<float>() <= 1.f);
      const double bound = c.eps * (1 + 1e-6) + 1e-6;
      if (info.capabilities.norm == Norm::Linf) {
        CHECK(delta.abs().max().item<double>() <= bound);
      } else {
        CHECK(delta.norm(2, 1).max().item<double>() <= bound);
      }
      if (eps == 0.0) CHECK(torch::equal(out.x_adv, x));
      // Gradient attacks take gradients; query-based ones (square) only forward passes.
      if (info.capabilities.needs_gradients) CHECK(out.gradient_evaluations >= 1);
      else CHECK((out.forward_evaluations >= 1 && out.backwards == 0));
    }
  }
}

TEST_CASE("random starts: Linf uniform in the cube, L2 uniform in the ball, per-sample seeding", "[attacks]") {
  const int64_t n = 4000, d = 3;
  auto seeds = seeds_for(n, 9);
  auto linf = random_start_delta(Norm::Linf, 0.1, {n, d}, seeds, 0, torch::kCPU);
  CHECK(linf.abs().max().item<double>() <= 0.1);
  CHECK(linf.mean().item<double>() == Approx(0.0).margin(0.005));
  auto l2 = random_start_delta(Norm::L2, 2.0, {n, d}, seeds, 0, torch::kCPU);
  auto r = l2.norm(2, 1) / 2.0;
  CHECK(r.max().item<double>() <= 1.0 + 1e-6);
  // Uniform in a 3-ball: P(r <= 0.5) = 0.125, E[r] = 3/4.
  CHECK((r <= 0.5).to(torch::kDouble).mean().item<double>() == Approx(0.125).margin(0.02));
  CHECK(r.mean().item<double>() == Approx(0.75).margin(0.02));
  // Sample i's draw depends only on its own seed, not on the batch it is in.
  auto one = random_start_delta(Norm::Linf, 0.1, {1, d}, {seeds[17]}, 0, torch::kCPU);
  CHECK(torch::equal(one[0], linf[17]));
  auto other_restart = random_start_delta(Norm::Linf, 0.1, {1, d}, {seeds[17]}, 1, torch::kCPU);
  CHECK_FALSE(torch::equal(other_restart[0], linf[17]));
}

TEST_CASE("targeted attacks reach their targets, and restarts never raise robust accuracy", "[attacks]") {
  auto x = read_npy(attack_ref("inputs.npy")).slice(0, 0, 128);
  auto y = read_npy(attack_ref("labels.npy")).slice(0, 0, 128);
  auto model = reference_model("m2_mlp.pt");
  torch::Tensor clean_logits;
  {
    torch::NoGradGuard no_grad;
    clean_logits = model.logits(x);
  }
  const auto seeds = seeds_for(128, 5);
  for (const std::string mode : {"least-likely", "random"}) {
    auto targets = mode == "random" ? random_targets(y, 10, seeds) : least_likely_targets(clean_logits);
    CHECK((targets != y).all().item<bool>());
    AttackConfig c;
    c.targeted = true;
    c.eps = 0.3;
    c.alpha = 0.02;
    c.steps = 40;
    auto out = find_attack("pgd").run(model, x, y, targets, c, seeds);
    torch::NoGradGuard no_grad;
    const double reached = (model.logits(out.x_adv).argmax(1) == targets).to(torch::kDouble).mean().item<double>();
    INFO(mode << " targets reached: " << reached);
    CHECK(reached >= 0.9);
    CHECK(torch::equal(out.broken, model.logits(out.x_adv).argmax(1) == targets));
  }
  AttackConfig one;
  one.eps = 4.0 / 255;
  AttackConfig three = one;
  three.restarts = 3;
  auto a = find_attack("pgd").run(model, x, y, torch::Tensor(), one, seeds);
  auto b = find_attack("pgd").run(model, x, y, torch::Tensor(), three, seeds);
  // Restart 0 of the 3-restart run is the 1-restart run, so every sample broken by one is broken by three.
  CHECK((a.broken & ~b.broken).sum().item<int64_t>() == 0);
  CHECK(b.broken.sum().item<int64_t>() >= a.broken.sum().item<int64_t>());
}

TEST_CASE("early stop keeps the first misclassifying iterate, and attacks are seeded and batch independent", "[attacks]") {
  auto x = read_npy(attack_ref("inputs.npy")).slice(0, 0, 32);
  auto y = read_npy(attack_ref("labels.npy")).slice(0, 0, 32);
  auto model = reference_model("m1_cnn.pt");
  AttackConfig c;
  c.eps = 16.0 / 255;
  auto seeds = seeds_for(32, 1);
  auto out = find_attack("pgd").run(model, x, y, torch::Tensor(), c, seeds);
  // Every sample reported broken is misclassified at the returned point.
  torch::Tensor wrong;
  {
    torch::NoGradGuard no_grad;
    wrong = model.logits(out.x_adv).argmax(1) != y;
  }
  CHECK(torch::equal(out.broken, wrong));
  auto again = find_attack("pgd").run(model, x, y, torch::Tensor(), c, seeds);
  CHECK(torch::equal(out.x_adv, again.x_adv));
  // Sign attacks on a sample alone equal the batch run except where a mean-reduced gradient entry underflows.
  auto single = find_attack("pgd").run(model, x.slice(0, 5, 6), y.slice(0, 5, 6), torch::Tensor(), c, {seeds[5]});
  CHECK((single.x_adv[0] - out.x_adv[5]).abs().max().item<double>() <= 1e-6);
  CHECK_THROWS_WITH(find_attack("deepfool"), Catch::Contains("fgsm, pgd, pgd-l2"));
}
