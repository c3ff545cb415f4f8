// shot_noise (standard, noise): Poisson(x·c) / c per pixel and channel (c = photon scale; larger = milder).
// Poisson draws run on the CPU from each image's fast stream (fill_poisson), then move to the images' device.
#include "corruptions/ops.h"

#include <ATen/CPUGeneratorImpl.h>

namespace questbench::corruption {

torch::Tensor shot_noise(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {60, 25, 12, 5, 3}, tiny[5] = {250, 100, 50, 30, 15}, cifar[5] = {500, 250, 100, 75, 50};
  const double c = pick(call, imagenet, tiny, cifar);
  auto rates = (x * c).to(torch::kCPU).contiguous();
  auto out = torch::empty_like(rates);
  const int64_t per_image = rates[0].numel();
  const double* r = rates.data_ptr<double>();
  double* o = out.data_ptr<double>();
  parallel_images(rates.size(0), [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) fill_poisson(call.rng_seeds[static_cast<size_t>(i)], r + i * per_image, o + i * per_image, per_image);
  });
  return out.to(x.device()).div_(c);
}

}  // namespace questbench::corruption
