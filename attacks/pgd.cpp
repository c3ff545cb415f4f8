// PGD (Madry et al. 2018): projected gradient ascent in the Linf or L2 ball, with random start,
// restarts and per-sample early stop. Formulas follow torchattacks 3.5.1 PGD / PGDL2 (see attack.h).
#include "attacks/attack.h"
#include "attacks/gradient_attack.h"

#include "common/error.h"

#include <torch/torch.h>

namespace questbench {

AttackOutput pgd_loop(Norm norm, const Model& model, const torch::Tensor& x, const torch::Tensor& labels,
                      const torch::Tensor& targets, const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  torch::AutoGradMode grad_mode(true);  // attacks need input gradients even when called under NoGradGuard
  const auto x0 = x.detach();
  const auto view = std::vector<int64_t>{-1, 1, 1, 1};
  AttackOutput out;
  torch::Tensor kept = x0.clone();                                         // the returned iterate per sample
  torch::Tensor broken = torch::zeros({x0.size(0)}, torch::TensorOptions().dtype(torch::kBool).device(x0.device()));
  auto keep_new = [&](const torch::Tensor& iterate, const torch::Tensor& logits) {
    auto newly = attack_success(logits, labels, targets, config.targeted) & ~broken;
    auto index = newly.nonzero().view({-1});
    if (index.numel() == 0) return;  // most steps break no new sample: skip the image-sized copy
    kept.index_copy_(0, index, iterate.index_select(0, index));
    broken = broken | newly;
  };
  const int restarts = std::max(1, config.restarts);
  for (int restart = 0; restart < restarts; ++restart) {
    // One image-sized buffer per restart, updated in place by every step (a fresh tensor per step costs its
    // page faults on every step).
    torch::Tensor adv;
    if (config.random_start) {
      torch::NoGradGuard no_grad;
      adv = torch::clamp(x0 + random_start_delta(norm, config.eps, x0.sizes().vec(), sample_seeds, restart, x0.device()), 0.0, 1.0);
    } else {
      adv = x0.clone();
    }
    for (int step = 0; step < config.steps; ++step) {
      auto xa = adv.detach().requires_grad_(true);
      auto logits = model.logits(xa);
      auto loss = attack_objective(logits, labels, targets, config);
      auto grad = torch::autograd::grad({loss}, {xa})[0];
      ++out.gradient_evaluations;
      out.forwards += x0.size(0);
      out.backwards += x0.size(0);
      torch::NoGradGuard no_grad;
      if (restart == 0 && step == 0)
        out.zero_gradient_fraction = (grad.flatten(1).abs().amax(1) == 0).to(torch::kDouble).mean().item<double>();
      note_non_finite_gradient(out, grad, x0.size(0));
      if (config.early_stop) keep_new(xa.detach(), logits.detach());
      if (norm == Norm::Linf) {
        // torchattacks' order exactly: x + alpha·sign(g), delta clamped to [-eps, eps], x0 + delta clamped to
        // [0, 1] (in place, one buffer). A fused clamp to [max(x0 - eps, 0), min(x0 + eps, 1)] differs by one float32
        // rounding of x0 + (x - x0), enough to flip a later gradient sign and break bit-level conformance.
        // xa aliases adv's buffer; the graph that used it is already released.
        adv = xa.detach();
        adv.add_(grad.sign_(), config.alpha).sub_(x0).clamp_(-config.eps, config.eps).add_(x0).clamp_(0.0, 1.0);
      } else {
        auto grad_norm = grad.flatten(1).norm(2, 1) + 1e-10;
        adv = xa.detach() + config.alpha * (grad / grad_norm.view(view));
        auto delta = adv - x0;
        auto delta_norm = delta.flatten(1).norm(2, 1);
        // torchattacks' factor min(eps/‖delta‖, 1); a zero delta (eps = 0 or alpha = 0) stays zero.
        auto factor = torch::where(delta_norm > 0, torch::clamp_max(config.eps / delta_norm, 1.0), torch::ones_like(delta_norm));
        adv = torch::clamp(x0 + delta * factor.view(view), 0.0, 1.0);
      }
    }
    torch::NoGradGuard no_grad;
    if (!config.check_final && restart + 1 == restarts) {
      // The caller re-checks x_adv: return the kept iterate where broken, else the final one.
      kept = torch::where(broken.view(view), kept, adv);
      break;
    }
    auto final_logits = model.logits(adv);
    ++out.forward_evaluations;
    out.forwards += x0.size(0);
    if (config.early_stop) {
      keep_new(adv, final_logits);
      kept = torch::where(broken.view(view), kept, adv);  // unbroken samples return the final iterate
    } else {
      // Final iterate only (torchattacks); across restarts keep a successful final iterate.
      auto success = attack_success(final_logits, labels, targets, config.targeted);
      auto newly = success & ~broken;
      kept = restart == 0 ? adv : torch::where(newly.view(view) | ~broken.view(view), adv, kept);
      broken = broken | success;
    }
  }
  out.x_adv = kept;
  out.broken = broken;
  return out;
}

AttackOutput run_pgd_linf(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor& targets,
                          const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  return pgd_loop(Norm::Linf, model, x, labels, targets, config, sample_seeds);
}

AttackOutput run_pgd_l2(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor& targets,
                        const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  return pgd_loop(Norm::L2, model, x, labels, targets, config, sample_seeds);
}

// Options: steps, alpha (absolute), restarts, random_start, loss, early_stop.
std::unique_ptr<Attack> make_pgd_linf(const AttackSpec& spec, const AttackDefaults& defaults) {
  return make_gradient_attack(find_attack("pgd"), {true, true, false, true, true}, spec, defaults);
}

// Options: steps, rel_alpha (step relative to eps), restarts, random_start, loss, early_stop.
std::unique_ptr<Attack> make_pgd_l2(const AttackSpec& spec, const AttackDefaults& defaults) {
  return make_gradient_attack(find_attack("pgd-l2"), {true, false, true, true, true}, spec, defaults);
}

}  // namespace questbench
