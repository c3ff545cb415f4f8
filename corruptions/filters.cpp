// Borders and correlation filters; see filters.h.
#include "corruptions/filters.h"

#include "common/error.h"

#include <algorithm>

namespace questbench::corruption {

torch::Tensor border_index(int64_t n, int64_t before, int64_t after, Border border, torch::Device device) {
  std::vector<int64_t> idx;
  idx.reserve(static_cast<size_t>(n + before + after));
  for (int64_t p = -before; p < n + after; ++p) {
    int64_t q = p;
    if (border == Border::Replicate || n == 1) {
      q = std::min(std::max(p, int64_t{0}), n - 1);
    } else if (border == Border::Reflect101) {
      const int64_t period = 2 * n - 2;
      q = ((p % period) + period) % period;
      if (q >= n) q = period - q;
    } else {
      const int64_t period = 2 * n;
      q = ((p % period) + period) % period;
      if (q >= n) q = period - 1 - q;
    }
    idx.push_back(q);
  }
  return torch::tensor(idx, torch::kLong).to(device);
}

torch::Tensor pad2d(const torch::Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right, Border border) {
  auto y = x;
  if (top || bottom) y = y.index_select(2, border_index(x.size(2), top, bottom, border, x.device()));
  if (left || right) y = y.index_select(3, border_index(x.size(3), left, right, border, x.device()));
  return y;
}

std::vector<int64_t> border_vector(int64_t n, int64_t before, int64_t after, Border border) {
  auto t = border_index(n, before, after, border, torch::kCPU);
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

QB_WITH_AVX2_CLONE void weighted_taps(const double* s, const int64_t* offsets, const double* weights, int64_t taps, double* out,
                                      int64_t n) {
  int64_t c = 0;
  for (; c + 32 <= n; c += 32) {  // eight accumulators: the add latency is hidden, loads bound the loop
    const double* p = s + offsets[0] + c;
    const double w0 = weights[0];
    Vec4 a[8];
    for (int j = 0; j < 8; ++j) a[j] = QB_LOAD4(p + 4 * j) * w0;
    for (int64_t t = 1; t < taps; ++t) {
      const double* q = s + offsets[t] + c;
      const double wt = weights[t];
      for (int j = 0; j < 8; ++j) a[j] = a[j] + QB_LOAD4(q + 4 * j) * wt;
    }
    for (int j = 0; j < 8; ++j) QB_STORE4(out + c + 4 * j, a[j]);
  }
  for (; c + 16 <= n; c += 16) {
    const double* p = s + offsets[0] + c;
    const double w0 = weights[0];
    Vec4 a0 = QB_LOAD4(p) * w0, a1 = QB_LOAD4(p + 4) * w0, a2 = QB_LOAD4(p + 8) * w0, a3 = QB_LOAD4(p + 12) * w0;
    for (int64_t t = 1; t < taps; ++t) {
      const double* q = s + offsets[t] + c;
      const double wt = weights[t];
      a0 = a0 + QB_LOAD4(q) * wt;
      a1 = a1 + QB_LOAD4(q + 4) * wt;
      a2 = a2 + QB_LOAD4(q + 8) * wt;
      a3 = a3 + QB_LOAD4(q + 12) * wt;
    }
    QB_STORE4(out + c, a0);
    QB_STORE4(out + c + 4, a1);
    QB_STORE4(out + c + 8, a2);
    QB_STORE4(out + c + 12, a3);
  }
  for (; c + 4 <= n; c += 4) {
    Vec4 a = QB_LOAD4(s + offsets[0] + c) * weights[0];
    for (int64_t t = 1; t < taps; ++t) a = a + QB_LOAD4(s + offsets[t] + c) * weights[t];
    QB_STORE4(out + c, a);
  }
  for (; c < n; ++c) {
    double a = s[offsets[0] + c] * weights[0];
    for (int64_t t = 1; t < taps; ++t) a = a + s[offsets[t] + c] * weights[t];
    out[c] = a;
  }
}

namespace {

// filter1d's shifted-add path on every [h, w] plane of a contiguous CPU tensor.
torch::Tensor filter1d_cpu(const torch::Tensor& x, const double* wp, int64_t taps, int64_t dim, Border border) {
  auto in = x.contiguous();
  const int64_t h = in.size(2), w = in.size(3), planes = in.numel() / (h * w), r = taps / 2;
  const auto idx = border_vector(dim == 2 ? h : w, r, r, border);
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  parallel_images(planes, [&](int64_t first, int64_t last) {
    std::vector<double> pad(static_cast<size_t>(w + 2 * r));
    std::vector<int64_t> offsets(static_cast<size_t>(taps));
    if (dim == 3)
      for (int64_t k = 0; k < taps; ++k) offsets[static_cast<size_t>(k)] = k;
    for (int64_t pl = first; pl < last; ++pl) {
      const double* s = src + pl * h * w;
      double* d = dst + pl * h * w;
      for (int64_t y = 0; y < h; ++y) {
        if (dim == 3) {
          const double* row = s + y * w;
          for (int64_t j = 0; j < w + 2 * r; ++j) pad[static_cast<size_t>(j)] = row[idx[static_cast<size_t>(j)]];
          weighted_taps(pad.data(), offsets.data(), wp, taps, d + y * w, w);
        } else {
          for (int64_t k = 0; k < taps; ++k) offsets[static_cast<size_t>(k)] = idx[static_cast<size_t>(y + k)] * w;
          weighted_taps(s, offsets.data(), wp, taps, d + y * w, w);
        }
      }
    }
  });
  return out;
}

// A wide pass: the bordered kernel as a dense [n, n] matrix, one matrix product along `dim`.
torch::Tensor filter1d_dense(const torch::Tensor& x, const double* wp, int64_t taps, int64_t dim, Border border) {
  const int64_t n = x.size(dim);
  auto src = border_index(n, taps / 2, taps / 2, border, torch::kCPU);
  auto m = torch::zeros({n, n}, f64());
  auto ma = m.accessor<double, 2>();
  auto sa = src.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < taps; ++k) ma[i][sa[i + k]] += wp[k];
  m = m.to(x.device()).to(x.scalar_type());
  return dim == 3 ? torch::matmul(x, m.t()) : torch::matmul(m, x);
}

// out += term · weight with the rounding asked for.
void add_tap(torch::Tensor& out, const torch::Tensor& term, double weight, TapRounding rounding) {
  if (rounding == TapRounding::Fused)
    out.add_(term, weight);
  else
    out.add_(term * weight);
}

// Whether the CPU loops take x (else the tensor ops, the same bits).
bool loops_for(const torch::Tensor& x, TapRounding rounding, Execution execution) {
  if (execution != Execution::CpuLoops) return false;
  QB_CHECK(rounding == TapRounding::TwoRoundings, "filters: the CPU loops round every tap twice (TapRounding::TwoRoundings)");
  return x.is_cpu() && x.scalar_type() == torch::kDouble;
}

struct Tap {  // kernel row i, column j, weight k
  int64_t i, j;
  double k;
};

}  // namespace

torch::Tensor filter1d(const torch::Tensor& x, const torch::Tensor& weights, int64_t dim, Border border, TapRounding rounding,
                       Execution execution) {
  const int64_t taps = weights.size(0), r = taps / 2, n = x.size(dim);
  auto w = weights.to(torch::kCPU).to(torch::kDouble).contiguous();
  const double* wp = w.data_ptr<double>();
  if (taps == 1) return x * wp[0];
  if (taps > kMaxSummedTaps || taps > n) return filter1d_dense(x, wp, taps, dim, border);
  if (loops_for(x, rounding, execution)) return filter1d_cpu(x, wp, taps, dim, border);
  auto padded = dim == 2 ? pad2d(x, r, r, 0, 0, border) : pad2d(x, 0, 0, r, r, border);
  auto out = padded.narrow(dim, 0, n) * wp[0];
  for (int64_t k = 1; k < taps; ++k) add_tap(out, padded.narrow(dim, k, n), wp[k], rounding);
  return out;
}

torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel, Border border, TapRounding rounding, Execution execution) {
  const int64_t kh = kernel.size(0), kw = kernel.size(1), h = x.size(2), w = x.size(3);
  auto k = kernel.to(torch::kCPU).to(torch::kDouble).contiguous();
  auto ka = k.accessor<double, 2>();
  std::vector<Tap> taps;
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j)
      if (ka[i][j] != 0) taps.push_back({i, j, ka[i][j]});
  if (taps.empty()) return torch::zeros_like(x);
  if (loops_for(x, rounding, execution)) {
    auto in = x.contiguous();
    const int64_t planes = in.numel() / (h * w), ph = h + kh - 1, pw = w + kw - 1;
    const auto rows = border_vector(h, kh / 2, kh / 2, border), cols = border_vector(w, kw / 2, kw / 2, border);
    auto out = torch::empty_like(in);
    const double* src = in.data_ptr<double>();
    double* dst = out.data_ptr<double>();
    const int64_t count = static_cast<int64_t>(taps.size());
    std::vector<int64_t> offsets;
    std::vector<double> weights;
    for (const auto& t : taps) offsets.push_back(t.i * pw + t.j), weights.push_back(t.k);
    parallel_images(planes, [&](int64_t first, int64_t last) {
      std::vector<double> pad(static_cast<size_t>(ph * pw));
      for (int64_t pl = first; pl < last; ++pl) {
        const double* s = src + pl * h * w;
        for (int64_t y = 0; y < ph; ++y)
          for (int64_t c = 0; c < pw; ++c) pad[static_cast<size_t>(y * pw + c)] = s[rows[static_cast<size_t>(y)] * w + cols[static_cast<size_t>(c)]];
        double* d = dst + pl * h * w;
        for (int64_t y = 0; y < h; ++y) weighted_taps(pad.data() + y * pw, offsets.data(), weights.data(), count, d + y * w, w);
      }
    });
    return out;
  }
  auto padded = pad2d(x, kh / 2, kh / 2, kw / 2, kw / 2, border);
  auto out = padded.narrow(2, taps[0].i, h).narrow(3, taps[0].j, w) * taps[0].k;
  for (size_t t = 1; t < taps.size(); ++t) add_tap(out, padded.narrow(2, taps[t].i, h).narrow(3, taps[t].j, w), taps[t].k, rounding);
  return out;
}

torch::Tensor gaussian_weights(double sigma, double truncate) {
  if (sigma <= 0) return torch::ones({1}, f64());
  const int64_t radius = static_cast<int64_t>(truncate * sigma + 0.5);
  auto t = torch::arange(-radius, radius + 1, f64());
  auto w = torch::exp(-0.5 / (sigma * sigma) * t * t);
  return w / w.sum();
}

torch::Tensor gaussian_filter(const torch::Tensor& x, double sigma, Border border, double truncate, TapRounding rounding,
                              Execution execution) {
  auto w = gaussian_weights(sigma, truncate);
  return filter1d(filter1d(x, w, 2, border, rounding, execution), w, 3, border, rounding, execution);
}

}  // namespace questbench::corruption
