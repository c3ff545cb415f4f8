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
AttackOutput run_square(const Model&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const AttackConfig&,
                        const std::vector<uint64_t>&);
std::unique_ptr<Attack> make_fgsm(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_pgd_linf(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_pgd_l2(const AttackSpec&, const AttackDefaults&);
std::unique_ptr<Attack> make_square(const AttackSpec&, const AttackDefaults&);

const std::vector<AttackInfo>& attack_table() {
  static const std::vector<AttackInfo> table = {
      // name      norm        iterative targeted gradients queries randomized
      {"fgsm", {Norm::Linf, false, true, true, false, false}, "FGSM, one signed-gradient step of size eps", run_fgsm, make_fgsm},
      {"pgd", {Norm::Linf, true, true, true, false, true}, "PGD-Linf: signed steps, projection onto the Linf ball", run_pgd_linf,
       make_pgd_linf},
      {"pgd-l2", {Norm::L2, true, true, true, false, true}, "PGD-L2: normalized-gradient steps, projection onto the L2 ball",
       run_pgd_l2, make_pgd_l2},
      // norm follows the spec's norm option (this row: the default, linf); run = Linf with config.steps queries.
      {"square", {Norm::Linf, true, false, false, true, true},
       "Square Attack (AutoAttack): score-based random search over square updates, Linf or L2", run_square, make_square},
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
