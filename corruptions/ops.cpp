// Shared helpers of the corruption files; see ops.h.
#include "corruptions/ops.h"

#include "common/error.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace questbench::corruption {

int64_t table_side(CorruptionTable table) {
  switch (table) {
    case CorruptionTable::Cifar32: return 32;
    case CorruptionTable::Tiny64: return 64;
    default: return 224;
  }
}

torch::TensorOptions f64() { return torch::TensorOptions().dtype(torch::kDouble); }

torch::Tensor per_image_random(const std::vector<uint64_t>& rng_seeds, const std::function<torch::Tensor(at::Generator&)>& fn,
                               torch::Device device) {
  std::vector<torch::Tensor> draws;
  draws.reserve(rng_seeds.size());
  for (uint64_t seed : rng_seeds) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    draws.push_back(fn(gen));
  }
  return torch::stack(draws).to(device);
}

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

torch::Tensor filter1d(const torch::Tensor& x, const torch::Tensor& weights, int64_t dim, Border border) {
  const int64_t taps = weights.size(0), r = taps / 2, n = x.size(dim);
  auto w = weights.to(torch::kCPU).to(torch::kDouble).contiguous();
  const double* wp = w.data_ptr<double>();
  if (taps == 1) return x * wp[0];
  if (taps > 31 || taps > n) {
    // Wide kernels (e.g. elastic's sigma 170 at 224): fold the bordered kernel into a dense n x n matrix.
    auto src = border_index(n, r, r, border, torch::kCPU);
    auto m = torch::zeros({n, n}, f64());
    auto ma = m.accessor<double, 2>();
    auto sa = src.accessor<int64_t, 1>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < taps; ++k) ma[i][sa[i + k]] += wp[k];
    m = m.to(x.device()).to(x.scalar_type());
    return dim == 3 ? torch::matmul(x, m.t()) : torch::matmul(m, x);
  }
  auto padded = dim == 2 ? pad2d(x, r, r, 0, 0, border) : pad2d(x, 0, 0, r, r, border);
  auto out = padded.narrow(dim, 0, n) * wp[0];
  for (int64_t k = 1; k < taps; ++k) out.add_(padded.narrow(dim, k, n), wp[k]);
  return out;
}

torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel, Border border) {
  const int64_t kh = kernel.size(0), kw = kernel.size(1), h = x.size(2), w = x.size(3);
  auto k = kernel.to(torch::kCPU).to(torch::kDouble).contiguous();
  auto ka = k.accessor<double, 2>();
  auto padded = pad2d(x, kh / 2, kh / 2, kw / 2, kw / 2, border);
  torch::Tensor out;
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j) {
      if (ka[i][j] == 0) continue;
      auto term = padded.narrow(2, i, h).narrow(3, j, w);
      if (!out.defined())
        out = term * ka[i][j];
      else
        out.add_(term, ka[i][j]);
    }
  return out.defined() ? out : torch::zeros_like(x);
}

torch::Tensor gaussian_weights(double sigma, double truncate) {
  if (sigma <= 0) return torch::ones({1}, f64());
  const int64_t radius = static_cast<int64_t>(truncate * sigma + 0.5);
  auto t = torch::arange(-radius, radius + 1, f64());
  auto w = torch::exp(-0.5 / (sigma * sigma) * t * t);
  return w / w.sum();
}

torch::Tensor gaussian_filter(const torch::Tensor& x, double sigma, Border border, double truncate) {
  auto w = gaussian_weights(sigma, truncate);
  return filter1d(filter1d(x, w, 2, border), w, 3, border);
}

namespace {

// One axis of the clipped zoom: (lower index, upper index, weight of upper) for each output position.
struct ZoomAxis {
  torch::Tensor lo, hi, t;
};

ZoomAxis zoom_axis(int64_t side, double z, torch::Device device) {
  const int64_t span = static_cast<int64_t>(std::ceil(side / z));
  const int64_t top = (side - span) / 2;
  const int64_t out = static_cast<int64_t>(std::llround(span * z));
  const int64_t trim = (out - side) / 2;
  std::vector<int64_t> lo(side), hi(side);
  std::vector<double> t(side);
  const double step = out > 1 ? static_cast<double>(span - 1) / static_cast<double>(out - 1) : 0.0;
  for (int64_t o = 0; o < side; ++o) {
    const double coord = static_cast<double>(o + trim) * step;
    int64_t l = static_cast<int64_t>(std::floor(coord));
    l = std::min(std::max(l, int64_t{0}), span - 1);
    lo[o] = l + top;
    hi[o] = std::min(l + 1, span - 1) + top;
    t[o] = coord - static_cast<double>(l);
  }
  return {torch::tensor(lo).to(device), torch::tensor(hi).to(device), torch::tensor(t, f64()).to(device)};
}

}  // namespace

torch::Tensor clipped_zoom(const torch::Tensor& x, double z) {
  const int64_t h = x.size(2), w = x.size(3);
  const auto r = zoom_axis(h, z, x.device()), c = zoom_axis(w, z, x.device());
  auto ty = r.t.view({1, 1, h, 1}).to(x.scalar_type()), tx = c.t.view({1, 1, 1, w}).to(x.scalar_type());
  auto rows = torch::lerp(x.index_select(2, r.lo), x.index_select(2, r.hi), ty);
  return torch::lerp(rows.index_select(3, c.lo), rows.index_select(3, c.hi), tx);
}

