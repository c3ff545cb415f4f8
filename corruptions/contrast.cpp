// contrast (standard, digital): (x - mean) · c + mean with the per-image, per-channel spatial mean.
#include "corruptions/ops.h"

namespace questbench::corruption {

torch::Tensor contrast(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {0.4, .3, .2, .1, .05}, tiny[5] = {.4, .3, .2, .1, 0.05}, cifar[5] = {.75, .5, .4, .3, 0.15};
  const double c = pick(call, imagenet, tiny, cifar);
  auto means = x.mean({2, 3}, /*keepdim=*/true);
  if (cpu_kernels(x, call)) {
    // (x - mean)·c + mean in one pass (three roundings, like the three tensor ops).
    auto in = x.contiguous();
    means = means.contiguous();
    auto out = torch::empty_like(in);
    const int64_t planes = in.size(0) * in.size(1), hw = in.size(2) * in.size(3);
    const double* src = in.data_ptr<double>();
    const double* m = means.data_ptr<double>();
    double* dst = out.data_ptr<double>();
    parallel_images(planes, [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; ++p)
        for (int64_t i = 0; i < hw; ++i) dst[p * hw + i] = (src[p * hw + i] - m[p]) * c + m[p];
    });
    return out;
  }
  return (x - means) * c + means;
}

}  // namespace questbench::corruption
