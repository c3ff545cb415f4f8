// The adversarial sweep: models x attack specs x eps over one sample range, with AutoAttack-style robust
// accuracy (clean-correct and never broken), the worst case over attacks, built-in sanity checks, per-cell
// journaling for --resume, and optional saving of adversarial examples as float32 .npy.
#pragma once

#include "attacks/attack.h"
#include "bench/engine.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "reports/report.h"

#include <string>
#include <vector>

namespace questbench {

// Parses "0,1/255,2/255,0.03": fractions or decimals in [0, max_value], none twice; throws UsageError naming the
// bad item.
std::vector<Fraction> parse_eps_list(const std::string& text, const std::string& option, double max_value);

struct AttackSweepOptions {
  std::vector<std::string> attacks = {"fgsm", "pgd"};  // specs, e.g. "pgd:steps=20,alpha=1/255"
  AttackDefaults defaults;                              // options the specs leave out
  std::vector<Fraction> eps_linf, eps_l2;               // radii per norm (each attack runs those of its norm)
  std::string targeted;            // "" | "least-likely" | "random" | path to an int64 targets .npy
  uint64_t seed = 0;
  RngMode rng = RngMode::PerSample;  // original: draw as the original AutoAttack does (conformance runs)
  int64_t batch_size = 256;
  SampleRange range;               // the evaluated samples
  SampleRange plan;                // the whole run's samples when `range` is a shard of it (empty: `range`)
  SampleRange plan_range() const { return plan.size() > 0 ? plan : range; }
  bool sanity_checks = true;       // runs the extra probes (large eps, doubled iterations)
  std::string save_adv_dir;
  std::string journal_path;        // "" disables journaling
  bool resume = false;
  // Per-layer attention diagnostics on the clean images and on each cell's adversarial examples, from the
  // forward pass that re-checks them (native ViT models only).
  bool diagnostics = false;
};

AttackReport run_attack_sweep(const std::vector<Model>& models, const Dataset& dataset, const AttackSweepOptions& options,
                              Reporter& reporter);

// The per-model checks over finished cells (exposed for tests): eps 0 equals clean, perturbations within eps,
// robustness monotone in eps, iterative attacks not weaker than single-step ones, no all-zero gradients.
std::vector<SanityCheck> check_attack_cells(const std::string& model, const CleanResult& clean,
                                            const std::vector<AttackCell>& cells);
// Everything that determines a sweep's results except the sample range it covers (and with the plan's range
// and batch size): the parts of one plan, and only those, share it.
std::string attack_plan_fingerprint(const std::vector<Model>& models, const Dataset& dataset, const AttackSweepOptions& options);

// The probes that attack again (a large radius must reach chance; doubling an iterative attack's iterations
// must not move robust accuracy by a point). They look at the plan's first probe_samples(plan) samples: `clean`
// and the cells' masks are indexed from the plan's first sample and cover those. The first shard of a split run
// runs them; `is_probe_check` tells their checks from the per-cell ones (which a merge recomputes).
int64_t probe_samples(const SampleRange& plan);
bool is_probe_check(const std::string& name);
const Attack* doubling_probe_attack(const std::vector<std::unique_ptr<Attack>>& attacks);
const AttackCell* doubling_probe_cell(const Attack* attack, const std::vector<AttackCell>& cells);
std::vector<SanityCheck> attack_probes(const Model& model, const Dataset& dataset, const CleanResult& clean,
                                       const std::vector<AttackCell>& cells, const std::vector<std::unique_ptr<Attack>>& attacks,
                                       const AttackSweepOptions& options);

// The worst case over attacks per model, norm and eps: robust only if robust under every attack there.
std::vector<WorstCaseCell> worst_case_cells(const std::vector<AttackCell>& cells);

}  // namespace questbench
