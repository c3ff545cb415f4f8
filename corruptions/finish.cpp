// The clip-and-quantize finish of the corruptions' outputs; see finish.h.
#include "corruptions/finish.h"

#include "common/error.h"

#include <ATen/Parallel.h>

#include <type_traits>

namespace questbench::corruption {

QB_WITH_AVX2_CLONE void finish_levels(const double* values, float* out, int64_t n, bool quantize) {
  const Vec4 zero = {0, 0, 0, 0}, one = {1, 1, 1, 1};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    Vec4 v = QB_LOAD4(values + i);
    v = v < zero ? zero : v;  // a NaN lane fails both tests and stays NaN
    v = v > one ? one : v;
    Vec4f r = __builtin_convertvector(v, Vec4f);
    if (quantize) {
      const Vec4f level = __builtin_convertvector(__builtin_convertvector(v * 255.0, Vec4i), Vec4f) / 255.0f;
      const Vec4i is_nan = __builtin_convertvector(static_cast<Vec4l>(v != v), Vec4i);
      r = is_nan ? r : level;
    }
    std::memcpy(out + i, &r, sizeof r);
  }
  const float* levels = level_table<float>();
  for (; i < n; ++i) out[i] = finish_level(values[i], quantize, levels);
}

namespace {

template <typename T>
void finish_rgb_cpu(const double* src, T* dst, int64_t count, bool quantize) {
  const T* levels = level_table<T>();
  at::parallel_for(0, count, 1 << 14, [&](int64_t first, int64_t last) {
    if constexpr (std::is_same_v<T, float>) {
      finish_levels(src + first, dst + first, last - first, quantize);
    } else {
      for (int64_t i = first; i < last; ++i) dst[i] = finish_level(src[i], quantize, levels);
    }
  });
}

template <typename T>
void finish_gray_cpu(const double* src, T* dst, int64_t images, int64_t plane, bool quantize) {
  const T* levels = level_table<T>();
  const double* channel_levels = level_table<double>();
  at::parallel_for(0, images * plane, 1 << 13, [&](int64_t first, int64_t last) {
    for_plane_runs(first, last, plane, [&](int64_t i, int64_t p) {
      const double* s = src + i * 3 * plane + p;
      dst[i * plane + p] = finish_gray(finish_level(s[0], quantize, channel_levels), finish_level(s[plane], quantize, channel_levels),
                                       finish_level(s[2 * plane], quantize, channel_levels), quantize, levels);
    });
  });
}

}  // namespace

void finish_cpu(const torch::Tensor& y, const torch::Tensor& out, bool quantize) {
  QB_CHECK(y.scalar_type() == torch::kDouble, "corrupt: a corruption returned " << y.scalar_type() << ", not float64");
  const double* src = y.data_ptr<double>();
  const bool gray = out.size(1) == 1;
  const int64_t plane = y.size(2) * y.size(3);
  if (out.scalar_type() == torch::kFloat)
    gray ? finish_gray_cpu(src, out.data_ptr<float>(), y.size(0), plane, quantize) : finish_rgb_cpu(src, out.data_ptr<float>(), y.numel(), quantize);
  else
    gray ? finish_gray_cpu(src, out.data_ptr<double>(), y.size(0), plane, quantize) : finish_rgb_cpu(src, out.data_ptr<double>(), y.numel(), quantize);
}

torch::Tensor finish_tensor(torch::Tensor y, bool quantize) {
  y.clamp_(0.0, 1.0);
  if (quantize) return div_exact(y.mul_(255.0).floor_(), 255.0);
  return y;
}

torch::Tensor finish_gray_tensor(const torch::Tensor& y, bool quantize) {
  auto m = y.mean(1, /*keepdim=*/true);
  if (quantize) m = div_exact(m.mul_(255.0).add_(1e-9).floor_(), 255.0);
  return m;
}

}  // namespace questbench::corruption
