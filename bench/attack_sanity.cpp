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
// AutoAttack's thresholds (checks.py): a query attack beating the white-box ones by more than 0.2 points flags
// gradient masking; logits of 5 passes over one batch that differ by more than 1e-4 (L2, after normalizing each
// output to unit norm) flag a randomized model; outputs in [0, 1] summing to 1 within 1e-5 flag probabilities.
constexpr double kQueryGainFlag = 0.002;
constexpr int kRandomizedPasses = 5;
constexpr double kRandomizedTolerance = 1e-4, kProbabilityTolerance = 1e-5;
constexpr int64_t kOutputCheckSamples = 250;

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

const AttackCapabilities& capabilities_of(const AttackCell& cell) { return find_attack(cell.attack).capabilities; }

// Robust accuracy of `attack` on the plan's first `n` samples, counted only where the clean pass was right.
int64_t robust_count(const Model& model, const Dataset& dataset, const CleanResult& clean, const Attack& attack, double eps,
                     int64_t n, const std::string& seed_key, const AttackSweepOptions& o) {
  HostToDevice to_device(model.device());
  int64_t robust = 0;
  const int64_t first = o.plan_range().begin;
  for_each_batch({first, first + n}, o.batch_size, [&](int64_t b, int64_t e) {
    auto batch = dataset.read(b, e);
    AttackBatch in;
    in.x = to_device(batch.x);
    in.labels = batch.y.to(model.device());
    for (int64_t i = b; i < e; ++i) in.seeds.push_back(derive_seed(o.seed, i, seed_key, eps));
    auto out = attack.run(model, in, eps, true);
    torch::NoGradGuard no_grad;
    auto ok = ((model.logits(out.x_adv).argmax(1) == in.labels) & ~out.broken).to(torch::kCPU).to(torch::kByte).contiguous();
    for (int64_t i = b; i < e; ++i) robust += ok.data_ptr<uint8_t>()[i - b] && clean.correct_mask[i - first];
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
  // 6. AutoAttack's gradient-masking flag: a black-box query attack should not beat the white-box ones. Within a
  // cascade: the query stage lowers robust accuracy by more than kQueryGainFlag below what the white-box stages
  // before it left; across cells: a query attack's robust accuracy is that far below every white-box attack's at
  // the same norm and eps.
  std::string masking_problems;
  int masking_compared = 0;
  for (const auto& c : cells) {
    double before = -1;  // robust accuracy left by the white-box stages so far
    for (size_t k = 0; k < c.stages.size(); ++k) {
      const auto& stage = c.stages[k];
      const auto& caps = find_attack(parse_attack_spec(stage.spec).name).capabilities;
      if (caps.query_based && before >= 0) {
        ++masking_compared;
        if (stage.robust_accuracy < before - kQueryGainFlag) {
          std::snprintf(buf, sizeof buf, "%s eps %s: %s lowered robust accuracy from %.2f%% to %.2f%% after the white-box stages; ",
                        c.attack.c_str(), c.eps_text.c_str(), parse_attack_spec(stage.spec).name.c_str(), 100 * before,
                        100 * stage.robust_accuracy);
          masking_problems += buf;
        }
      }
      if (caps.needs_gradients) before = stage.robust_accuracy;
    }
    const auto& cc = capabilities_of(c);
    if (!cc.query_based || cc.needs_gradients || !c.stages.empty()) continue;
    double best_white_box = -1;
    for (const auto& d : cells) {
      const auto& dc = capabilities_of(d);
      if (d.norm != c.norm || d.eps != c.eps || !dc.needs_gradients || dc.query_based) continue;
      best_white_box = best_white_box < 0 ? d.robust_accuracy : std::min(best_white_box, d.robust_accuracy);
    }
    if (best_white_box < 0) continue;
    ++masking_compared;
    if (c.robust_accuracy < best_white_box - kQueryGainFlag) {
      std::snprintf(buf, sizeof buf, "%s eps %s: robust accuracy %.2f%%, below the strongest white-box attack's %.2f%%; ",
                    c.attack.c_str(), c.eps_text.c_str(), 100 * c.robust_accuracy, 100 * best_white_box);
      masking_problems += buf;
    }
  }
  if (masking_compared == 0) {
    checks.push_back({"query_attack_not_stronger", model, "not_run", "needs a query attack (square) beside white-box attacks"});
  } else {
    add("query_attack_not_stronger", masking_problems.empty(),
        masking_problems.empty() ? "no query attack beat the white-box attacks by more than 0.2 points"
                                 : masking_problems + "(gradient masking? the white-box robust accuracy may be unreliable)");
  }
  return checks;
}

int64_t probe_samples(const SampleRange& plan) {
  return std::min<int64_t>(plan.size(), std::max<int64_t>({kOutputCheckSamples, kProbeSamples, kDoublingSamples}));
}

bool is_probe_check(const std::string& name) {
  return name == "deterministic_logits" || name == "logits_not_probabilities" || name == "large_eps_reaches_chance" ||
         name == "doubling_steps_stable";
}

const Attack* doubling_probe_attack(const std::vector<std::unique_ptr<Attack>>& attacks) {
  // Gradient attacks only: doubling a cascade or a query attack's budget costs far more than the sweep's own cells.
  for (const auto& a : attacks) {
    const auto& caps = a->capabilities();
    if (caps.iterative && caps.needs_gradients && !caps.query_based && a->stages().empty() && caps.norm == Norm::Linf) return a.get();
  }
  return nullptr;
}

const AttackCell* doubling_probe_cell(const Attack* attack, const std::vector<AttackCell>& cells) {
  const AttackCell* reference = nullptr;
  for (const auto& c : cells)
    if (attack && c.spec == attack->spec() && c.eps > 0 &&
        (!reference || std::abs(c.eps - kReferenceLinfEps) < std::abs(reference->eps - kReferenceLinfEps)))
      reference = &c;
  return reference;
}

std::vector<SanityCheck> attack_probes(const Model& model, const Dataset& dataset, const CleanResult& clean,
                                       const std::vector<AttackCell>& cells, const std::vector<std::unique_ptr<Attack>>& attacks,
                                       const AttackSweepOptions& o) {
  std::vector<SanityCheck> checks;
  char msg[300];
  {
    // AutoAttack's model checks on the first batch: deterministic logits, and logits rather than probabilities.
    HostToDevice to_device(model.device());
    const int64_t n = std::min<int64_t>(o.plan_range().size(), kOutputCheckSamples);
    auto batch = dataset.read(o.plan_range().begin, o.plan_range().begin + n);
    torch::NoGradGuard no_grad;
    const auto x = to_device(batch.x);
    const auto labels = batch.y.to(model.device());
    std::vector<torch::Tensor> outputs;
    std::vector<int64_t> correct;
    for (int pass = 0; pass < kRandomizedPasses; ++pass) {
      auto logits = model.logits(x).to(torch::kFloat);
      correct.push_back((logits.argmax(1) == labels).sum().item<int64_t>());
      outputs.push_back(logits / (logits.norm(2, 1, true) + 1e-10));
    }
    double max_diff = 0;
    for (int a = 0; a < kRandomizedPasses; ++a)
      for (int b = a + 1; b < kRandomizedPasses; ++b)
        max_diff = std::max(max_diff, (outputs[a] - outputs[b]).norm(2, 1).max().item<double>());
    const bool same_correct = std::all_of(correct.begin(), correct.end(), [&](int64_t v) { return v == correct.front(); });
    const bool deterministic = same_correct && max_diff <= kRandomizedTolerance;
    std::snprintf(msg, sizeof msg, "%d passes over %lld samples: largest L2 difference of normalized logits %.3g%s", kRandomizedPasses,
                  static_cast<long long>(n), max_diff,
                  deterministic ? "" : " (a randomized model: evaluate it with autoattack-rand, which averages gradients over 20 draws)");
    checks.push_back({"deterministic_logits", model.name(), deterministic ? "passed" : "warned", msg});
    const auto first = model.logits(x).to(torch::kFloat);
    const bool probabilities = first.max().item<double>() < 1 + kProbabilityTolerance &&
                               first.min().item<double>() > -kProbabilityTolerance &&
                               ((first.sum(1) - 1).abs() < kProbabilityTolerance).all().item<bool>();
    checks.push_back({"logits_not_probabilities", model.name(), probabilities ? "warned" : "passed",
                      probabilities ? "the outputs are in [0, 1] and sum to 1: the model returns probabilities; attacks need logits "
                                      "(losses and margins are flattened by the softmax)"
                                    : "the outputs are not a probability distribution"});
  }
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
    const int64_t n = std::min<int64_t>(o.plan_range().size(), kProbeSamples);
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
  const Attack* iterative = doubling_probe_attack(attacks);
  const AttackCell* reference = doubling_probe_cell(iterative, cells);
  if (!reference) {
    checks.push_back({"doubling_steps_stable", model.name(), "not_run", "needs an iterative Linf attack at some eps > 0"});
    return checks;
  }
  const auto doubled = iterative->with_doubled_iterations();
  const int64_t n = std::min<int64_t>(o.plan_range().size(), kDoublingSamples);
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
