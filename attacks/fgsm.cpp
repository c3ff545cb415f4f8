// FGSM (Goodfellow et al. 2015), Linf: x_adv = clamp(x + eps·sign(∇x loss), 0, 1). One gradient
// evaluation; no random start. Same formula as torchattacks.FGSM (bit-identical for one call on the same batch).
#include "attacks/attack.h"
#include "attacks/gradient_attack.h"

#include <torch/torch.h>

namespace questbench {

AttackOutput run_fgsm(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor& targets,
                      const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  torch::AutoGradMode grad_mode(true);  // attacks need input gradients even when called under NoGradGuard
  AttackOutput out;
  auto x0 = x.detach();
  auto xa = x0.clone().requires_grad_(true);
  auto logits = model.logits(xa);
  auto loss = attack_objective(logits, labels, targets, config);
  auto grad = torch::autograd::grad({loss}, {xa})[0];
  out.gradient_evaluations = 1;
  out.forwards = out.backwards = x0.size(0);
  out.zero_gradient_fraction = (grad.flatten(1).abs().amax(1) == 0).to(torch::kDouble).mean().item<double>();
  note_non_finite_gradient(out, grad, x0.size(0));
  torch::NoGradGuard no_grad;
  auto clean_broken = attack_success(logits.detach(), labels, targets, config.targeted);
  auto adv = torch::clamp(x0 + config.eps * grad.sign(), 0.0, 1.0);
  torch::Tensor adv_broken = torch::zeros_like(clean_broken);
  if (config.check_final) {
    adv_broken = attack_success(model.logits(adv), labels, targets, config.targeted);
    out.forward_evaluations = 1;
    out.forwards += x0.size(0);
  }
  // Early stop: a sample already misclassified at x keeps x (the first iterate that breaks it).
  if (config.early_stop) {
    out.x_adv = torch::where(clean_broken.view({-1, 1, 1, 1}), x0, adv);
    out.broken = clean_broken | adv_broken;
  } else {
    out.x_adv = adv;
    out.broken = adv_broken;
  }
  return out;
}

// Options: loss, early_stop (the step is the whole radius, no random start).
std::unique_ptr<Attack> make_fgsm(const AttackSpec& spec, const AttackDefaults& defaults) {
  return make_gradient_attack(find_attack("fgsm"), {}, spec, defaults);
}

}  // namespace questbench
