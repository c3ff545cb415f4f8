// FAB, the fast adaptive boundary attack (Croce & Hein 2020), as AutoAttack's FABAttack_PT runs it
// (fra31/auto-attack fab_base.py, fab_pt.py): rows `fab` (untargeted) and `fab-t` (targeted, the AutoAttack stage).
//
// Each step linearizes the classifier's decision boundary at the iterate x1 (the logit difference to the closest
// class, or to the target class), projects both x1 and the clean point x0 onto that hyperplane inside the box,
// and moves to a convex combination of the two overshot projections, biased towards x0 (alpha <= alpha_max).
// Whenever the iterate is misclassified it is kept if its distance to x0 is the smallest so far, and it is pulled
// back towards x0 by beta. FAB minimizes the perturbation norm; eps only decides at the end which of the found
// adversarials count (distance <= eps), as the original's perturb() does.
//
// Operation order, subsets and random draws follow the original, so RngMode::Original on the same LibTorch build
// reproduces it (see attacks/README.md for what was measured). With one restart FAB draws nothing.
#include "attacks/attack.h"
#include "attacks/fab_projections.h"
#include "attacks/sample_streams.h"

#include "common/error.h"

#include <torch/torch.h>

namespace questbench {
// A named namespace: the library is a unity build, so helpers must not collide with other attacks' files.
namespace fab_impl {

struct FabOptions {
  Norm norm = Norm::Linf;
  int steps = 100, restarts = 1;
  Fraction alpha_max{0.1, "0.1"}, eta{1.05, "1.05"}, beta{0.9, "0.9"};
  bool targeted = false;
  int targets = 9;  // fab-t: attack the classes with the 2nd..(targets+1)-th highest clean logit
};

const std::vector<int64_t> kImageView = {-1, 1, 1, 1};

// Per-row norm of [n, ...] in the attack's norm, reduced as the original does (abs-max / sqrt of sum of squares).
torch::Tensor row_norms(Norm norm, const torch::Tensor& v) {
  const auto flat = v.reshape({v.size(0), -1});
  if (norm == Norm::Linf) return std::get<0>(flat.abs().max(1));
  return flat.pow(2).sum(-1).sqrt();
}

torch::Tensor predicted_labels(const torch::Tensor& logits) { return std::get<1>(logits.max(1)); }

// One FAB run (the original's attack_single_run plus its perturb()'s acceptance) with its counters.
class FabRun {
 public:
  FabRun(const Model& model, const FabOptions& options, double eps, const AttackBatch& batch)
      : model_(model), o_(options), eps_(eps), batch_(batch) {}

  AttackOutput perturb() {
    torch::NoGradGuard no_grad;
    const auto x = batch_.x.detach().to(torch::kFloat);
    const auto& y = batch_.labels;
    const int64_t n = x.size(0);
    batch_size_ = n;
    auto adv = x.clone();
    auto acc = predicted_labels(logits(x)) == y;  // clean-correct; cleared as samples break
    if (o_.targeted) {
      const int64_t classes = last_logits_classes_;
      QB_USAGE_CHECK(o_.targets < classes, "fab-t option targets=" << o_.targets << ": must be less than the model's "
                                                                   << classes << " classes");
    }
    if (batch_.rng == RngMode::Original) torch::manual_seed(batch_.run_seed);  // perturb() reseeds here

    const int first_rank = o_.targeted ? 2 : 0, last_rank = o_.targeted ? o_.targets + 1 : 0;
    for (int rank = first_rank; rank <= last_rank; ++rank) {
      for (int restart = 0; restart < o_.restarts; ++restart) {
        const auto to_fool = acc.nonzero().view({-1});
        if (to_fool.numel() == 0) continue;
        const auto x_to_fool = x.index_select(0, to_fool);
        const auto y_to_fool = y.index_select(0, to_fool);
        const auto adv_curr = single_run(x_to_fool, y_to_fool, to_fool, restart > 0, rank, restart);
        // Accepted: misclassified and within eps (the original's acc_curr == 0).
        auto still_correct = predicted_labels(logits(adv_curr)) == y_to_fool;
        still_correct = still_correct | (row_norms(o_.norm, x_to_fool - adv_curr) > eps_);
        const auto fooled = (~still_correct).nonzero().view({-1});
        if (fooled.numel() == 0) continue;
        const auto rows = to_fool.index_select(0, fooled);
        acc.index_fill_(0, rows, false);
        adv.index_copy_(0, rows, adv_curr.index_select(0, fooled));
      }
    }
    out_.x_adv = adv;
    out_.broken = ~acc;  // clean-misclassified samples count as broken with x_adv = x
    (void)n;
    return out_;
  }

