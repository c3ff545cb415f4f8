// brightness (standard, weather): V += c in scikit-image's HSV, clipped to [0,1].
#include "corruptions/colour.h"

namespace questbench::corruption {

static double brightness_shift(const Call& call) {
  static const double imagenet[5] = {.1, .2, .3, .4, .5}, tiny[5] = {.1, .2, .3, .4, .5}, cifar[5] = {.05, .1, .15, .2, .3};
  return pick(call, imagenet, tiny, cifar);
}

torch::Tensor brightness(const torch::Tensor& x, const Call& call) {
  const double c = brightness_shift(call);
  if (cpu_kernels(x, call)) return hsv_adjust_cpu(x, HsvChannel::Value, c, 0.0);
  auto hsv = rgb_to_hsv(x);
  hsv.v = torch::clamp(hsv.v + c, 0.0, 1.0);
  return hsv_to_rgb(hsv);
}

void brightness_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t, const Call& call) {
  const int64_t plane = height * width;
  hsv_adjust_planes(in, out, plane, HsvChannel::Value, brightness_shift(call), 0.0, call.options.quantize);
}

}  // namespace questbench::corruption
