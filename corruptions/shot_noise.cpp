// shot_noise (standard, noise): Poisson(x·c) / c per pixel and channel (c = photon scale; larger = milder).
// Poisson draws run on the CPU generator of each image, then move to the images' device.
#include "corruptions/ops.h"

#include <ATen/CPUGeneratorImpl.h>

namespace questbench::corruption {

torch::Tensor shot_noise(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {60, 25, 12, 5, 3}, tiny[5] = {250, 100, 50, 30, 15}, cifar[5] = {500, 250, 100, 75, 50};
  const double c = pick(call, imagenet, tiny, cifar);
  auto rates = (x * c).to(torch::kCPU);
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < call.rng_seeds.size(); ++i) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(call.rng_seeds[i]);
    out.push_back(torch::poisson(rates[static_cast<int64_t>(i)], gen));
  }
  return torch::stack(out).to(x.device()) / c;
}

}  // namespace questbench::corruption