 private:
  torch::Tensor logits(const torch::Tensor& images) {
    auto out = model_.logits(images);
    ++out_.forward_evaluations;
    out_.forwards += images.size(0);
    last_logits_classes_ = out.size(1);
    return out;
  }

  // Logit differences to the label and their input gradients at x1: df [bs, K'], dg [bs, K', ...]. Targeted:
  // K' = 1, the target's logit minus the label's. Untargeted: every class minus the label (the label's own entry
  // set to 1e10 so that it is never the closest boundary).
  std::pair<torch::Tensor, torch::Tensor> boundary_jacobian(const torch::Tensor& x1, const torch::Tensor& la,
                                                            const torch::Tensor& la_target) {
    torch::AutoGradMode grad_mode(true);
    const int64_t bs = x1.size(0);
    const auto xa = x1.detach().clone().requires_grad_(true);
    const auto y = model_.logits(xa);
    out_.forwards += bs;
    const int64_t classes = y.size(1);
    if (o_.targeted) {
      const auto y_d = y.detach();
      const auto df = -(y_d.gather(1, la.unsqueeze(1)) - y_d.gather(1, la_target.unsqueeze(1)));  // [bs, 1]
      // The gradient of sum(-(y_la - y_target)): -1 at the label, +1 at the target, exactly what autograd feeds
      // the model's backward from the original's sum().backward().
      auto seed = torch::zeros_like(y_d);
      seed.scatter_(1, la_target.unsqueeze(1), 1.0);
      seed.scatter_(1, la.unsqueeze(1), -1.0);
      auto grad = torch::autograd::grad({y}, {xa}, {seed})[0];
      ++out_.gradient_evaluations;
      out_.backwards += bs;
      note_first_gradient(grad);
      note_non_finite_gradient(out_, grad, batch_size_, jacobian_rows_);
      return {df, grad.unsqueeze(1)};
    }
    // One backward per class through the retained graph, as the original (a one-hot output gradient each).
    std::vector<torch::Tensor> per_class;
    per_class.reserve(static_cast<size_t>(classes));
    auto mask = torch::zeros_like(y);
    for (int64_t k = 0; k < classes; ++k) {
      mask.select(1, k).fill_(1.0);
      per_class.push_back(torch::autograd::grad({y}, {xa}, {mask}, /*retain_graph=*/true)[0]);
      mask.select(1, k).fill_(0.0);
      ++out_.gradient_evaluations;
      out_.backwards += bs;
    }
    torch::NoGradGuard no_grad;
    const auto g2 = torch::stack(per_class, 1);  // [bs, K, ...]
    note_first_gradient(g2);
    note_non_finite_gradient(out_, g2, batch_size_, jacobian_rows_);
    const auto y2 = y.detach();
    const auto u = torch::arange(bs, torch::TensorOptions().dtype(torch::kLong).device(y2.device()));
    auto df = y2 - y2.index({u, la}).unsqueeze(1);
    const auto dg = g2 - g2.index({u, la}).unsqueeze(1);
    df.index_put_({u, la}, 1e10);
    return {df, dg};
  }

