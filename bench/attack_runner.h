// The adversarial sweep: models x attacks x eps over the same samples, with AutoAttack-style robust
// accuracy (clean-correct and never broken), worst case over attacks, built-in sanity checks,
// per-cell journaling for --resume, and optional saving of adversarial examples as float32 .npy.
#pragma once

#include "attacks/attack.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "reports/report.h"

#include <functional>
#include <string>
#include <vector>

namespace questbench {

struct EpsValue {
  double value = 0;
  std::string text;  // as written: "8/255", "0.5"
};

// Parses "0,1/255,2/255,0.03": fractions or decimals, each in [0, 1]; throws UsageError naming the bad item.
std::vector<EpsValue> parse_eps_list(const std::string& text, const std::string& option, double max_value);

struct AttackSweepOptions {
  std::vector<std::string> attacks = {"fgsm", "pgd"};
  std::vector<EpsValue> eps_linf, eps_l2;
  int steps = 10;
  double alpha_linf = 2.0 / 255.0;  // absolute step for Linf attacks
  double rel_alpha_l2 = 0.2;        // L2 step = rel_alpha_l2 * eps (torchattacks: 0.2 at eps 1.0)
  int restarts = 1;
  bool random_start = true;
  bool early_stop = true;
  LossKind loss = LossKind::CrossEntropy;
  std::string targeted;            // "" | "least-likely" | "random" | path to an int64 targets .npy
  uint64_t seed = 0;
  int64_t batch_size = 256;
  int64_t count = 0;               // evaluated samples: [0, count)
  bool sanity_checks = true;       // runs the extra probes (large eps, doubled steps)
  std::string save_adv_dir;
  std::string journal_path;        // "" disables journaling
  bool resume = false;
};

// Runs the sweep. `progress` receives one-line status updates.
AttackReport run_attack_sweep(const std::vector<Model>& models, const Dataset& dataset, const AttackSweepOptions& options,
                              const std::function<void(const std::string&)>& progress);

// The sanity checks over finished cells (exposed for tests).
std::vector<SanityCheck> check_attack_cells(const std::string& model, const CleanResult& clean,
                                            const std::vector<AttackCell>& cells);

// Per-sample seed from (run seed, sample index, attack, eps).
uint64_t attack_sample_seed(uint64_t run_seed, int64_t sample, const std::string& attack, double eps);

}  // namespace questbench
