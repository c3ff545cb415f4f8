// The attack sweep's sanity checks. They read attacks' capabilities, never their names: a single-step attack
// is one whose capabilities say it is not iterative, the probes use an iterative Linf gradient attack.
#include "attacks/attack.h"
#include "bench/attack_runner.h"
#include "common/device.h"
#include "common/seed.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <map>

namespace questbench {
namespace {

// The large-radius probe: an iterative Linf attack at eps 0.5 (half the pixel range) with steps long enough to
// cross it must bring any model to chance; if not, gradients do not reach the input.
constexpr double kProbeEps = 0.5, kProbeAlpha = 0.05;
constexpr int kProbeSteps = 20, kProbeSamples = 256;
constexpr double kProbeChanceMargin = 0.05;
// The doubled-iterations probe runs at the sweep's Linf eps nearest the standard 8/255 budget (RobustBench's
// CIFAR-10 Linf threat model), on at most this many samples; a change of a point or more means not converged.
constexpr double kReferenceLinfEps = 8.0 / 255.0;
constexpr int kDoublingSamples = 500;
constexpr double kDoublingPoints = 1.0;

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

const AttackCapabilities& capabilities_of(const AttackCell& cell) { return find_attack(cell.attack).capabilities; }

// Robust accuracy of `attack` on the range's first `n` samples, counted only where the clean pass was right.
int64_t robust_count(const Model& model, const Dataset& dataset, const CleanResult& clean, const Attack& attack, double eps,
                     int64_t n, const std::string& seed_key, const AttackSweepOptions& o) {
  HostToDevice to_device(model.device());
  int64_t robust = 0;
  for_each_batch({o.range.begin, o.range.begin + n}, o.batch_size, [&](int64_t b, int64_t e) {
    auto batch = dataset.read(b, e);
    AttackBatch in;
    in.x = to_device(batch.x);
    in.labels = batch.y.to(model.device());
    for (int64_t i = b; i < e; ++i) in.seeds.push_back(derive_seed(o.seed, i, seed_key, eps));
    auto out = attack.run(model, in, eps, true);
    torch::NoGradGuard no_grad;
    auto ok = ((model.logits(out.x_adv).argmax(1) == in.labels) & ~out.broken).to(torch::kCPU).to(torch::kByte).contiguous();
    for (int64_t i = b; i < e; ++i) robust += ok.data_ptr<uint8_t>()[i - b] && clean.correct_mask[i - o.range.begin];
  });
  return robust;
}

}  // namespace

std::vector<SanityCheck> check_attack_cells(const std::string& model, const CleanResult& clean,
                                            const std::vector<AttackCell>& cells) {
  std::vector<SanityCheck> checks;
  auto add = [&](const std::string& name, bool passed, const std::string& message) {
    checks.push_back({name, model, passed ? "passed" : "warned", message});
  };
  char buf[400];
  // 1. eps = 0 leaves accuracy at the clean accuracy.
  std::string eps0_problems;
  int eps0_cells = 0;
  for (const auto& c : cells) {
    if (c.eps != 0) continue;
    ++eps0_cells;
    if (c.robust_mask != clean.correct_mask) {
      std::snprintf(buf, sizeof buf, "%s at eps 0: robust accuracy %.4f vs clean %.4f; ", c.attack.c_str(), c.robust_accuracy,
                    clean.accuracy);
      eps0_problems += buf;
    }
  }
  if (eps0_cells == 0) {
    checks.push_back({"eps0_equals_clean", model, "not_run", "no eps = 0 in the sweep"});
  } else {
    add("eps0_equals_clean", eps0_problems.empty(),
        eps0_problems.empty() ? "every attack at eps 0 reproduces the clean accuracy per sample" : eps0_problems);
  }
  // 2. Perturbations within eps.
  std::string bound_problems;
  for (const auto& c : cells) {
    const double measured = c.norm == "Linf" ? c.max_linf : c.max_l2;
    if (measured > c.eps * (1 + 1e-6) + 1e-6) {
      std::snprintf(buf, sizeof buf, "%s eps %s: max %s norm %.8g exceeds eps; ", c.attack.c_str(), c.eps_text.c_str(),
                    c.norm.c_str(), measured);
      bound_problems += buf;
    }
  }
  add("perturbation_within_eps", bound_problems.empty(),
      bound_problems.empty() ? "max perturbation norm <= eps in every cell" : bound_problems);
  // 3. Per-sample robustness is monotone in eps (a sample broken at eps stays broken at larger eps).
  std::map<std::string, std::vector<const AttackCell*>> by_attack;
  for (const auto& c : cells) by_attack[c.spec.empty() ? c.attack : c.spec].push_back(&c);
  std::string monotone_problems;
  for (auto& [spec, list] : by_attack) {
    std::sort(list.begin(), list.end(), [](const AttackCell* a, const AttackCell* b) { return a->eps < b->eps; });
    for (size_t k = 1; k < list.size(); ++k) {
      int64_t violations = 0;
      for (size_t i = 0; i < list[k]->robust_mask.size(); ++i) violations += list[k]->robust_mask[i] && !list[k - 1]->robust_mask[i];
      if (violations) {
        std::snprintf(buf, sizeof buf, "%s: %lld samples robust at eps %s but broken at eps %s; ", list[k]->attack.c_str(),
                      static_cast<long long>(violations), list[k]->eps_text.c_str(), list[k - 1]->eps_text.c_str());
        monotone_problems += buf;
      }
    }
  }
  add("monotone_in_eps", monotone_problems.empty(),
      monotone_problems.empty() ? "per-sample robustness never increases with eps" : monotone_problems);
  // 4. An iterative gradient attack is never weaker than a single-step one of its norm at the same eps.
  std::string weaker_problems, pairs;
  int compared = 0;
  for (const auto& single : cells) {
    const auto& sc = capabilities_of(single);
    if (sc.iterative || !sc.needs_gradients) continue;
    for (const auto& iterative : cells) {
      const auto& ic = capabilities_of(iterative);
      if (!ic.iterative || !ic.needs_gradients || iterative.norm != single.norm || iterative.eps != single.eps) continue;
      ++compared;
      const auto pair = upper(single.attack) + " is broken by " + upper(iterative.attack);
      if (pairs.find(pair) == std::string::npos) pairs += (pairs.empty() ? "" : ", ") + pair;
      int64_t weaker = 0;
      for (size_t i = 0; i < iterative.robust_mask.size(); ++i) weaker += iterative.robust_mask[i] && !single.robust_mask[i];
      if (weaker) {
        std::snprintf(buf, sizeof buf, "eps %s: %lld samples broken by %s survive %s; ", iterative.eps_text.c_str(),
                      static_cast<long long>(weaker), upper(single.attack).c_str(), upper(iterative.attack).c_str());
        weaker_problems += buf;
      }
    }
  }
  if (compared == 0) {
    checks.push_back({"pgd_not_weaker_than_fgsm", model, "not_run", "needs a single-step and an iterative attack of one norm at a common eps"});
  } else {
    add("pgd_not_weaker_than_fgsm", weaker_problems.empty(),
        weaker_problems.empty() ? "every sample broken by " + pairs + " at the same eps" : weaker_problems);
  }
  // 5. No all-zero input gradients (gradient masking, quantization, saturation).
  std::string zero_problems;
  for (const auto& c : cells) {
    if (c.eps > 0 && c.zero_gradient_fraction > 0) {
      std::snprintf(buf, sizeof buf, "%s eps %s: %.1f%% of samples have an all-zero input gradient; ", c.attack.c_str(),
                    c.eps_text.c_str(), 100 * c.zero_gradient_fraction);
      zero_problems += buf;
    }
  }
  add("no_zero_gradients", zero_problems.empty(),
      zero_problems.empty() ? "no sample had an all-zero input gradient" : zero_problems + "(masked gradients?)");
  return checks;
}

std::vector<SanityCheck> attack_probes(const Model& model, const Dataset& dataset, const CleanResult& clean,
                                       const std::vector<AttackCell>& cells, const std::vector<std::unique_ptr<Attack>>& attacks,
                                       const AttackSweepOptions& o) {
  std::vector<SanityCheck> checks;
  char msg[300];
  // The large-radius probe with the table's first iterative Linf gradient attack.
  const AttackInfo* probe_info = nullptr;
  for (const auto& info : attack_table()) {
    const auto& c = info.capabilities;
    if (!probe_info && c.iterative && c.needs_gradients && c.norm == Norm::Linf) probe_info = &info;
  }
  if (!probe_info) {
    checks.push_back({"large_eps_reaches_chance", model.name(), "not_run", "no iterative Linf gradient attack is registered"});
  } else {
    AttackDefaults probe;
    probe.steps = kProbeSteps;
    probe.alpha_linf = {kProbeAlpha, "0.05"};
    const auto attack = probe_info->make({probe_info->name, {}}, probe);
    const int64_t n = std::min<int64_t>(o.range.size(), kProbeSamples);
    CleanResult all_correct = clean;  // counts every sample the attack leaves correct, clean-correct or not
    std::fill(all_correct.correct_mask.begin(), all_correct.correct_mask.end(), 1);
    const double accuracy = static_cast<double>(robust_count(model, dataset, all_correct, *attack, kProbeEps, n, "probe", o)) / n;
    const double chance = 1.0 / std::max<int64_t>(2, dataset.num_classes());
    std::snprintf(msg, sizeof msg, "%s-%d Linf eps %g on %lld samples: accuracy %.4f (chance %.4f, allowed %.4f)",
                  upper(probe_info->name).c_str(), kProbeSteps, kProbeEps, static_cast<long long>(n), accuracy, chance,
                  chance + kProbeChanceMargin);
    checks.push_back({"large_eps_reaches_chance", model.name(), accuracy <= chance + kProbeChanceMargin ? "passed" : "warned", msg});
  }
  // The doubled-iterations probe on the sweep's first iterative Linf attack, at its eps nearest the reference.
  const Attack* iterative = nullptr;
  for (const auto& a : attacks)
    if (!iterative && a->capabilities().iterative && a->capabilities().norm == Norm::Linf) iterative = a.get();
  const AttackCell* reference = nullptr;
  for (const auto& c : cells)
    if (iterative && c.spec == iterative->spec() && c.eps > 0 &&
        (!reference || std::abs(c.eps - kReferenceLinfEps) < std::abs(reference->eps - kReferenceLinfEps)))
      reference = &c;
  if (!reference) {
    checks.push_back({"doubling_steps_stable", model.name(), "not_run", "needs an iterative Linf attack at some eps > 0"});
    return checks;
  }
  const auto doubled = iterative->with_doubled_iterations();
  const int64_t n = std::min<int64_t>(o.range.size(), kDoublingSamples);
  const int64_t robust_twice = robust_count(model, dataset, clean, *doubled, reference->eps, n, reference->attack, o);
  int64_t robust_once = 0;
  for (int64_t i = 0; i < n; ++i) robust_once += reference->robust_mask[i];
  const double diff = 100.0 * static_cast<double>(robust_once - robust_twice) / n;
  std::snprintf(msg, sizeof msg, "%s eps %s on %lld samples: robust accuracy %.2f%% with %d steps, %.2f%% with %d (change %.2f points)",
                upper(reference->attack).c_str(), reference->eps_text.c_str(), static_cast<long long>(n), 100.0 * robust_once / n,
                reference->steps, 100.0 * robust_twice / n, doubled->settings(reference->eps).steps, diff);
  checks.push_back({"doubling_steps_stable", model.name(), std::abs(diff) < kDoublingPoints ? "passed" : "warned", msg});
  return checks;
}

}  // namespace questbench