  void note_first_gradient(const torch::Tensor& grad) {
    if (gradient_noted_) return;
    gradient_noted_ = true;
    const auto flat = grad.reshape({grad.size(0), -1});
    if (flat.size(0) > 0) out_.zero_gradient_fraction = (flat.abs().amax(1) == 0).to(torch::kDouble).mean().item<double>();
  }

  // The original's random start: a point at half of eps from x0 (Linf: scaled uniform; L2: scaled Gaussian).
  torch::Tensor random_start(const torch::Tensor& im2, const torch::Tensor& batch_rows, int rank, int restart) {
    const auto shape = im2.sizes().vec();
    const int64_t bs = im2.size(0);
    torch::Tensor t;
    if (batch_.rng == RngMode::Original) {
      t = o_.norm == Norm::Linf ? 2 * torch::rand(shape) - 1 : torch::randn(shape);
      t = t.to(im2.device());
    } else {
      SampleStreams streams(batch_.seeds, o_.targeted ? "fab-t" : "fab", static_cast<uint64_t>(rank) * 65536 + restart);
      const auto rows_host = batch_rows.to(torch::kCPU).contiguous();
      const std::vector<int64_t> rows(rows_host.data_ptr<int64_t>(), rows_host.data_ptr<int64_t>() + rows_host.numel());
      const std::vector<int64_t> row_shape(shape.begin() + 1, shape.end());
      t = o_.norm == Norm::Linf ? streams.uniform(rows, row_shape, -1.0, 1.0, im2.device())
                                : streams.normal(rows, row_shape, im2.device());
    }
    // min(res2 = 1e10, eps) is eps in float32.
    const auto radius = torch::full({bs}, eps_, im2.options()).view(kImageView);
    const auto t_norm = row_norms(o_.norm, t).view(kImageView);
    return (im2 + radius * t / t_norm * 0.5).clamp(0.0, 1.0);
  }

