// zoom_blur (standard, blur): mean of the image and its clipped zooms by 1, 1+step, ... (np.arange lists,
// so the unzoomed image counts twice), in float32 like the reference.
#include "corruptions/ops.h"

namespace questbench::corruption {

torch::Tensor zoom_blur(const torch::Tensor& x, const Call& call) {
  // np.arange(1, stop, step) as (step, count): ImageNet-C 1.11/.01, 1.16/.01, 1.21/.02, 1.26/.02, 1.31/.03;
  // CIFAR-10-C and Tiny 1.06 ... 1.26 in steps of .01.
  static const double step_imagenet[5] = {0.01, 0.01, 0.02, 0.02, 0.03}, step_small[5] = {0.01, 0.01, 0.01, 0.01, 0.01};
  static const int count_imagenet[5] = {12, 16, 11, 13, 11}, count_small[5] = {7, 12, 16, 21, 26};
  const double step = pick(call, step_imagenet, step_small, step_small);
  const int count = pick(call, count_imagenet, count_small, count_small);
  auto x32 = x.to(torch::kFloat);
  auto sum = torch::zeros_like(x32);
  auto x32_as_f64 = x32.to(torch::kDouble);  // scipy zooms the float32 values, in float64
  for (int i = 0; i < count; ++i) sum += clipped_zoom(x32_as_f64, 1.0 + i * step).to(torch::kFloat);
  return ((x32 + sum) / static_cast<float>(count + 1)).to(torch::kDouble);
}

}  // namespace questbench::corruption
