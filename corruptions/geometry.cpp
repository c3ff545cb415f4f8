// Zoom and motion blur; see geometry.h.
#include "corruptions/geometry.h"

#include "corruptions/filters.h"

#include <algorithm>
#include <cmath>

namespace questbench::corruption {

ZoomAxis zoom_axis(int64_t side, double z) {
  const int64_t span = static_cast<int64_t>(std::ceil(side / z));
  const int64_t top = (side - span) / 2;
  const int64_t out = static_cast<int64_t>(std::llround(span * z));
  const int64_t trim = (out - side) / 2;
  ZoomAxis a;
  a.lo.resize(static_cast<size_t>(side));
  a.hi.resize(static_cast<size_t>(side));
  a.t.resize(static_cast<size_t>(side));
  const double step = out > 1 ? static_cast<double>(span - 1) / static_cast<double>(out - 1) : 0.0;
  for (int64_t o = 0; o < side; ++o) {
    const double coord = static_cast<double>(o + trim) * step;
    int64_t l = static_cast<int64_t>(std::floor(coord));
    l = std::min(std::max(l, int64_t{0}), span - 1);
    a.lo[static_cast<size_t>(o)] = l + top;
    a.hi[static_cast<size_t>(o)] = std::min(l + 1, span - 1) + top;
    a.t[static_cast<size_t>(o)] = coord - static_cast<double>(l);
  }
  return a;
}

torch::Tensor clipped_zoom(const torch::Tensor& x, double z) {
  const int64_t h = x.size(2), w = x.size(3);
  const auto r = zoom_axis(h, z), c = zoom_axis(w, z);
  const auto dev = x.device();
  auto index = [&](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong).to(dev); };
  auto ty = torch::tensor(r.t, f64()).to(dev).view({1, 1, h, 1}).to(x.scalar_type());
  auto tx = torch::tensor(c.t, f64()).to(dev).view({1, 1, 1, w}).to(x.scalar_type());
  // lo + t·(hi - lo) as three rounded steps (the CPU loops do the same; torch::lerp may fuse them).
  auto lo = x.index_select(2, index(r.lo));
  auto rows = lo + ty * (x.index_select(2, index(r.hi)) - lo);
  auto left = rows.index_select(3, index(c.lo));
  return left + tx * (rows.index_select(3, index(c.hi)) - left);
}

namespace {

struct MotionTaps {
  std::vector<double> kernel;
  std::vector<int64_t> ox, oy;  // per image: width offsets each
};

MotionTaps motion_taps(double radius, double sigma, const std::vector<double>& angles_deg) {
  const int64_t width = 2 * static_cast<int64_t>(std::ceil(radius)) + 1;
  MotionTaps t;
  t.kernel.resize(static_cast<size_t>(width));
  double total = 0;
  for (int64_t i = 0; i < width; ++i) total += t.kernel[static_cast<size_t>(i)] = std::exp(-static_cast<double>(i * i) / (2 * sigma * sigma));
  for (auto& k : t.kernel) k /= total;
  for (double angle : angles_deg) {
    const double a = angle * M_PI / 180.0;
    for (int64_t i = 0; i < width; ++i) {
      t.ox.push_back(static_cast<int64_t>(std::ceil(static_cast<double>(i) * std::cos(a) - 0.5)));
      t.oy.push_back(static_cast<int64_t>(std::ceil(static_cast<double>(i) * std::sin(a) - 0.5)));
    }
  }
  return t;
}

// Per plane: the image padded with its edge pixels as far as this image's taps reach, then every output
// row accumulates the taps in order through weighted_taps (tap 0 = k0·x, then += k_i·x_i, rounded twice per
// tap like the tensor path), then floor(acc + 1e-6) clipped to 0..255.
torch::Tensor motion_blur_levels_cpu(const torch::Tensor& x, const MotionTaps& t) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), ch = in.size(1), h = in.size(2), w = in.size(3);
  const int64_t width = static_cast<int64_t>(t.kernel.size());
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  parallel_images(n * ch, [&](int64_t first, int64_t last) {
    std::vector<double> padded, acc(static_cast<size_t>(w));
    std::vector<int64_t> offsets(static_cast<size_t>(width));
    for (int64_t pl = first; pl < last; ++pl) {
      const int64_t img = pl / ch;
      const int64_t* ox = &t.ox[static_cast<size_t>(img * width)];
      const int64_t* oy = &t.oy[static_cast<size_t>(img * width)];
      int64_t top = 0, bottom = 0, left = 0, right = 0;
      for (int64_t i = 0; i < width; ++i)
        top = std::max(top, -oy[i]), bottom = std::max(bottom, oy[i]), left = std::max(left, -ox[i]), right = std::max(right, ox[i]);
      const int64_t ph = h + top + bottom, pw = w + left + right;
      padded.resize(static_cast<size_t>(ph * pw));
      const double* plane = src + pl * h * w;
      for (int64_t y = 0; y < ph; ++y) {
        const double* row = plane + std::min(std::max(y - top, int64_t{0}), h - 1) * w;
        double* p = padded.data() + y * pw;
        for (int64_t c = 0; c < left; ++c) p[c] = row[0];
        std::copy(row, row + w, p + left);
        for (int64_t c = left + w; c < pw; ++c) p[c] = row[w - 1];
      }
      for (int64_t i = 0; i < width; ++i) offsets[static_cast<size_t>(i)] = (top + oy[i]) * pw + left + ox[i];
      double* out_plane = dst + pl * h * w;
      for (int64_t y = 0; y < h; ++y) {
        weighted_taps(padded.data() + y * pw, offsets.data(), t.kernel.data(), width, acc.data(), w);
        double* o = out_plane + y * w;
        for (int64_t c = 0; c < w; ++c) {
          const double v = floor_exact(acc[static_cast<size_t>(c)] + 1e-6);
          o[c] = v < 0.0 ? 0.0 : (v > 255.0 ? 255.0 : v);
        }
      }
    }
  });
  return out;
}

}  // namespace

torch::Tensor motion_blur_levels(const torch::Tensor& x, double radius, double sigma, const std::vector<double>& angles_deg,
                                 Execution execution) {
  const auto taps = motion_taps(radius, sigma, angles_deg);
  if (execution == Execution::CpuLoops && x.is_cpu()) return motion_blur_levels_cpu(x, taps);
  const int64_t width = static_cast<int64_t>(taps.kernel.size());
  const int64_t h = x.size(2), w = x.size(3), p = width - 1;
  auto padded = pad2d(x, p, p, p, p, Border::Replicate);
  auto out = torch::empty_like(x);
  for (int64_t n = 0; n < x.size(0); ++n) {
    auto src = padded[n];
    auto acc = out[n];
    for (int64_t i = 0; i < width; ++i) {
      const int64_t ox = taps.ox[static_cast<size_t>(n * width + i)], oy = taps.oy[static_cast<size_t>(n * width + i)];
      auto term = src.narrow(1, p + oy, h).narrow(2, p + ox, w);
      // mul, then add: two roundings per tap, like the CPU loop (add_ with alpha may fuse them).
      if (i == 0)
        acc.copy_(term * taps.kernel[0]);
      else
        acc.add_(term * taps.kernel[static_cast<size_t>(i)]);
    }
  }
  // ImageMagick's result floors (checked against Wand: exact but for ~0.2 % of pixels off by one); the
  // small epsilon keeps flat regions, whose weighted sum is the level itself up to rounding, on that level.
  return torch::floor(out + 1e-6).clamp(0, 255);
}

}  // namespace questbench::corruption