  // The original's attack_single_run on x (the still-robust samples, rows `batch_rows` of the batch): returns x
  // with the smallest adversarial FAB found in place of every sample it broke.
  torch::Tensor single_run(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& batch_rows,
                           bool use_rand_start, int rank, int restart) {
    const auto clean_logits = logits(x);
    const auto correct = predicted_labels(clean_logits) == y;
    auto adv_c = x.clone();
    const auto pred = correct.nonzero().view({-1});
    if (pred.numel() == 0) return adv_c;
    torch::Tensor la_target2;
    if (o_.targeted) {
      // The original runs the same forward again here. Per-sample mode reuses the logits above (same input, same
      // pass); Original mode repeats it, so that a TorchScript model's executor sees the original's call sequence.
      const auto target_logits = batch_.rng == RngMode::Original ? logits(x) : clean_logits;
      const auto la_target = std::get<1>(target_logits.sort(-1)).select(1, target_logits.size(1) - rank);
      la_target2 = la_target.index_select(0, pred);
    }
    const auto im2 = x.index_select(0, pred);
    const auto la2 = y.index_select(0, pred);
    const int64_t bs = im2.size(0);
    const auto u1 = torch::arange(bs, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
    auto adv = im2.clone();
    auto res2 = torch::full({bs}, 1e10, im2.options());  // smallest adversarial distance so far
    auto x1 = im2.clone();
    const auto x0 = im2.reshape({bs, -1});
    if (use_rand_start) x1 = random_start(im2, batch_rows.index_select(0, pred), rank, restart);
    jacobian_rows_ = batch_rows.index_select(0, pred);

    const auto alpha_max = torch::full({bs, 1, 1, 1}, o_.alpha_max.value, im2.options());
    for (int step = 0; step < o_.steps; ++step) {
      auto [df, dg] = boundary_jacobian(x1, la2, la_target2);
      torch::Tensor dg2, df2;
      if (o_.targeted) {
        dg2 = dg.select(1, 0);
        df2 = df.select(1, 0);
      } else {
        // The closest linearized boundary in the dual norm.
        const auto dg_flat = dg.reshape({dg.size(0), dg.size(1), -1});
        const auto dual = o_.norm == Norm::Linf ? dg_flat.abs().sum(-1) : dg_flat.pow(2).sum(-1).sqrt();
        const auto dist1 = df.abs() / (1e-12 + dual);
        const auto ind = std::get<1>(dist1.min(1));
        dg2 = dg.index({u1, ind});
        df2 = df.index({u1, ind});
      }
      const auto b = -df2 + (dg2 * x1).reshape({bs, -1}).sum(-1);
      const auto w = dg2.reshape({bs, -1});

      // Project the iterate and the clean point onto the same hyperplane in one batch (as the original).
      const auto points = torch::cat({x1.reshape({bs, -1}), x0}, 0);
      const auto ww = torch::cat({w, w}, 0);
      const auto bb = torch::cat({b, b}, 0);
      const auto d3 = o_.norm == Norm::Linf ? fab_project_linf(points, ww, bb) : fab_project_l2(points, ww, bb);
      const auto d1 = d3.slice(0, 0, bs).reshape(x1.sizes());
      const auto d2 = d3.slice(0, bs, 2 * bs).reshape(x1.sizes());
      auto a0 = o_.norm == Norm::Linf ? std::get<0>(d3.abs().max(1, true)) : d3.pow(2).sum(1, true).sqrt();
      a0 = a0.view(kImageView);
      a0 = torch::max(a0, torch::full_like(a0, 1e-8));
      const auto a1 = a0.slice(0, 0, bs);
      const auto a2 = a0.slice(0, bs, 2 * bs);
      // Bias towards the clean point's projection by the relative distances, at most alpha_max.
      const auto alpha = torch::min(torch::max(a1 / (a1 + a2), torch::zeros_like(a1)), alpha_max);
      x1 = ((x1 + d1 * o_.eta.value) * (1 - alpha) + (im2 + d2 * o_.eta.value) * alpha).clamp(0.0, 1.0);

      const auto is_adv = predicted_labels(logits(x1)) != la2;
      const auto ind_adv = is_adv.nonzero().view({-1});
      if (ind_adv.numel() > 0) {
        const auto x1_adv = x1.index_select(0, ind_adv);
        const auto im2_adv = im2.index_select(0, ind_adv);
        const auto t = row_norms(o_.norm, x1_adv - im2_adv);
        const auto res_adv = res2.index_select(0, ind_adv);
        const auto closer = t < res_adv;
        adv.index_copy_(0, ind_adv, torch::where(closer.view(kImageView), x1_adv, adv.index_select(0, ind_adv)));
        res2.index_copy_(0, ind_adv, torch::where(closer, t, res_adv));
        // Step back towards the clean point: the next iterates search for a closer adversarial.
        x1.index_copy_(0, ind_adv, im2_adv + (x1_adv - im2_adv) * o_.beta.value);
      }
    }
    const auto succeeded = (res2 < 1e10).nonzero().view({-1});
    adv_c.index_copy_(0, pred.index_select(0, succeeded), adv.index_select(0, succeeded));
    return adv_c;
  }

  const Model& model_;
  const FabOptions& o_;
  double eps_;
  const AttackBatch& batch_;
  AttackOutput out_;
  int64_t last_logits_classes_ = 0;
  bool gradient_noted_ = false;
  int64_t batch_size_ = 0;
  torch::Tensor jacobian_rows_;  // the batch positions of the rows boundary_jacobian gets
};

class FabAttack final : public Attack {
 public:
  FabAttack(const AttackInfo& info, FabOptions options) : info_(info), o_(std::move(options)) {
    caps_ = info.capabilities;
    caps_.norm = o_.norm;
    if (o_.targeted) caps_.min_classes = o_.targets + 1;  // the label and `targets` other classes
  }

