// Cascades (AutoAttack, Croce & Hein 2020): stages run one after the other, each only on the points that every
// earlier stage left robust; a point counts as broken by the first stage that breaks it (the per-point worst
// case over the stages), and keeps that stage's adversarial image.
//
//   autoattack        APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5000 queries): the standard version
//   autoattack-plus   APGD-CE and APGD-DLR (5 restarts), FAB (5 restarts), Square, APGD-T, FAB-T
//   autoattack-rand   APGD-CE and APGD-DLR with 20 EOT iterations each, for randomized models
//
// Each takes `norm=linf|l2`. The stage parameters are the original's (autoattack.py set_version).
#pragma once

#include "attacks/attack.h"

#include <memory>
#include <string>
#include <vector>

namespace questbench {

// The stage specs of a registered cascade at a norm ("linf" | "l2").
std::vector<std::string> cascade_stage_specs(const std::string& cascade_name, const std::string& norm);

// A cascade of already configured attacks (all of one norm), named `name`, whose spec is `spec`. Used by the
// table's cascades and by tests that chain other attacks.
std::unique_ptr<Attack> make_cascade(const std::string& name, const std::string& spec, std::vector<std::unique_ptr<Attack>> stages);

}  // namespace questbench
