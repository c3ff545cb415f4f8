// shot_noise (standard, noise): Poisson(x·c) / c per pixel and channel (c = photon scale; larger = milder).
// Poisson draws run on the CPU generator of each image, then move to the images' device.
#include "corruptions/ops.h"

#include <ATen/CPUGeneratorImpl.h>

namespace questbench::corruption {

torch::Tensor shot_noise(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {60, 25, 12, 5, 3}, tiny[5] = {250, 100, 50, 30, 15}, cifar[5] = {500, 250, 100, 75, 50};
  const double c = pick(call, imagenet, tiny, cifar);
  auto rates = (x * c).to(torch::kCPU);
  auto out = torch::empty_like(rates);
  parallel_images(rates.size(0), [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(call.rng_seeds[static_cast<size_t>(i)]);
      out[i].copy_(torch::poisson(rates[i], gen));
    }
  });
  return out.to(x.device()).div_(c);
}

}  // namespace questbench::corruption
