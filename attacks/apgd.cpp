// APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks"): projected gradient ascent with momentum and a step size that halves on a schedule of
// checkpoints whenever the loss stalls. Three rows of the table:
//   apgd-ce   untargeted, cross-entropy loss
//   apgd-dlr  untargeted, DLR loss (difference of logits ratio: scale-invariant margin)
//   apgd-t    targeted DLR loss, one full run per target class (2nd..(targets+1)-th highest clean logit), each on
//             the points no earlier run has broken
// The computation follows AutoAttack's autopgd_base.py (fra31/auto-attack @ a392200) operation by operation,
// because float32 rounding decides gradient signs and so, after 100 steps, which points break: with
// RngMode::Original and the same batch the random starts are the same numbers, and on the same CPU and thread
// count the iterates are the same bits (see attacks/README.md for what was measured).
#include "attacks/attack.h"
#include "attacks/sample_streams.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <tuple>

namespace questbench {
// A named namespace: the attacks library is a unity build, where anonymous-namespace helpers of different files meet.
namespace apgd_detail {

using torch::indexing::Slice;

enum class ApgdLoss { CrossEntropy, Dlr, TargetedDlr };

struct ApgdOptions {
  ApgdLoss loss = ApgdLoss::CrossEntropy;
  Norm norm = Norm::Linf;
  int steps = 100, restarts = 1, eot = 1;
  Fraction rho{0.75, "0.75"};
  int targets = 9;  // apgd-t only
};

const char* attack_name(ApgdLoss loss) {
  switch (loss) {
    case ApgdLoss::CrossEntropy: return "apgd-ce";
    case ApgdLoss::Dlr: return "apgd-dlr";
    case ApgdLoss::TargetedDlr: return "apgd-t";
  }
  return "apgd";
}

std::string norm_option(Norm norm) { return norm == Norm::Linf ? "linf" : "l2"; }

// Index of the highest logit per row, with max()'s tie rule (the original uses .max(1)[1]).
torch::Tensor top_class(const torch::Tensor& logits) { return std::get<1>(logits.max(1)); }

// Per-sample losses, the terms in the original's order (autograd then accumulates the same partial gradients
// in the same order).
torch::Tensor per_sample_loss(ApgdLoss kind, const torch::Tensor& logits, const torch::Tensor& y,
                              const torch::Tensor& y_target) {
  if (kind == ApgdLoss::CrossEntropy) return at::cross_entropy_loss(logits, y, {}, at::Reduction::None);
  torch::Tensor sorted, order;
  std::tie(sorted, order) = logits.sort(1);
  const auto rows = torch::arange(logits.size(0), torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
  const auto own = logits.index({rows, y});
  if (kind == ApgdLoss::Dlr) {
    // The margin to the best other class, over the gap between the top and the third logit.
    const auto top_is_label = (order.index({Slice(), -1}) == y).to(torch::kFloat);
    const auto margin =
        own - sorted.index({Slice(), -2}) * top_is_label - sorted.index({Slice(), -1}) * (1. - top_is_label);
    return -margin / (sorted.index({Slice(), -1}) - sorted.index({Slice(), -3}) + 1e-12);
  }
  // Targeted: the margin to the target class, over the gap between the top logit and the mean of the 3rd and 4th.
  const auto margin = own - logits.index({rows, y_target});
  return -margin / (sorted.index({Slice(), -1}) - .5 * (sorted.index({Slice(), -3}) + sorted.index({Slice(), -4})) + 1e-12);
}

// Per-sample division by the norm (+1e-12), as the original's normalize().
torch::Tensor normalized(Norm norm, const torch::Tensor& v) {
  const auto flat = v.view({v.size(0), -1});
  const auto size = norm == Norm::Linf ? std::get<0>(flat.abs().max(1)) : flat.pow(2).sum(-1).sqrt();
  return v / (size.view({-1, 1, 1, 1}) + 1e-12);
}

torch::Tensor l2_norm_keepdim(const torch::Tensor& v) {
  return v.pow(2).view({v.size(0), -1}).sum(-1).sqrt().view({-1, 1, 1, 1});
}

// x + the step projected back: onto the L2 ball around x (radius eps), then into [0,1].
torch::Tensor project_l2(const torch::Tensor& x, const torch::Tensor& point, double eps) {
  return torch::clamp(x + normalized(Norm::L2, point - x) * torch::min(eps * torch::ones_like(x), l2_norm_keepdim(point - x)),
                      0.0, 1.0);
}

struct SingleRunResult {
  torch::Tensor still_correct;  // bool [n]: no iterate was misclassified
  torch::Tensor x_best_adv;     // the last misclassified iterate per sample (the start where none was)
};

class ApgdRun {
 public:
  ApgdRun(const Model& model, const ApgdOptions& o, double eps, AttackOutput& out) : model_(model), o_(o), eps_(eps), out_(out) {}
  // The batch positions of the subset the next run attacks (for noting non-finite gradients), of a batch of n.
  void set_rows(const torch::Tensor& rows, int64_t batch_size) {
    rows_ = rows;
    batch_size_ = batch_size;
  }

  // One APGD run on the subset (x, y) from the start drawn as `noise` (U[0,1) for Linf, N(0,1) for L2, shaped
  // like x). y_target: the target classes for the targeted loss.
  SingleRunResult run(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& y_target, const torch::Tensor& noise,
                      bool first_run) {
    const int64_t n = x.size(0);
    const int n_iter = o_.steps;
    // Checkpoint schedule: the first after 22 % of the steps, then ever shorter (by 3 %) down to 6 %.
    const int first_checkpoint = std::max(static_cast<int>(0.22 * n_iter), 1);
    const int min_checkpoint = std::max(static_cast<int>(0.06 * n_iter), 1);
    const int checkpoint_decrease = std::max(static_cast<int>(0.03 * n_iter), 1);

    torch::Tensor x_adv;
    {
      torch::NoGradGuard no_grad;
      const auto t = o_.norm == Norm::Linf ? 2 * noise - 1 : noise;
      x_adv = (x + eps_ * torch::ones_like(x) * normalized(o_.norm, t)).clamp(0., 1.);
    }
    auto x_best = x_adv.clone();
    auto x_best_adv = x_adv.clone();
    const auto float_opts = torch::TensorOptions().dtype(torch::kFloat).device(x.device());
    auto loss_steps = torch::zeros({n_iter, n}, float_opts);

    torch::Tensor logits, loss_each;
    auto grad = gradient(x_adv, y, y_target, logits, loss_each);
    auto grad_best = grad.clone();
    if (first_run && n > 0) {
      out_.zero_gradient_fraction =
          (grad.view({n, -1}).abs().sum(-1) == 0).to(torch::kDouble).mean().item<double>();
    }

    torch::NoGradGuard no_grad;
    auto still_correct = top_class(logits.detach()) == y;
    auto loss_best = loss_each.detach().clone();

    const double step_scale = 2.;  // the initial step is twice the radius
    auto step_size = step_scale * eps_ * torch::ones({n, 1, 1, 1}, float_opts);
    auto x_adv_old = x_adv.clone();
    int checkpoint_length = first_checkpoint, since_checkpoint = 0;
    auto loss_best_last_check = loss_best.clone();
    auto reduced_last_check = torch::ones_like(loss_best);

    for (int i = 0; i < n_iter; ++i) {
      // The step: gradient step projected, then momentum (0.75 on the step, 0.25 on the previous move; none at
      // the first step), projected again.
      {
        x_adv = x_adv.detach();
        const auto previous_move = x_adv - x_adv_old;
        x_adv_old = x_adv.clone();
        const double a = i > 0 ? 0.75 : 1.0;
        torch::Tensor x_next;
        if (o_.norm == Norm::Linf) {
          x_next = x_adv + step_size * torch::sign(grad);
          x_next = torch::clamp(torch::min(torch::max(x_next, x - eps_), x + eps_), 0.0, 1.0);
          x_next = torch::clamp(torch::min(torch::max(x_adv + (x_next - x_adv) * a + previous_move * (1 - a), x - eps_), x + eps_),
                                0.0, 1.0);
        } else {
          x_next = x_adv + step_size * normalized(Norm::L2, grad);
          x_next = project_l2(x, x_next, eps_);
          x_next = x_adv + (x_next - x_adv) * a + previous_move * (1 - a);
          x_next = project_l2(x, x_next, eps_);
        }
        x_adv = x_next + 0.;
      }
      grad = gradient(x_adv, y, y_target, logits, loss_each);

      // Keep the latest misclassified iterate of every sample.
      const auto correct_now = top_class(logits.detach()) == y;
      still_correct = torch::min(still_correct, correct_now);
      const auto wrong_now = (correct_now == 0).nonzero().view({-1});
      x_best_adv.index_put_({wrong_now}, x_adv.index({wrong_now}) + 0.);

      // Keep the highest-loss iterate (and its gradient) to restart from when the step size shrinks.
      const auto loss_now = loss_each.detach().clone();
      loss_steps[i] = loss_now + 0;
      const auto improved = (loss_now > loss_best).nonzero().view({-1});
      x_best.index_put_({improved}, x_adv.index({improved}).clone());
      grad_best.index_put_({improved}, grad.index({improved}).clone());
      loss_best.index_put_({improved}, loss_now.index({improved}) + 0);

      if (++since_checkpoint == checkpoint_length) {
        // Halve the step (and go back to the best point) where the loss rose in at most rho of the steps since
        // the last checkpoint, or where the step was kept last time and the best loss has not improved since.
        auto reduce = oscillation(loss_steps, i, checkpoint_length);
        const auto stalled = (1. - reduced_last_check) * (loss_best_last_check >= loss_best).to(torch::kFloat);
        reduce = torch::max(reduce, stalled);
        reduced_last_check = reduce.clone();
        loss_best_last_check = loss_best.clone();
        if (reduce.sum().item<float>() > 0) {
          const auto rows = (reduce > 0).nonzero().view({-1});
          step_size.index_put_({rows}, step_size.index({rows}) / 2.0);
          x_adv.index_put_({rows}, x_best.index({rows}).clone());
          grad.index_put_({rows}, grad_best.index({rows}).clone());
        }
        checkpoint_length = std::max(checkpoint_length - checkpoint_decrease, min_checkpoint);
        since_checkpoint = 0;
      }
    }
    return {still_correct, x_best_adv};
  }

 private:
  // The input gradient of the summed per-sample loss, averaged over `eot` passes; logits and per-sample losses of
  // the last pass come back too.
  torch::Tensor gradient(const torch::Tensor& x_adv, const torch::Tensor& y, const torch::Tensor& y_target,
                         torch::Tensor& logits, torch::Tensor& loss_each) {
    const int64_t n = x_adv.size(0);
    auto grad = torch::zeros_like(x_adv);
    for (int pass = 0; pass < o_.eot; ++pass) {
      auto xa = x_adv.detach().requires_grad_(true);
      torch::AutoGradMode enable(true);
      logits = model_.logits(xa);
      loss_each = per_sample_loss(o_.loss, logits, y, y_target);
      auto g = torch::autograd::grad({loss_each.sum()}, {xa})[0].detach();
      torch::NoGradGuard no_grad;
      note_non_finite_gradient(out_, g, batch_size_, rows_);
      grad += g;
      ++out_.gradient_evaluations;
      out_.forwards += n;
      out_.backwards += n;
    }
    torch::NoGradGuard no_grad;
    grad /= static_cast<double>(o_.eot);
    logits = logits.detach();
    loss_each = loss_each.detach();
    return grad;
  }

  // 1 where the loss rose in at most rho·k of the last k steps. Step i - k reads row -1 (Python's wrap-around) at
  // the first checkpoint, as the original does: that row is still zero then.
  torch::Tensor oscillation(const torch::Tensor& loss_steps, int i, int k) const {
    const int64_t rows = loss_steps.size(0);
    auto t = torch::zeros({loss_steps.size(1)}, loss_steps.options());
    for (int c = 0; c < k; ++c) {
      int64_t later = i - c, earlier = i - c - 1;
      if (earlier < 0) earlier += rows;
      t += (loss_steps[later] > loss_steps[earlier]).to(torch::kFloat);
    }
    return (t <= k * o_.rho.value * torch::ones_like(t)).to(torch::kFloat);
  }

  const Model& model_;
  const ApgdOptions& o_;
  double eps_;
  AttackOutput& out_;
  torch::Tensor rows_;
  int64_t batch_size_ = 0;
};

// The whole attack (the original's perturb()): clean predictions, then runs on the still-correct subset.
AttackOutput apgd(const Model& model, const AttackBatch& batch, double eps, bool check_final, const ApgdOptions& o) {
  torch::AutoGradMode grad_mode(true);
  const auto x = batch.x.detach().to(torch::kFloat).clone();
  const auto y = batch.labels.detach().to(x.device(), torch::kLong);
  const int64_t n = x.size(0);
  const bool targeted = o.loss == ApgdLoss::TargetedDlr;
  const std::string name = attack_name(o.loss);
  AttackOutput out;
  torch::Tensor clean_logits;
  {
    torch::NoGradGuard no_grad;
    clean_logits = model.logits(x);
  }
  ++out.forward_evaluations;
  out.forwards += n;
  const int64_t classes = clean_logits.size(1);
  QB_USAGE_CHECK(!targeted || o.targets < classes,
                 name << " option targets=" << o.targets << ": must be below the model's class count " << classes);
  QB_USAGE_CHECK(o.loss == ApgdLoss::CrossEntropy || classes >= (targeted ? 4 : 3),
                 name << ": the DLR loss needs at least " << (targeted ? 4 : 3) << " classes, the model has " << classes);
  QB_CHECK(batch.rng == RngMode::Original || static_cast<int64_t>(batch.seeds.size()) == n,
           name << ": " << batch.seeds.size() << " seeds for " << n << " samples");

  auto adv = x.clone();
  auto still_correct = top_class(clean_logits) == y;
  if (batch.rng == RngMode::Original) torch::manual_seed(batch.run_seed);  // where perturb() reseeds

  ApgdRun runner(model, o, eps, out);
  const std::vector<int64_t> row_shape(x.sizes().begin() + 1, x.sizes().end());
  bool first_run = true;
  // Untargeted: one pass (target_rank unused); targeted: ranks 2..targets+1 of the sorted logits.
  const int first_rank = targeted ? 2 : 0, last_rank = targeted ? o.targets + 1 : 0;
  for (int rank = first_rank; rank <= last_rank; ++rank) {
    for (int restart = 0; restart < o.restarts; ++restart) {
      const auto to_fool = still_correct.nonzero().view({-1});
      if (to_fool.numel() == 0) continue;
      const auto x_to_fool = x.index({to_fool}).clone();
      const auto y_to_fool = y.index({to_fool}).clone();
      torch::Tensor y_target;
      if (targeted) {
        torch::NoGradGuard no_grad;
        const auto logits = model.logits(x_to_fool);
        ++out.forward_evaluations;
        out.forwards += x_to_fool.size(0);
        y_target = std::get<1>(logits.sort(1)).index({Slice(), -rank});
      }
      torch::Tensor noise;
      if (batch.rng == RngMode::Original) {
        noise = (o.norm == Norm::Linf ? torch::rand(x_to_fool.sizes()) : torch::randn(x_to_fool.sizes())).to(x.device());
      } else {
        // One stream per (sample, target rank, restart): a sample draws the same start whatever its batch.
        SampleStreams streams(batch.seeds, name, static_cast<uint64_t>(rank) * 65536 + static_cast<uint64_t>(restart));
        const auto rows = true_indices(still_correct);
        noise = o.norm == Norm::Linf ? streams.uniform(rows, row_shape, 0.0, 1.0, x.device())
                                     : streams.normal(rows, row_shape, x.device());
      }
      runner.set_rows(to_fool, n);
      const auto result = runner.run(x_to_fool, y_to_fool, y_target, noise, first_run);
      first_run = false;
      torch::NoGradGuard no_grad;
      const auto broken_here = (result.still_correct == 0).nonzero().view({-1});
      const auto broken_rows = to_fool.index({broken_here});
      still_correct.index_put_({broken_rows}, false);
      adv.index_put_({broken_rows}, result.x_best_adv.index({broken_here}).clone());
    }
  }
  out.x_adv = adv;
  if (check_final) {
    torch::NoGradGuard no_grad;
    out.broken = top_class(model.logits(adv)) != y;
    ++out.forward_evaluations;
    out.forwards += n;
  } else {
    out.broken = ~still_correct;
  }
  return out;
}

class ApgdAttack final : public Attack {
 public:
  explicit ApgdAttack(ApgdOptions o) : o_(std::move(o)) {
    caps_ = find_attack(attack_name(o_.loss)).capabilities;
    caps_.norm = o_.norm;
    // The DLR losses read the 3 (targeted: 4) largest logits; targets=k needs k classes besides the label.
    if (o_.loss == ApgdLoss::TargetedDlr) caps_.min_classes = std::max(4, o_.targets + 1);
    else if (o_.loss != ApgdLoss::CrossEntropy) caps_.min_classes = 3;
  }

  std::string spec() const override {
    std::vector<std::pair<std::string, std::string>> kv{{"norm", norm_option(o_.norm)},
                                                        {"steps", std::to_string(o_.steps)},
                                                        {"rho", o_.rho.text},
                                                        {"restarts", std::to_string(o_.restarts)},
                                                        {"eot", std::to_string(o_.eot)}};
    if (o_.loss == ApgdLoss::TargetedDlr) kv.emplace_back("targets", std::to_string(o_.targets));
    return format_attack_spec(attack_name(o_.loss), kv);
  }

  const AttackCapabilities& capabilities() const override { return caps_; }

  AttackSettings settings(double eps) const override {
    // alpha: the initial step (2·eps); DLR is a (scaled) logit margin.
    return {o_.steps, o_.restarts, 2.0 * eps, true, false,
            o_.loss == ApgdLoss::CrossEntropy ? LossKind::CrossEntropy : LossKind::Margin};
  }

  AttackOutput run(const Model& model, const AttackBatch& batch, double eps, bool check_final) const override {
    return apgd(model, batch, eps, check_final, o_);
  }

  std::unique_ptr<Attack> with_doubled_iterations() const override {
    auto doubled = o_;
    doubled.steps *= 2;
    return std::make_unique<ApgdAttack>(doubled);
  }

 private:
  ApgdOptions o_;
  AttackCapabilities caps_;
};

// Options: norm, steps, rho, restarts, eot (+ targets for apgd-t). AttackDefaults (the CLI's PGD flags) do not
// apply: the defaults are the original's standard version.
std::unique_ptr<Attack> make_apgd(ApgdLoss loss, const AttackSpec& spec) {
  SpecReader read(spec);
  ApgdOptions o;
  o.loss = loss;
  o.norm = read.choice("norm", "linf", {"linf", "l2"}) == "linf" ? Norm::Linf : Norm::L2;
  o.steps = read.integer("steps", 100, 1);
  o.rho = read.fraction("rho", {0.75, "0.75"}, 1.0);
  o.restarts = read.integer("restarts", 1, 1);
  o.eot = read.integer("eot", 1, 1);
  if (loss == ApgdLoss::TargetedDlr) o.targets = read.integer("targets", 9, 1);
  read.finish();
  if (o.rho.text.empty()) o.rho.text = shortest_decimal(o.rho.value);
  return std::make_unique<ApgdAttack>(o);
}

// The table's explicit-options form: Linf, steps and restarts from the config, per-sample streams.
AttackOutput run_apgd_config(ApgdLoss loss, const Model& model, const torch::Tensor& x, const torch::Tensor& labels,
                             const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  ApgdOptions o;
  o.loss = loss;
  o.steps = config.steps;
  o.restarts = std::max(1, config.restarts);
  if (loss == ApgdLoss::TargetedDlr) {
    // The standard 9 targets where the model has that many other classes.
    int64_t classes = model.info().num_classes;
    if (classes <= 0) {
      torch::NoGradGuard no_grad;
      classes = model.logits(x.slice(0, 0, 1)).size(1);
    }
    o.targets = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(9, classes - 1)));
  }
  AttackBatch batch{x, labels, torch::Tensor(), sample_seeds};
  return apgd(model, batch, config.eps, config.check_final, o);
}

}  // namespace apgd_detail

using apgd_detail::ApgdLoss;
using apgd_detail::make_apgd;
using apgd_detail::run_apgd_config;

AttackOutput run_apgd_ce(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor&,
                         const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  return run_apgd_config(ApgdLoss::CrossEntropy, model, x, labels, config, sample_seeds);
}
AttackOutput run_apgd_dlr(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor&,
                          const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  return run_apgd_config(ApgdLoss::Dlr, model, x, labels, config, sample_seeds);
}
AttackOutput run_apgd_t(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor&,
                        const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  return run_apgd_config(ApgdLoss::TargetedDlr, model, x, labels, config, sample_seeds);
}

std::unique_ptr<Attack> make_apgd_ce(const AttackSpec& spec, const AttackDefaults&) {
  return make_apgd(ApgdLoss::CrossEntropy, spec);
}
std::unique_ptr<Attack> make_apgd_dlr(const AttackSpec& spec, const AttackDefaults&) { return make_apgd(ApgdLoss::Dlr, spec); }
std::unique_ptr<Attack> make_apgd_t(const AttackSpec& spec, const AttackDefaults&) {
  return make_apgd(ApgdLoss::TargetedDlr, spec);
}

}  // namespace questbench
