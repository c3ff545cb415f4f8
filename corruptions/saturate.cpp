// saturate (extra, digital): S = S·c0 + c1 in scikit-image's HSV, clipped to [0,1] (severities 1-2
// desaturate, 3-5 oversaturate, as in the reference).
#include "corruptions/colour.h"

#include <utility>

namespace questbench::corruption {

static std::pair<double, double> saturate_constants(const Call& call) {
  static const double scale_imagenet[5] = {0.3, 0.1, 2, 5, 20}, scale_tiny[5] = {0.3, 0.1, 2, 5, 30},
                      scale_cifar[5] = {0.3, 0.1, 1.5, 2, 2.5};
  static const double add_all[5] = {0, 0, 0, 0.1, 0.2};
  return {pick(call, scale_imagenet, scale_tiny, scale_cifar), pick(call, add_all, add_all, add_all)};
}

torch::Tensor saturate(const torch::Tensor& x, const Call& call) {
  const auto [scale, add] = saturate_constants(call);
  if (cpu_kernels(x, call)) return hsv_adjust_cpu(x, HsvChannel::Saturation, scale, add);
  auto hsv = rgb_to_hsv(x);
  hsv.s = torch::clamp(hsv.s * scale + add, 0.0, 1.0);
  return hsv_to_rgb(hsv);
}

void saturate_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t, const Call& call) {
  const int64_t plane = height * width;
  const auto [scale, add] = saturate_constants(call);
  hsv_adjust_planes(in, out, plane, HsvChannel::Saturation, scale, add, call.options.quantize);
}

}  // namespace questbench::corruption
