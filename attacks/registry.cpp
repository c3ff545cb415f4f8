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

const std::vector<AttackInfo>& attack_table() {
  static const std::vector<AttackInfo> table = {
      {"fgsm", Norm::Linf, false, true, "FGSM, one signed-gradient step of size eps", run_fgsm},
      {"pgd", Norm::Linf, true, true, "PGD-Linf: signed steps, projection onto the Linf ball", run_pgd_linf},
      {"pgd-l2", Norm::L2, true, true, "PGD-L2: normalized-gradient steps, projection onto the L2 ball", run_pgd_l2},
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

}  // namespace questbench
