// Attack engines over one interface. Every attack works in pixel space: x is float [N, C, H, W] in [0,1]
// (normalization happens inside the Model), the model is in eval mode and never gets parameter gradients.
//
//   AttackOutput out = find_attack("pgd").run(model, x, labels, targets, config, sample_seeds);
//
// Conventions (match torchattacks 3.5.1 where it defines them; see attacks/README.md):
//   * loss: mean over the batch (CrossEntropy by default; Margin = CW-style logit margin), ascended;
//     targeted attacks descend the target's loss (ascend its negative).
//   * Linf PGD step: x + alpha·sign(g), then clamp(x - x0, ±eps), then clamp to [0,1].
//   * L2 PGD step: x + alpha·g/(‖g‖₂+1e-10), then delta *= min(eps/‖delta‖₂, 1), then clamp to [0,1].
//   * random start: Linf U(-eps, eps) per coordinate; L2 exactly uniform in the eps-ball (direction and
//     radius from a Gaussian in d+2 dimensions, first d coordinates); then clamp to [0,1]. Each sample
//     draws from its own generator seeded by sample_seeds[i] (and the restart index), so results do not
//     depend on batching.
//   * early_stop: the first iterate (of any restart) at which a sample is misclassified (or reaches its
//     target) is kept and the sample counts as broken; otherwise the final iterate is returned.
#pragma once

#include "models/model.h"

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace questbench {

enum class Norm { Linf, L2 };
enum class LossKind { CrossEntropy, Margin };

std::string norm_name(Norm norm);          // "Linf" | "L2"
std::string loss_name(LossKind loss);      // "ce" | "margin"
LossKind parse_loss(const std::string& s);  // throws UsageError

struct AttackConfig {
  double eps = 8.0 / 255.0;
  double alpha = 2.0 / 255.0;  // absolute step size in pixel units
  int steps = 10;
  bool random_start = true;
  int restarts = 1;
  LossKind loss = LossKind::CrossEntropy;
  bool early_stop = true;
  bool targeted = false;  // then `targets` must be given to run()
  // Evaluate the final iterate (one extra forward pass). Callers that re-check predictions at x_adv
  // anyway (the sweep runner does) turn it off: `broken` then covers every iterate but the last one.
  bool check_final = true;
};

struct AttackOutput {
  torch::Tensor x_adv;   // float [N, C, H, W] in [0,1], same device as x
  torch::Tensor broken;  // bool [N]: misclassified (untargeted) / target reached (targeted) at some kept iterate
  int64_t gradient_evaluations = 0;  // forward+backward passes over the batch
  int64_t forward_evaluations = 0;   // extra forward-only passes over the batch
  double zero_gradient_fraction = 0;  // fraction of samples whose input gradient is exactly zero at the first step
};

using AttackFunction = AttackOutput (*)(const Model& model, const torch::Tensor& x, const torch::Tensor& labels,
                                        const torch::Tensor& targets, const AttackConfig& config,
                                        const std::vector<uint64_t>& sample_seeds);

struct AttackInfo {
  std::string name;  // "fgsm" | "pgd" | "pgd-l2"
  Norm norm;
  bool iterative;          // uses steps / alpha / restarts / random start
  bool supports_targeted;
  std::string description;
  AttackFunction run;
};

const std::vector<AttackInfo>& attack_table();
// Throws UsageError listing the valid names.
const AttackInfo& find_attack(const std::string& name);

// Per-batch mean loss that the attack ascends (logits [N, K], labels/targets int64 [N]).
torch::Tensor attack_objective(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& targets,
                               const AttackConfig& config);
// Per-sample success: argmax != label (untargeted) or argmax == target (targeted).
torch::Tensor attack_success(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& targets,
                             bool targeted);

// Random start deltas, one generator per sample: Linf U(-eps,eps); L2 uniform in the ball. float [N, ...] on `device`.
torch::Tensor random_start_delta(Norm norm, double eps, const std::vector<int64_t>& shape,
                                 const std::vector<uint64_t>& sample_seeds, uint64_t restart, torch::Device device);

// Attack targets from clean logits: "least-likely" (argmin) or "random" (uniform over classes != label,
// drawn per sample from sample_seeds).
torch::Tensor least_likely_targets(const torch::Tensor& clean_logits);
torch::Tensor random_targets(const torch::Tensor& labels, int64_t num_classes, const std::vector<uint64_t>& sample_seeds);

// The PGD loop shared by pgd and pgd-l2 (norm from the caller).
AttackOutput pgd_loop(Norm norm, const Model& model, const torch::Tensor& x, const torch::Tensor& labels,
                      const torch::Tensor& targets, const AttackConfig& config, const std::vector<uint64_t>& sample_seeds);

}  // namespace questbench
