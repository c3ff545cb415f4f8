// Square Attack (Andriushchenko et al. 2020), the score-based black-box attack of AutoAttack: random search
// over square-shaped updates of the perturbation, accepting a proposal when it lowers the margin loss (or
// misclassifies). Re-expressed from AutoAttack's square.py (fra31/auto-attack @ a392200): the same p
// schedule, initialisations (Linf vertical stripes, L2 tiled "meta-pseudo-gaussian" squares), window update,
// acceptance rule and per-sample stopping. Only model outputs are used: no gradients.
//
// Two sources of randomness (AttackBatch::rng):
//   * Original: torch's global generator reseeded with run_seed at the start, then the original's draws in
//     its order and shapes: one window position (and one sign per channel, Linf) per iteration shared by all
//     still-robust points. Float operations follow the original's order so results can be bit-identical.
//   * PerSample (default): each point draws its own window positions, signs and eta orientation from its own
//     stream, so its trajectory does not depend on which points share its batch. Draws come in blocks of
//     kDrawBlock iterations to keep per-sample host work out of the per-iteration path.
//
// Hot path: the still-robust points live in compacted buffers (input, best image, margin, loss, label, and the
// per-sample draws), one batched forward per iteration over exactly those points; buffers are compacted only
// on iterations where some point got fooled.
#include "attacks/attack.h"
#include "attacks/sample_streams.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace questbench {
// Named (not anonymous): the library is a unity build shared with the other attacks' helpers.
namespace square_attack_detail {

constexpr int64_t kDrawBlock = 64;  // per-sample mode: iterations' worth of draws fetched per stream at once

struct SquareOptions {
  Norm norm = Norm::Linf;
  int queries = 5000;
  Fraction p_init{0.8, "0.8"};
  int restarts = 1;
  LossKind loss = LossKind::Margin;
};

// The fraction of pixels a square covers at iteration `it`: halved at the original's thresholds. AutoAttack's
// standard version does not rescale the thresholds to the query budget (resc_schedule=False), nor do we.
double square_fraction(double p_init, int64_t it) {
  if (10 < it && it <= 50) return p_init / 2;
  if (50 < it && it <= 200) return p_init / 4;
  if (200 < it && it <= 500) return p_init / 8;
  if (500 < it && it <= 1000) return p_init / 16;
  if (1000 < it && it <= 2000) return p_init / 32;
  if (2000 < it && it <= 4000) return p_init / 64;
  if (4000 < it && it <= 6000) return p_init / 128;
  if (6000 < it && it <= 8000) return p_init / 256;
  if (8000 < it) return p_init / 512;
  return p_init;
}

// Side of the square at fraction p: Python's round() (half to even, as nearbyint in the default mode).
int64_t square_side(double p, int64_t n_features, int64_t channels, int64_t min_side) {
  return std::max(static_cast<int64_t>(std::nearbyint(std::sqrt(p * static_cast<double>(n_features) / channels))), min_side);
}

// Nested rectangles of weight 1/(k+1)^2 around the centre, normalized to unit L2 norm (the original's
// eta_rectangles, float32 as there).
torch::Tensor eta_rectangles(int64_t rows, int64_t cols) {
  auto d = torch::zeros({rows, cols});
  if (rows == 0) return d;
  const int64_t row_centre = rows / 2 + 1, col_centre = cols / 2 + 1;
  int64_t r0 = row_centre - 1, c0 = col_centre - 1;
  for (int64_t k = 0; k < std::max(row_centre, col_centre); ++k) {
    const int64_t r_end = std::min(r0 + 2 * k + 1, rows), c_end = std::min(c0 + 2 * k + 1, cols);
    const int64_t r_begin = std::max<int64_t>(r0, 0), c_begin = std::max<int64_t>(c0, 0);
    if (r_end > r_begin && c_end > c_begin) {
      // 1/(k+1)^2 as the reciprocal of a float32 square, like the original's 1.0 / tensor ** 2.
      auto weight = torch::full({1, 1}, static_cast<float>(k + 1)).pow(2).reciprocal() * 1.0;
      d.slice(0, r_begin, r_end).slice(1, c_begin, c_end).add_(weight);
    }
    --r0;
    --c0;
  }
  d /= d.pow(2).sum(at::IntArrayRef{0, 1}, true).sqrt();
  return d;
}

// The L2 update's s x s pattern: positive rectangles on the top half, negative on the bottom, unit L2 norm.
// The original transposes it with probability 1/2 (drawn by the caller).
torch::Tensor eta_pattern(int64_t s) {
  auto d = torch::zeros({s, s});
  d.slice(0, 0, s / 2).copy_(eta_rectangles(s / 2, s));
  d.slice(0, s / 2, s).copy_(-1. * eta_rectangles(s - s / 2, s));
  d /= d.pow(2).sum(at::IntArrayRef{0, 1}, true).sqrt();
  return d;
}

// Original-mode draws: exactly the original's random_choice / random_int (CPU rand, then to the device).
torch::Tensor original_random_signs(const std::vector<int64_t>& shape, torch::Device device) {
  return torch::sign(2 * torch::rand(shape) - 1).to(device);
}
int64_t original_random_int(int64_t high) {
  return (0 + high * torch::rand({1})).to(torch::kLong).item<int64_t>();
}
// eta(s) with the original's orientation draw.
torch::Tensor original_eta(const torch::Tensor& pattern) {
  if (torch::rand({1}).item<float>() > 0.5f) return pattern.permute({1, 0});
  return pattern;
}

// Sign from a uniform draw, as the original's sign(2u - 1).
torch::Tensor signs_from_uniform(const torch::Tensor& u) { return torch::sign(2 * u - 1); }
// Integer in [0, high) from a uniform draw, as the original's truncation of high * u.
torch::Tensor ints_from_uniform(const torch::Tensor& u, int64_t high) { return (high * u).to(torch::kLong); }

// Per-sample L2 normalisation of x (the original's normalize for L2).
torch::Tensor l2_normalize(const torch::Tensor& x) {
  auto t = x.pow(2).view({x.size(0), -1}).sum(-1).sqrt();
  return x / (t.view({-1, 1, 1, 1}) + 1e-12);
}
torch::Tensor l2_norms(const torch::Tensor& x) { return x.pow(2).view({x.size(0), -1}).sum(-1).sqrt().view({-1, 1, 1, 1}); }

// Margin (label logit minus the best other) and the loss the search lowers (margin, or minus the CE).
std::pair<torch::Tensor, torch::Tensor> margin_and_loss(const torch::Tensor& logits, const torch::Tensor& y, LossKind loss) {
  auto label_col = y.view({-1, 1});
  auto y_corr = logits.gather(1, label_col).view({-1});
  auto y_others = logits.scatter(1, label_col, -std::numeric_limits<float>::infinity()).amax(1);
  auto margin = y_corr - y_others;
  if (loss == LossKind::Margin) return {margin, margin};
  auto xent = torch::nn::functional::cross_entropy(logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  return {margin, -1. * xent};
}

// rows[k] for each k in `index` (host bookkeeping of which batch rows are still searched).
std::vector<int64_t> pick_rows(const std::vector<int64_t>& rows, const torch::Tensor& index) {
  auto host = index.to(torch::kCPU).contiguous();
  std::vector<int64_t> picked;
  picked.reserve(static_cast<size_t>(host.numel()));
  for (int64_t i = 0; i < host.numel(); ++i) picked.push_back(rows.at(static_cast<size_t>(host.data_ptr<int64_t>()[i])));
  return picked;
}

// bool [n, 1, h, w]: the s x s window at (row[i], col[i]) for each sample.
torch::Tensor window_masks(const torch::Tensor& row, const torch::Tensor& col, int64_t s, int64_t h, int64_t w) {
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(row.device());
  auto rows = torch::arange(h, opts).view({1, 1, h, 1});
  auto cols = torch::arange(w, opts).view({1, 1, 1, w});
  auto r = row.view({-1, 1, 1, 1}), c = col.view({-1, 1, 1, 1});
  return (rows >= r) & (rows < r + s) & (cols >= c) & (cols < c + s);
}

class SquareRun {
 public:
  SquareRun(const Model& model, const SquareOptions& o, double eps, RngMode rng, AttackOutput& out)
      : model_(model), o_(o), eps_(eps), rng_(rng), out_(out) {}

  // One attack_single_run on the subset x [n, c, h, w] (labels y); `batch_rows` are the subset's rows in the
  // caller's batch (per-sample streams). Returns the best image per point.
  torch::Tensor attack(const torch::Tensor& x, const torch::Tensor& y, const std::vector<int64_t>& batch_rows,
                       SampleStreams* streams) {
    c_ = x.size(1), h_ = x.size(2), w_ = x.size(3);
    n_features_ = c_ * h_ * w_;
    streams_ = streams;
    torch::Tensor x_best = o_.norm == Norm::Linf ? init_linf(x, batch_rows) : init_l2(x, batch_rows);
    auto [margin, loss] = evaluate(x_best, y);
    if ((margin < 0.0).all().item<bool>()) return x_best;

    // Compacted state of the points still being searched (margin > 0), in the subset's order.
    auto keep = (margin > 0.0).nonzero().view({-1});
    auto a_x = x.index_select(0, keep), a_best = x_best.index_select(0, keep), a_y = y.index_select(0, keep);
    auto a_margin = margin.index_select(0, keep), a_loss = loss.index_select(0, keep);
    auto a_pos = keep;
    torch::Tensor a_draws;  // per-sample mode: [n_active, kDrawBlock, draws per iteration]
    std::vector<int64_t> a_rows = pick_rows(batch_rows, keep);

    for (int64_t it = 0; it < o_.queries && a_pos.numel() > 0; ++it) {
      if (streams_ && it % kDrawBlock == 0) a_draws = streams_->uniform(a_rows, {kDrawBlock, draws_per_iteration()}, 0.0, 1.0, x.device());
      torch::Tensor u = streams_ ? a_draws.select(1, it % kDrawBlock) : torch::Tensor();
      auto x_new = o_.norm == Norm::Linf ? propose_linf(a_x, a_best, it, u) : propose_l2(a_x, a_best, it, u);
      auto [m_new, l_new] = evaluate(x_new, a_y);
      // Accept a lower loss; a misclassifying proposal is always taken (and ends the point's search).
      auto improved = l_new < a_loss;
      a_loss = torch::where(improved, l_new, a_loss);
      auto accepted = improved | (m_new <= 0.);
      a_margin = torch::where(accepted, m_new, a_margin);
      a_best = torch::where(accepted.view({-1, 1, 1, 1}), x_new, a_best);

      auto still = a_margin > 0.0;
      if (!still.all().item<bool>()) {
        auto done = (~still).nonzero().view({-1});
        x_best.index_copy_(0, a_pos.index_select(0, done), a_best.index_select(0, done));
        auto kept = still.nonzero().view({-1});
        if (streams_) a_rows = pick_rows(a_rows, kept);
        a_x = a_x.index_select(0, kept), a_best = a_best.index_select(0, kept), a_y = a_y.index_select(0, kept);
        a_margin = a_margin.index_select(0, kept), a_loss = a_loss.index_select(0, kept), a_pos = a_pos.index_select(0, kept);
        if (a_draws.defined()) a_draws = a_draws.index_select(0, kept);
      }
    }
    if (a_pos.numel() > 0) x_best.index_copy_(0, a_pos, a_best);
    return x_best;
  }

 private:
  // The eta pattern of side s on the host (deterministic: cached).
  const torch::Tensor& pattern(int64_t s) {
    auto it = patterns_.find(s);
    if (it == patterns_.end()) it = patterns_.emplace(s, eta_pattern(s)).first;
    return it->second;
  }

  int64_t draws_per_iteration() const { return o_.norm == Norm::Linf ? 2 + c_ : 5 + c_; }

  std::pair<torch::Tensor, torch::Tensor> evaluate(const torch::Tensor& x, const torch::Tensor& y) {
    auto logits = model_.logits(x);
    ++out_.forward_evaluations;
    out_.forwards += x.size(0);
    return margin_and_loss(logits, y, o_.loss);
  }

  // Vertical stripes: one sign per channel and column.
  torch::Tensor init_linf(const torch::Tensor& x, const std::vector<int64_t>& batch_rows) {
    auto signs = streams_ ? signs_from_uniform(streams_->uniform(batch_rows, {c_, 1, w_}, 0.0, 1.0, x.device()))
                          : original_random_signs({x.size(0), c_, 1, w_}, x.device());
    return torch::clamp(x + eps_ * signs, 0., 1.);
  }

  // A 5 x 5 grid of eta patterns, each with a random orientation and per-channel sign, scaled to the radius.
  torch::Tensor init_l2(const torch::Tensor& x, const std::vector<int64_t>& batch_rows) {
    auto delta = torch::zeros_like(x);
    const int64_t s = h_ / 5, start = (h_ - s * 5) / 2;
    const auto& eta_base = pattern(s);
    const int64_t tiles = (h_ / s) * (w_ / s);
    torch::Tensor draws;  // per-sample: [n, tiles, 1 + c]
    if (streams_) draws = streams_->uniform(batch_rows, {tiles, 1 + c_}, 0.0, 1.0, x.device());
    int64_t tile = 0, vh = start;
    for (int64_t i = 0; i < h_ / s; ++i, vh += s) {
      int64_t vw = start;
      for (int64_t j = 0; j < w_ / s; ++j, vw += s, ++tile) {
        auto window = delta.slice(2, vh, vh + s).slice(3, vw, vw + s);
        if (streams_) {
          auto d = draws.select(1, tile);  // [n, 1 + c]
          auto p = eta_base.to(x.device());
          auto oriented = torch::where((d.select(1, 0) > 0.5).view({-1, 1, 1, 1}), p.t().view({1, 1, s, s}), p.view({1, 1, s, s}));
          window += oriented * signs_from_uniform(d.slice(1, 1, 1 + c_)).view({-1, c_, 1, 1});
        } else {
          auto eta = original_eta(eta_base).to(x.device());  // the original draws the orientation first
          window += eta.reshape({1, 1, s, s}) * original_random_signs({x.size(0), c_, 1, 1}, x.device());
        }
      }
    }
    return torch::clamp(x + l2_normalize(delta) * eps_, 0., 1.);
  }

  // Linf proposal: one square of side s moved to +-2 eps per channel, then projected to the ball and the box.
  torch::Tensor propose_linf(const torch::Tensor& x, const torch::Tensor& x_best, int64_t it, const torch::Tensor& u) {
    const double p = square_fraction(o_.p_init.value, it);
    const int64_t s = std::min(square_side(p, n_features_, c_, 1), std::min(h_, w_));
    torch::Tensor x_new;
    if (u.defined()) {
      auto vh = ints_from_uniform(u.select(1, 0), h_ - s), vw = ints_from_uniform(u.select(1, 1), w_ - s);
      auto step = 2. * eps_ * signs_from_uniform(u.slice(1, 2, 2 + c_)).view({-1, c_, 1, 1});
      x_new = torch::where(window_masks(vh, vw, s, h_, w_), x_best + step, x_best);
    } else {
      // One window and one sign per channel for all points, as the original.
      const int64_t vh = original_random_int(h_ - s), vw = original_random_int(w_ - s);
      auto new_deltas = torch::zeros({c_, h_, w_}, x.options());
      new_deltas.slice(1, vh, vh + s).slice(2, vw, vw + s).copy_(2. * eps_ * original_random_signs({c_, 1, 1}, x.device()));
      x_new = x_best + new_deltas;
    }
    x_new = torch::min(torch::max(x_new, x - eps_), x + eps_);
    return torch::clamp(x_new, 0., 1.);
  }

  // L2 proposal: the mass of window 1 and window 2 is moved into window 1 as its old content (normalized) plus a
  // new eta pattern with random signs, rescaled so the whole perturbation uses the remaining budget.
  torch::Tensor propose_l2(const torch::Tensor& x, const torch::Tensor& x_best, int64_t it, const torch::Tensor& u) {
    const double p = square_fraction(o_.p_init.value, it);
    int64_t s = square_side(p, n_features_, c_, 3);
    if (s % 2 == 0) ++s;
    s = std::min(s, std::min(h_, w_));
    auto delta = x_best - x;
    const auto n = x.size(0);
    if (u.defined()) {
      auto vh = ints_from_uniform(u.select(1, 0), h_ - s), vw = ints_from_uniform(u.select(1, 1), w_ - s);
      auto vh2 = ints_from_uniform(u.select(1, 2), h_ - s), vw2 = ints_from_uniform(u.select(1, 3), w_ - s);
      auto transposed = (u.select(1, 4) > 0.5).view({-1, 1, 1, 1});
      auto signs = signs_from_uniform(u.slice(1, 5, 5 + c_)).view({-1, c_, 1, 1});
      auto in_1 = window_masks(vh, vw, s, h_, w_), in_2 = window_masks(vh2, vw2, s, h_, w_);
      // The pattern placed at each sample's window 1 by index arithmetic (row-major, or column-major if transposed).
      auto opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
      auto r = (torch::arange(h_, opts).view({1, 1, h_, 1}) - vh.view({-1, 1, 1, 1})).clamp(0, s - 1);
      auto c = (torch::arange(w_, opts).view({1, 1, 1, w_}) - vw.view({-1, 1, 1, 1})).clamp(0, s - 1);
      auto flat = torch::where(transposed, c * s + r, r * s + c);
      auto placed = pattern(s).to(x.device()).view({-1}).take(flat) * in_1;  // [n, 1, h, w], zero off window 1
      auto in_1f = in_1.to(x.scalar_type()), in_any = (in_1 | in_2).to(x.scalar_type());
      auto norms_window_1 = (delta * in_1f).pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt();
      auto norms_image = l2_norms(delta);
      auto norms_windows = (delta * in_any).pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt();
      auto new_deltas = placed * signs + delta * in_1f / (1e-12 + norms_window_1);
      new_deltas = new_deltas / (1e-12 + new_deltas.pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt()) *
                   (torch::clamp_min(norms_image.pow(2).neg().add(eps_ * eps_), 0.) / c_ + norms_windows.pow(2)).sqrt();
      delta = torch::where(in_1, new_deltas, torch::where(in_2, torch::zeros_like(delta), delta));
    } else {
      const int64_t vh = original_random_int(h_ - s), vw = original_random_int(w_ - s);
      auto window_1 = delta.slice(2, vh, vh + s).slice(3, vw, vw + s);
      auto norms_window_1 = window_1.pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt();
      const int64_t vh2 = original_random_int(h_ - s), vw2 = original_random_int(w_ - s);
      auto mask_1 = torch::zeros_like(x), mask_2 = torch::zeros_like(x);
      mask_1.slice(2, vh, vh + s).slice(3, vw, vw + s).fill_(1.0);
      mask_2.slice(2, vh2, vh2 + s).slice(3, vw2, vw2 + s).fill_(1.);
      auto norms_image = l2_norms(x_best - x);
      auto norms_windows = (delta * torch::max(mask_1, mask_2)).pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt();
      auto new_deltas = torch::ones({n, c_, s, s}, x.options());
      auto eta = original_eta(pattern(s)).to(x.device());  // orientation drawn before the signs, as the original
      new_deltas *= eta.reshape({1, 1, s, s}) * original_random_signs({n, c_, 1, 1}, x.device());
      new_deltas += window_1 / (1e-12 + norms_window_1);
      new_deltas = new_deltas / (1e-12 + new_deltas.pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt()) *
                   (torch::max((eps_ * torch::ones_like(new_deltas)).pow(2) - norms_image.pow(2), torch::zeros_like(new_deltas)) / c_ +
                    norms_windows.pow(2))
                       .sqrt();
      delta.slice(2, vh2, vh2 + s).slice(3, vw2, vw2 + s).zero_();
      delta.slice(2, vh, vh + s).slice(3, vw, vw + s).copy_(new_deltas + 0);
    }
    return torch::clamp(x + l2_normalize(delta) * eps_, 0., 1.);
  }

  const Model& model_;
  const SquareOptions& o_;
  double eps_;
  RngMode rng_;
  AttackOutput& out_;
  SampleStreams* streams_ = nullptr;
  int64_t c_ = 0, h_ = 0, w_ = 0, n_features_ = 0;
  std::map<int64_t, torch::Tensor> patterns_;
};

// The original's perturb(): clean predictions first, then per restart the still-correct points are searched and
// those the final check finds misclassified take their best image.
AttackOutput square_attack(const Model& model, const AttackBatch& batch, double eps, const SquareOptions& o) {
  torch::NoGradGuard no_grad;  // score-based: no graph needed anywhere
  AttackOutput out;
  const auto& x = batch.x;
  const auto y = batch.labels.to(x.device());
  const int64_t n = x.size(0);
  QB_CHECK(static_cast<int64_t>(batch.seeds.size()) == n || batch.rng == RngMode::Original,
           "square: " << batch.seeds.size() << " seeds for " << n << " samples");
  auto adv = x.clone();
  auto correct = model.logits(x).argmax(1).to(x.device()) == y;
  ++out.forward_evaluations;
  out.forwards += n;
  if (batch.rng == RngMode::Original) torch::manual_seed(batch.run_seed);
  SquareRun run(model, o, eps, batch.rng, out);
  for (int restart = 0; restart < o.restarts; ++restart) {
    auto subset = correct.nonzero().view({-1});
    if (subset.numel() == 0) break;
    auto subset_host = subset.to(torch::kCPU);
    std::vector<int64_t> rows(subset_host.data_ptr<int64_t>(), subset_host.data_ptr<int64_t>() + subset_host.numel());
    std::unique_ptr<SampleStreams> streams;
    if (batch.rng == RngMode::PerSample) streams = std::make_unique<SampleStreams>(batch.seeds, "square", restart);
    auto x_sub = x.index_select(0, subset), y_sub = y.index_select(0, subset);
    auto best = run.attack(x_sub, y_sub, rows, streams.get());
    auto fooled = model.logits(best).argmax(1).to(x.device()) != y_sub;
    ++out.forward_evaluations;
    out.forwards += best.size(0);
    auto fooled_idx = fooled.nonzero().view({-1});
    auto targets = subset.index_select(0, fooled_idx);
    correct.index_fill_(0, targets, false);
    adv.index_copy_(0, targets, best.index_select(0, fooled_idx));
  }
  out.x_adv = adv;
  out.broken = ~correct;
  return out;
}

const AttackCapabilities& square_capabilities(Norm norm) {
  // norm, iterative, targeted, needs_gradients, query_based, randomized
  static const AttackCapabilities linf{Norm::Linf, true, false, false, true, true};
  static const AttackCapabilities l2{Norm::L2, true, false, false, true, true};
  return norm == Norm::Linf ? linf : l2;
}

class Square final : public Attack {
 public:
  explicit Square(SquareOptions o) : o_(std::move(o)) {}

  std::string spec() const override {
    return format_attack_spec("square", {{"norm", o_.norm == Norm::Linf ? "linf" : "l2"},
                                         {"queries", std::to_string(o_.queries)},
                                         {"p_init", o_.p_init.text},
                                         {"restarts", std::to_string(o_.restarts)},
                                         {"loss", loss_name(o_.loss)}});
  }
  const AttackCapabilities& capabilities() const override { return square_capabilities(o_.norm); }
  AttackSettings settings(double) const override { return {o_.queries, o_.restarts, 0.0, true, true, o_.loss}; }
  AttackOutput run(const Model& model, const AttackBatch& batch, double eps, bool /*check_final*/) const override {
    // The final check decides which points take their best image (as the original), so it always runs.
    return square_attack(model, batch, eps, o_);
  }
  std::unique_ptr<Attack> with_doubled_iterations() const override {
    auto doubled = o_;
    doubled.queries *= 2;
    return std::make_unique<Square>(doubled);
  }

 private:
  SquareOptions o_;
};

}  // namespace square_attack_detail

// The table's explicit-options entry: Linf, config.steps queries, per-sample streams.
AttackOutput run_square(const Model& model, const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor&,
                        const AttackConfig& config, const std::vector<uint64_t>& sample_seeds) {
  square_attack_detail::SquareOptions o;
  o.queries = config.steps;
  o.restarts = std::max(1, config.restarts);
  o.loss = config.loss == LossKind::CrossEntropy ? LossKind::CrossEntropy : LossKind::Margin;
  AttackBatch batch{x, labels, torch::Tensor(), sample_seeds};
  return square_attack_detail::square_attack(model, batch, config.eps, o);
}

// Options: norm (linf|l2), queries, p_init, restarts, loss (margin|ce). Defaults: AutoAttack's standard version.
std::unique_ptr<Attack> make_square(const AttackSpec& spec, const AttackDefaults&) {
  SpecReader read(spec);
  square_attack_detail::SquareOptions o;
  o.norm = read.choice("norm", "linf", {"linf", "l2"}) == "linf" ? Norm::Linf : Norm::L2;
  o.queries = read.integer("queries", 5000, 1);
  o.p_init = read.fraction("p_init", o.p_init, 1.0);
  QB_USAGE_CHECK(o.p_init.value > 0, "square option p_init must be > 0");
  o.restarts = read.integer("restarts", 1, 1);
  o.loss = parse_loss(read.choice("loss", "margin", {"margin", "ce"}));
  read.finish();
  if (o.p_init.text.empty()) o.p_init.text = shortest_decimal(o.p_init.value);
  return std::make_unique<square_attack_detail::Square>(o);
}

}  // namespace questbench