  std::string spec() const override {
    std::vector<std::pair<std::string, std::string>> kv = {
        {"norm", o_.norm == Norm::Linf ? "linf" : "l2"},
        {"steps", std::to_string(o_.steps)},
        {"restarts", std::to_string(o_.restarts)},
        {"alpha_max", o_.alpha_max.text},
        {"eta", o_.eta.text},
        {"beta", o_.beta.text},
    };
    if (o_.targeted) kv.emplace_back("targets", std::to_string(o_.targets));
    return format_attack_spec(info_.name, kv);
  }

  const AttackCapabilities& capabilities() const override { return caps_; }

  AttackSettings settings(double) const override {
    AttackSettings s;
    s.steps = o_.steps;
    s.restarts = o_.restarts;
    s.alpha = o_.alpha_max.value;
    s.random_start = o_.restarts > 1;  // restarts after the first start at a random point
    s.early_stop = false;               // FAB keeps minimizing the norm after the first adversarial
    return s;
  }

  AttackOutput run(const Model& model, const AttackBatch& batch, double eps, bool) const override {
    // perturb() needs the prediction at every candidate to accept it, so there is no final pass to skip.
    FabRun run(model, o_, eps, batch);
    return run.perturb();
  }

  std::unique_ptr<Attack> with_doubled_iterations() const override {
    auto doubled = o_;
    doubled.steps *= 2;
    return std::make_unique<FabAttack>(info_, doubled);
  }

 private:
  const AttackInfo& info_;
  FabOptions o_;
  AttackCapabilities caps_;
};

std::unique_ptr<Attack> make_fab_attack(const AttackInfo& info, bool targeted, const AttackSpec& spec) {
  SpecReader read(spec);
  FabOptions o;
  o.targeted = targeted;
  o.norm = read.choice("norm", "linf", {"linf", "l2"}) == "linf" ? Norm::Linf : Norm::L2;
  o.steps = read.integer("steps", o.steps, 1);
  o.restarts = read.integer("restarts", o.restarts, 1);
  o.alpha_max = read.fraction("alpha_max", o.alpha_max, 1.0);
  o.eta = read.fraction("eta", o.eta, 1e3);
  QB_USAGE_CHECK(o.eta.value >= 1, info.name << " option eta '" << o.eta.text << "': must be >= 1 (overshoot)");
  o.beta = read.fraction("beta", o.beta, 1.0);
  if (targeted) o.targets = read.integer("targets", o.targets, 1);
  read.finish();
  return std::make_unique<FabAttack>(info, o);
}

// The table's run-on-AttackConfig form: steps, restarts and eps from the config, the other options at their
// defaults; targets from the config are ignored (FAB-T picks its own).
AttackOutput run_fab_with(const AttackInfo& info, const Model& model, const torch::Tensor& x, const torch::Tensor& labels,
                          const AttackConfig& config, const std::vector<uint64_t>& seeds) {
  const auto spec = info.name + ":norm=" + (info.capabilities.norm == Norm::Linf ? "linf" : "l2") +
                    ",steps=" + std::to_string(config.steps) + ",restarts=" + std::to_string(config.restarts);
  const auto attack = make_attack(spec);
  return attack->run(model, {x, labels, torch::Tensor(), seeds}, config.eps, config.check_final);
}

}  // namespace fab_impl

std::unique_ptr<Attack> make_fab(const AttackSpec& spec, const AttackDefaults&) {
  return fab_impl::make_fab_attack(find_attack("fab"), false, spec);
}
std::unique_ptr<Attack> make_fab_t(const AttackSpec& spec, const AttackDefaults&) {
  return fab_impl::make_fab_attack(find_attack("fab-t"), true, spec);
}

AttackOutput run_fab(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor&,
                     const AttackConfig& config, const std::vector<uint64_t>& seeds) {
  return fab_impl::run_fab_with(find_attack("fab"), model, x, labels, config, seeds);
}
AttackOutput run_fab_t(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor&,
                       const AttackConfig& config, const std::vector<uint64_t>& seeds) {
  return fab_impl::run_fab_with(find_attack("fab-t"), model, x, labels, config, seeds);
}

}  // namespace questbench
