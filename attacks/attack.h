// Attack engines over one interface. Every attack works in pixel space: x is float [N, C, H, W] in [0,1]
// (normalization happens inside the Model), the model is in eval mode and never gets parameter gradients.
//
//   auto attack = make_attack("pgd:steps=10,alpha=2/255");     // a spec: the attack and its own options
//   AttackOutput out = attack->run(model, {x, labels, targets, seeds}, 8.0 / 255, true);
//
// Adding an attack: one file with its computation and factory, one row in registry.cpp.
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

#include "attacks/spec.h"
#include "models/model.h"

#include <torch/types.h>

#include <cstdint>
#include <memory>
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
  // Model passes counted per sample (a forward over 7 images counts 7), comparable across attacks that work on
  // shrinking subsets. Backward passes are input-gradient computations (each includes its forward, counted in
  // `forwards` too).
  int64_t forwards = 0, backwards = 0;
  // bool [N] (undefined until a gradient is noted): some input gradient of the sample held NaN or Inf. Noted
  // because LibTorch's sign(NaN) is 0: such a sample would otherwise just stop moving and look robust.
  torch::Tensor non_finite_gradient;
};

// Notes in out.non_finite_gradient the samples whose gradient rows hold NaN or Inf. `grad`'s first dimension
// indexes `rows` (the samples' positions in the attack's batch of `batch_size`); undefined `rows`: all of them.
void note_non_finite_gradient(AttackOutput& out, const torch::Tensor& grad, int64_t batch_size, const torch::Tensor& rows = {});

// The computation of the gradient-based family (fgsm, pgd, pgd-l2) on explicit options.
using AttackFunction = AttackOutput (*)(const Model& model, const torch::Tensor& x, const torch::Tensor& labels,
                                        const torch::Tensor& targets, const AttackConfig& config,
                                        const std::vector<uint64_t>& sample_seeds);

// What an attack can do, as data: the runner and the sanity checks read this, never an attack's name.
struct AttackCapabilities {
  Norm norm = Norm::Linf;        // the threat model it works in
  bool iterative = false;        // several gradient steps: more iterations make it stronger
  bool targeted = false;         // has a targeted mode
  bool needs_gradients = true;   // white-box: input gradients
  bool query_based = false;      // black-box: model scores only
  bool randomized = false;       // draws from the per-sample seeds (random starts)
  int min_classes = 2;           // the fewest classes it works with (DLR losses and target counts need more)
};

// Values for the options a spec leaves out: the command line's --steps, --alpha, --restarts, ... flags.
struct AttackDefaults {
  int steps = 10;
  Fraction alpha_linf{2.0 / 255.0, "2/255"};  // absolute Linf step
  Fraction rel_alpha_l2{0.2, "0.2"};           // L2 step relative to eps (torchattacks: 0.2 at eps 1.0)
  int restarts = 1;
  bool random_start = true;
  bool early_stop = true;
  LossKind loss = LossKind::CrossEntropy;
};

// The common hyper-parameters a report records for a configured attack at one eps.
struct AttackSettings {
  int steps = 0, restarts = 0;
  double alpha = 0;
  bool random_start = false, early_stop = false;
  LossKind loss = LossKind::CrossEntropy;
};

// Where an attack's random numbers come from.
enum class RngMode {
  // Each sample draws from its own streams, seeded from AttackBatch::seeds (see attacks/sample_streams.h):
  // a sample's result does not depend on which samples share its batch. The default.
  PerSample,
  // As the original implementation draws (AutoAttack): torch's global generator, seeded with
  // AttackBatch::run_seed when the attack starts, draws shaped like the batch (or the subset the original
  // works on). Same batch composition and the same ATen calls give the same numbers; for conformance runs.
  Original,
};
std::string rng_mode_name(RngMode mode);           // "per-sample" | "original"
RngMode parse_rng_mode(const std::string& text);   // throws UsageError

// One batch to attack: targets undefined for an untargeted attack; one seed per sample (see common/seed.h).
struct AttackBatch {
  torch::Tensor x, labels, targets;
  std::vector<uint64_t> seeds;
  RngMode rng = RngMode::PerSample;
  uint64_t run_seed = 0;  // the seed RngMode::Original reseeds torch's generator with
};

// An attack with its own options bound (made from a spec by make_attack).
class Attack {
 public:
  virtual ~Attack() = default;
  // The canonical spec: make_attack(spec()) configures an identical attack.
  virtual std::string spec() const = 0;
  virtual const AttackCapabilities& capabilities() const = 0;
  virtual AttackSettings settings(double eps) const = 0;
  // Attacks the batch at radius eps. check_final false: the caller re-checks predictions at x_adv itself, so the
  // attack may skip its last forward pass (`broken` then covers every iterate but the last one).
  virtual AttackOutput run(const Model& model, const AttackBatch& batch, double eps, bool check_final) const = 0;
  // The same attack with twice the iterations; null for attacks without iterations.
  virtual std::unique_ptr<Attack> with_doubled_iterations() const { return nullptr; }
  // A cascade's stages in order (attacks/cascade.h); empty for a single attack. The sweep runs a cascade stage
  // by stage over its whole sample range, as the original AutoAttack does, and journals each stage.
  virtual std::vector<const Attack*> stages() const { return {}; }
};

using AttackFactory = std::unique_ptr<Attack> (*)(const AttackSpec& spec, const AttackDefaults& defaults);

// One row of the attack table.
struct AttackInfo {
  std::string name;  // "fgsm" | "pgd" | "pgd-l2"
  AttackCapabilities capabilities;
  std::string description;
  AttackFunction run;  // the computation on explicit options (tests, benchmarks)
  AttackFactory make;  // the configured attack from a spec
};

const std::vector<AttackInfo>& attack_table();
// Throws UsageError listing the valid names.
const AttackInfo& find_attack(const std::string& name);
// Parses a spec ("pgd:steps=20,alpha=1/255") and configures the attack; options it leaves out come from
// `defaults`. Throws UsageError naming the spec's problem.
std::unique_ptr<Attack> make_attack(const std::string& spec, const AttackDefaults& defaults = {});

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
