// Box-constrained projections onto a hyperplane for FAB. Every step re-expresses the original's tensor program
// (fra31/auto-attack fab_projections.py) op for op: float32 rounding of the cumulative sums decides which
// breakpoint the bisection lands on, so a reordered sum would not reproduce the original's iterates bit for bit.
// Boolean-mask indexing is done once per mask through its index list (index_select / index_put_ gather and
// scatter the same values as the original's repeated x[mask]).
#include "attacks/fab_projections.h"

#include <torch/torch.h>

#include <cmath>

namespace questbench {
namespace fab_projection_impl {  // named: the library is a unity build

using torch::indexing::Slice;

// +1 where the condition holds, -1 elsewhere, float: multiplying by it is exact, like the original's int signs.
torch::Tensor plus_minus_one(const torch::Tensor& condition) {
  return condition.to(torch::kFloat) * 2 - 1;
}

// The number of bisection steps over D breakpoints.
int bisection_steps(int64_t dims) { return static_cast<int>(std::ceil(std::log2(static_cast<double>(dims)))); }

}  // namespace fab_projection_impl

using fab_projection_impl::bisection_steps;
using fab_projection_impl::plus_minus_one;
using torch::indexing::Slice;

torch::Tensor fab_project_linf(const torch::Tensor& points, const torch::Tensor& w_in, const torch::Tensor& b_in) {
  const auto& t = points;
  const int64_t dims = w_in.size(1);
  // Orient each hyperplane so that the point lies on its non-negative side.
  const auto wt = (w_in * t).sum(1);
  const auto sign = plus_minus_one((wt - b_in) >= 0);
  const auto w = w_in * sign.unsqueeze(1);
  auto b = b_in * sign;

  // Coordinates move towards the box face the hyperplane's normal points away from: 1 where w < 0, 0 where w > 0.
  const auto face = (w < 0).to(torch::kFloat);
  const auto nonzero_w = (w != 0).to(torch::kFloat);
  auto d = (face - t) * nonzero_w;  // the largest move per coordinate (to the face)
  // Distance of each coordinate to its face: the Linf radius at which that coordinate saturates.
  const auto p = face - t * (2 * face - 1);
  // torch's default (not stable) sort, as the original: the order of ties decides the cumulative sums' rounding.
  const auto order = torch::argsort(p, /*dim=*/1, /*descending=*/false);

  // (w_flipped * t).sum(1) equals sign * wt exactly: negating every product negates the sum without new rounding.
  b = b - wt * sign;
  const auto b0 = (w * d).sum(1);  // the largest reachable <w, d>

  const auto order_desc = order.flip({1});
  const auto w_sorted = w.gather(1, order_desc);
  const auto wd_sorted = -w_sorted * d.gather(1, order_desc);
  const auto s = torch::cumsum(w_sorted.abs(), 1);
  const auto sb = torch::cumsum(wd_sorted, 1) + b0.unsqueeze(1);

  // Even the smallest radius (every coordinate free) cannot reach the hyperplane: all coordinates go to their face.
  const auto b2_all = sb.select(1, dims - 1) - s.select(1, dims - 1) * p.gather(1, order.index({Slice(), Slice(0, 1)})).squeeze(1);
  const auto c_l = (b - b2_all) > 0;
  // The hyperplane is reachable inside the box: bisect for the breakpoint where the radius saturates.
  const auto c2 = ((b - b0) > 0) & (~c_l);
  const auto rows2 = c2.nonzero().squeeze(1);
  const int64_t n2 = rows2.size(0);

  auto lb = torch::zeros({n2}, t.options());
  auto ub = torch::full_like(lb, static_cast<double>(dims - 1));
  const auto order_2 = order.index_select(0, rows2);
  const auto sb_2 = sb.index_select(0, rows2);
  const auto s_2 = s.index_select(0, rows2);
  const auto p_2 = p.index_select(0, rows2);
  const auto b_2 = b.index_select(0, rows2);
  for (int step = 0; step < bisection_steps(dims); ++step) {
    const auto mid = torch::floor((lb + ub) / 2);
    const auto mid_index = mid.to(torch::kLong).unsqueeze(1);
    const auto current = order_2.gather(1, order_2.size(1) - 1 - mid_index);
    const auto b2 = (sb_2.gather(1, mid_index) - s_2.gather(1, mid_index) * p_2.gather(1, current)).squeeze(1);
    const auto above = (b_2 - b2) > 0;
    lb = torch::where(above, mid, lb);
    ub = torch::where(above, ub, mid);
  }
  const auto lb_index = lb.to(torch::kLong);

  if (c_l.any().item<bool>()) {
    const auto rows_l = c_l.nonzero().squeeze(1);
    const auto lmbd = torch::clamp_min((b.index_select(0, rows_l) - sb.select(1, dims - 1).index_select(0, rows_l)) /
                                           (-s.select(1, dims - 1).index_select(0, rows_l)),
                                       0)
                          .unsqueeze(-1);
    d.index_put_({rows_l}, (2 * face.index_select(0, rows_l) - 1) * lmbd);
  }

  const auto lmbd = torch::clamp_min((b_2 - sb.index({rows2, lb_index})) / (-s.index({rows2, lb_index})), 0).unsqueeze(-1);
  const auto d_2 = d.index_select(0, rows2);
  const auto face_2 = face.index_select(0, rows2);
  d.index_put_({rows2}, torch::min(lmbd, d_2) * face_2 + torch::max(-lmbd, d_2) * (1 - face_2));

  return d * nonzero_w;
}

torch::Tensor fab_project_l2(const torch::Tensor& points, const torch::Tensor& w_in, const torch::Tensor& b_in) {
  const auto& t = points;
  const int64_t dims = w_in.size(1);
  auto c = (w_in * t).sum(1) - b_in;  // signed violation of the hyperplane
  const auto sign = plus_minus_one(c >= 0);
  const auto w = w_in * sign.unsqueeze(1);
  c = c * sign;

  // Per coordinate, the step length along -w at which it hits the box; coordinates with w ~ 0 never do.
  auto r = torch::max(t / w, (t - 1) / w).clamp(-1e12, 1e12);
  const auto tiny_w = w.abs() < 1e-8;
  r.masked_fill_(tiny_w, 1e12);
  r.masked_fill_(r == -1e12, 1e12);
  auto sorted = torch::sort(r, /*dim=*/1, /*descending=*/false);
  auto rs = std::get<0>(sorted);
  const auto indr = std::get<1>(sorted);
  auto rs2 = torch::constant_pad_nd(rs.index({Slice(), Slice(1, torch::indexing::None)}), {0, 1});
  rs.masked_fill_(rs == 1e12, 0);
  rs2.masked_fill_(rs2 == 1e12, 0);

  const auto w3s = w.pow(2).gather(1, indr);
  const auto w5 = w3s.sum(1, true);
  const auto ws = w5 - torch::cumsum(w3s, 1);
  auto d = -(r * w);
  const auto big_w = (w.abs() > 1e-8).to(torch::kFloat);
  d.mul_(big_w);
  const auto rs_first = rs.index({Slice(), Slice(0, 1)});
  // s[k]: <w, move> after the first k coordinates saturated (cumulative, as the original sums it).
  const auto s = torch::cat({-w5 * rs_first, torch::cumsum((-rs2 + rs) * ws, 1) - w5 * rs_first}, 1);

  const auto c4 = (s.select(1, 0) + c) < 0;          // reached before any coordinate saturates
  const auto c3 = ((d * w).sum(1) + c) > 0;          // not reachable even with every coordinate at its face
  const auto c2 = ~(c4 | c3);
  const auto rows2 = c2.nonzero().squeeze(1);
  const int64_t n2 = rows2.size(0);

  auto lb = torch::zeros({n2}, t.options());
  auto ub = torch::full_like(lb, static_cast<double>(dims - 1));
  const auto s_2 = s.index_select(0, rows2);
  const auto c_2 = c.index_select(0, rows2);
  for (int step = 0; step < bisection_steps(dims); ++step) {
    const auto mid = torch::floor((lb + ub) / 2);
    const auto mid_index = mid.to(torch::kLong).unsqueeze(1);
    const auto above = (s_2.gather(1, mid_index).squeeze(1) + c_2) > 0;
    lb = torch::where(above, mid, lb);
    ub = torch::where(above, ub, mid);
  }
  const auto lb_index = lb.to(torch::kLong);

  if (c4.any().item<bool>()) {
    const auto rows4 = c4.nonzero().squeeze(1);
    const auto alpha = c.index_select(0, rows4) / w5.index_select(0, rows4).squeeze(-1);
    d.index_put_({rows4}, -alpha.unsqueeze(-1) * w.index_select(0, rows4));
  }
  if (n2 > 0) {
    const auto ws_at = ws.index({rows2, lb_index});
    auto alpha = (s.index({rows2, lb_index}) + c_2) / ws_at + rs.index({rows2, lb_index});
    alpha.masked_fill_(ws_at == 0, 0);
    const auto c5 = (alpha.unsqueeze(-1) > r.index_select(0, rows2)).to(torch::kFloat);
    d.index_put_({rows2}, d.index_select(0, rows2) * c5 - alpha.unsqueeze(-1) * w.index_select(0, rows2) * (1 - c5));
  }
  return d * big_w;
}

}  // namespace questbench
