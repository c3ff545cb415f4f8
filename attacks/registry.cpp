// The attack table: one row per attack. Adding an attack = one file + one row here.
#include "attacks/attack.h"

#include "common/error.h"

namespace questbench {

AttackOutput run_fgsm(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                      const std::vector<uint64_t>&);
AttackOutput run_pgd_linf(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                          const AttackConfig&, const std::vector<uint64_t>&);
AttackOutput run_pgd_l2(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                        const std::vector<uint64_t>&);
AttackOutput run_apgd_ce(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                         const std::vector<uint64_t>&);
AttackOutput run_apgd_dlr(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                          const std::vector<uint64_t>&);
AttackOutput run_apgd_t(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                        const std::vector<uint64_t>&);
AttackOutput run_square(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                        const std::vector<uint64_t>&);
AttackOutput run_fab(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                     const std::vector<uint64_t>&);
AttackOutput run_fab_t(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                       const std::vector<uint64_t>&);
std::unique_ptr<Attack> make_fab(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_fab_t(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_fgsm(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_pgd_linf(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_pgd_l2(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_autoattack(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_apgd_ce(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_apgd_dlr(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_apgd_t(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_square(const AttackSpec&, const AttackDefaults&);

const std::vector<AttackInfo>& attack_table() {
  static const std::vector<AttackInfo> table = {
      // name      norm        iterative targeted gradients queries randomized
      {"fgsm", {Norm::Linf, false, true, true, false, false}, "FGSM, one signed-gradient step of size eps", run_fgsm, make_fgsm},
      {"pgd", {Norm::Linf, true, true, true, false, true}, "PGD-Linf: signed steps, projection onto the Linf ball", run_pgd_linf,
       make_pgd_linf},
      {"pgd-l2", {Norm::L2, true, true, true, false, true}, "PGD-L2: normalized-gradient steps, projection onto the L2 ball",
       run_pgd_l2, make_pgd_l2},
      // AutoAttack's APGD: the norm follows the spec's norm option (the row says Linf, its default).
      {"apgd-ce", {Norm::Linf, true, false, true, false, true}, "APGD-CE: step-size-adaptive PGD with momentum on the cross-entropy",
       run_apgd_ce, make_apgd_ce},
      {"apgd-dlr", {Norm::Linf, true, false, true, false, true}, "APGD-DLR: APGD on the scale-invariant DLR margin loss",
       run_apgd_dlr, make_apgd_dlr},
      {"apgd-t", {Norm::Linf, true, false, true, false, true},
       "APGD-T: APGD on the targeted DLR loss, one run per target among the top clean logits", run_apgd_t, make_apgd_t},
      // FAB: minimal-norm boundary attack (AutoAttack's FABAttack_PT); the row's norm is the default, an instance
      // reports the norm its spec chose. FAB-T picks its own targets from the clean logits.
      {"fab", {Norm::Linf, true, false, true, false, true}, "FAB: minimal-norm adaptive boundary attack, untargeted", run_fab,
       make_fab},
      {"fab-t", {Norm::Linf, true, false, true, false, true},
       "FAB-T: FAB towards each of the top-`targets` other classes of the clean logits (AutoAttack)", run_fab_t, make_fab_t},
      // norm follows the spec's norm option (this row: the default, linf); run = Linf with config.steps queries.
      {"square", {Norm::Linf, true, false, false, true, true},
       "Square Attack (AutoAttack): score-based random search over square updates, Linf or L2", run_square, make_square},
      {"autoattack", {Norm::Linf, true, false, true, true, true},
       "AutoAttack, standard version: APGD-CE, APGD-T, FAB-T, Square, each on the points still robust", nullptr, make_autoattack},
      {"autoattack-plus", {Norm::Linf, true, false, true, true, true},
       "AutoAttack+: APGD-CE, APGD-DLR, FAB (5 restarts), Square, APGD-T, FAB-T", nullptr, make_autoattack},
      {"autoattack-rand", {Norm::Linf, true, false, true, false, true},
       "AutoAttack for randomized models: APGD-CE and APGD-DLR with 20 EOT iterations", nullptr, make_autoattack},
  };
  return table;
}

const AttackInfo& find_attack(const std::string& name) {
  std::string valid;
  for (const auto& a : attack_table()) {
    if (a.name == name) return a;
    valid += (valid.empty() ? "" : ", ") + a.name;
  }
  throw UsageError("attack '" + name + "': unknown (valid: " + valid + ")");
}

std::unique_ptr<Attack> make_attack(const std::string& spec_text, const AttackDefaults& defaults) {
  const auto spec = parse_attack_spec(spec_text);
  return find_attack(spec.name).make(spec, defaults);
}

}  // namespace questbench