torch::Tensor motion_blur_levels(const torch::Tensor& x, double radius, double sigma, const std::vector<double>& angles_deg) {
  const int64_t width = 2 * static_cast<int64_t>(std::ceil(radius)) + 1;
  const int64_t h = x.size(2), w = x.size(3), p = width - 1;
  std::vector<double> kernel(width);
  double total = 0;
  for (int64_t i = 0; i < width; ++i) total += kernel[i] = std::exp(-static_cast<double>(i * i) / (2 * sigma * sigma));
  for (auto& k : kernel) k /= total;
  auto padded = pad2d(x, p, p, p, p, Border::Replicate);
  auto out = torch::empty_like(x);
  for (int64_t n = 0; n < x.size(0); ++n) {
    const double a = angles_deg[n] * M_PI / 180.0;
    auto src = padded[n];
    auto acc = out[n];
    for (int64_t i = 0; i < width; ++i) {
      const int64_t ox = static_cast<int64_t>(std::ceil(static_cast<double>(i) * std::cos(a) - 0.5));
      const int64_t oy = static_cast<int64_t>(std::ceil(static_cast<double>(i) * std::sin(a) - 0.5));
      auto term = src.narrow(1, p + oy, h).narrow(2, p + ox, w);
      if (i == 0)
        acc.copy_(term * kernel[0]);
      else
        acc.add_(term, kernel[i]);
    }
  }
  // ImageMagick's result floors (checked against Wand: exact but for ~0.2 % of pixels off by one); the
  // small epsilon keeps flat regions, whose weighted sum is the level itself up to rounding, on that level.
  return torch::floor(out + 1e-6).clamp(0, 255);
}

Hsv rgb_to_hsv(const torch::Tensor& x) {
  auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  auto v = torch::max(torch::max(r, g), b);
  auto delta = v - torch::min(torch::min(r, g), b);
  auto safe_delta = torch::where(delta == 0, torch::ones_like(delta), delta);
  auto s = torch::where(delta == 0, torch::zeros_like(v), delta / torch::where(v == 0, torch::ones_like(v), v));
  // skimage assigns the hue formula of the channel holding the max, with b overriding g overriding r.
  auto h = torch::where(b == v, 4.0 + (r - g) / safe_delta, torch::where(g == v, 2.0 + (b - r) / safe_delta, (g - b) / safe_delta));
  h = torch::remainder(h / 6.0, 1.0);
  h = torch::where(delta == 0, torch::zeros_like(h), h);
  return {h, s, v};
}

torch::Tensor hsv_to_rgb(const Hsv& c) {
  auto hi = torch::floor(c.h * 6.0);
  auto f = c.h * 6.0 - hi;
  auto p = c.v * (1.0 - c.s), q = c.v * (1.0 - f * c.s), t = c.v * (1.0 - (1.0 - f) * c.s);
  auto sector = torch::remainder(hi, 6.0);
  auto select = [&](const torch::Tensor* options) {
    auto out = options[5];
    for (int k = 4; k >= 0; --k) out = torch::where(sector == k, options[k], out);
    return out;
  };
  const torch::Tensor r_opts[6] = {c.v, q, p, p, t, c.v};
  const torch::Tensor g_opts[6] = {t, c.v, c.v, q, p, p};
  const torch::Tensor b_opts[6] = {p, p, t, c.v, c.v, q};
  return torch::stack({select(r_opts), select(g_opts), select(b_opts)}, 1);
}

namespace {

constexpr int kPrecisionBits = 22;  // Pillow's 8-bit resampling precision (32 - 8 - 2)

// Pillow's BOX coefficients for `in` -> `out` samples as fixed-point integers in a dense [out, in] matrix.
torch::Tensor box_coefficients(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);
  const double support = 0.5 * filterscale;
  auto k = torch::zeros({out, in}, f64());
  auto acc = k.accessor<double, 2>();
  for (int64_t xx = 0; xx < out; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const int64_t xmin = std::max<int64_t>(0, static_cast<int64_t>(center - support + 0.5));
    const int64_t xmax = std::min<int64_t>(in, static_cast<int64_t>(center + support + 0.5));
    std::vector<double> w;
    double total = 0;
    for (int64_t x = xmin; x < xmax; ++x) {
      const double arg = (static_cast<double>(x) - center + 0.5) / filterscale;
      const double v = arg > -0.5 && arg <= 0.5 ? 1.0 : 0.0;
      w.push_back(v);
      total += v;
    }
    for (int64_t x = xmin; x < xmax; ++x) {
      const double normalized = total != 0 ? w[x - xmin] / total : 0.0;
      acc[xx][x] = static_cast<double>(static_cast<int64_t>(0.5 + normalized * (1 << kPrecisionBits)));
    }
  }
  return k;
}

torch::Tensor resample_last(const torch::Tensor& x, int64_t out) {
  auto k = box_coefficients(x.size(-1), out).to(x.device());
  auto acc = torch::matmul(x, k.t()) + static_cast<double>(1 << (kPrecisionBits - 1));
  return torch::clamp(torch::floor(acc / static_cast<double>(1 << kPrecisionBits)), 0, 255);
}

}  // namespace

torch::Tensor pil_box_resize(const torch::Tensor& levels, int64_t out_h, int64_t out_w) {
  auto y = levels;
  if (out_w != y.size(3)) y = resample_last(y, out_w);
  if (out_h != y.size(2)) y = resample_last(y.transpose(2, 3), out_h).transpose(2, 3);
  return y;
}

}  // namespace questbench::corruption
