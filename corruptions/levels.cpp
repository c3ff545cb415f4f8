// 8-bit level round trips and Pillow's BOX resize; see levels.h.
#include "corruptions/levels.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>

namespace questbench::corruption {

torch::Tensor levels_round_trip_cpu(const torch::Tensor& x, const std::function<void(uint8_t* levels)>& fn) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), per_image = in[0].numel();
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  const double* values = level_table<double>();
  parallel_images(n, [&](int64_t first, int64_t last) {
    std::vector<uint8_t> levels(static_cast<size_t>(per_image));
    for (int64_t i = first; i < last; ++i) {
      const double* s = src + i * per_image;
      for (int64_t k = 0; k < per_image; ++k) levels[static_cast<size_t>(k)] = static_cast<uint8_t>(rint_nonneg((s[k] < 0.0 ? 0.0 : (s[k] > 1.0 ? 1.0 : s[k])) * 255.0));
      fn(levels.data());
      double* d = dst + i * per_image;
      for (int64_t k = 0; k < per_image; ++k) d[k] = values[levels[static_cast<size_t>(k)]];
    }
  });
  return out;
}

QB_WITH_AVX512_CLONE void unit_to_levels(const float* in, uint8_t* out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<uint8_t>(static_cast<int32_t>(rint_nonneg(static_cast<double>(in[k]) * 255.0)));
}

QB_WITH_AVX512_CLONE void levels_to_unit(const uint8_t* in, float* out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<float>(in[k]) / 255.0f;
}

QB_WITH_AVX512_CLONE void interleave_rgb(const uint8_t* __restrict planar, uint8_t* __restrict interleaved, int64_t plane) {
  for (int64_t p = 0; p < plane; ++p)
    interleaved[3 * p] = planar[p], interleaved[3 * p + 1] = planar[plane + p], interleaved[3 * p + 2] = planar[2 * plane + p];
}

QB_WITH_AVX512_CLONE void planar_rgb(const uint8_t* __restrict interleaved, uint8_t* __restrict planar, int64_t plane) {
  for (int64_t p = 0; p < plane; ++p)
    planar[p] = interleaved[3 * p], planar[plane + p] = interleaved[3 * p + 1], planar[2 * plane + p] = interleaved[3 * p + 2];
}

PilTaps pil_box_taps(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);
  const double support = 0.5 * filterscale;
  PilTaps t;
  t.stride = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.assign(static_cast<size_t>(out), 0);
  t.count.assign(static_cast<size_t>(out), 0);
  t.coeff.assign(static_cast<size_t>(out * t.stride), 0);
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
    QB_CHECK(xmax - xmin <= t.stride, "pixelate: BOX support " << xmax - xmin << " exceeds " << t.stride);
    t.first[xx] = xmin;
    t.count[xx] = xmax - xmin;
    for (int64_t x = xmin; x < xmax; ++x) {
      const double normalized = total != 0 ? w[x - xmin] / total : 0.0;
      t.coeff[xx * t.stride + (x - xmin)] = static_cast<int64_t>(0.5 + normalized * (1 << kPilPrecisionBits));
    }
  }
  return t;
}

namespace {

constexpr int kPrecisionBits = kPilPrecisionBits;

// Pillow's BOX coefficients for `in` -> `out` samples as fixed-point integers in a dense [out, in] matrix.
torch::Tensor box_coefficients(int64_t in, int64_t out) {
  const auto taps = pil_box_taps(in, out);
  auto k = torch::zeros({out, in}, f64());
  auto acc = k.accessor<double, 2>();
  for (int64_t xx = 0; xx < out; ++xx)
    for (int64_t j = 0; j < taps.count[xx]; ++j) acc[xx][taps.first[xx] + j] = static_cast<double>(taps.coeff[xx * taps.stride + j]);
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
