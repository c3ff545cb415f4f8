// The configured form shared by the gradient-based attacks (fgsm, pgd, pgd-l2): their typed options, read from
// a spec, and the mapping onto the AttackConfig their computations take. Each attack's factory says which
// options it has; the spec text lists exactly those, in a fixed order.
#pragma once

#include "attacks/attack.h"

namespace questbench {

struct GradientOptions {
  int steps = 1, restarts = 1;
  Fraction alpha;            // Linf: absolute step; L2: step relative to eps (kind below)
  bool alpha_relative = false;
  bool random_start = false, early_stop = true;
  LossKind loss = LossKind::CrossEntropy;
};

// Which options a member of the family takes (those it does not take keep the values a single step implies).
struct GradientOptionSet {
  bool steps = false, alpha = false, rel_alpha = false, restarts = false, random_start = false;
};

// Reads `spec` with `defaults` for the options in `set` (loss and early_stop always) and configures `info`'s attack.
std::unique_ptr<Attack> make_gradient_attack(const AttackInfo& info, const GradientOptionSet& set, const AttackSpec& spec,
                                             const AttackDefaults& defaults);

}  // namespace questbench
