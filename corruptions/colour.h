// scikit-image's HSV conversions (internal), for brightness and saturate.
#pragma once

#include "corruptions/ops.h"

namespace questbench::corruption {

// scikit-image rgb2hsv / hsv2rgb on [N, 3, H, W] (hue in [0,1)).
struct Hsv {
  torch::Tensor h, s, v;  // [N, H, W]
};
Hsv rgb_to_hsv(const torch::Tensor& x);
torch::Tensor hsv_to_rgb(const Hsv& hsv);
// The HSV round trip with one channel changed, as one per-pixel loop over a CPU [N, 3, H, W] float64 tensor
// (the same operations as rgb_to_hsv / hsv_to_rgb): Value: v = clip(v + a, 0, 1); Saturation:
// s = clip(s·a + b, 0, 1).
enum class HsvChannel { Value, Saturation };
torch::Tensor hsv_adjust_cpu(const torch::Tensor& x, HsvChannel channel, double a, double b);
// The same per pixel from float32 planes [3, plane] to finished float32 output planes (PixelsFunction).
void hsv_adjust_planes(const float* in, float* out, int64_t plane, HsvChannel channel, double a, double b, bool quantize);

}  // namespace questbench::corruption
