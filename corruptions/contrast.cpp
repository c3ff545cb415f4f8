// contrast (standard, digital): (x - mean) · c + mean with the per-image, per-channel spatial mean.
#include "corruptions/ops.h"

namespace questbench::corruption {

torch::Tensor contrast(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {0.4, .3, .2, .1, .05}, tiny[5] = {.4, .3, .2, .1, 0.05}, cifar[5] = {.75, .5, .4, .3, 0.15};
  const double c = pick(call, imagenet, tiny, cifar);
  auto means = x.mean({2, 3}, /*keepdim=*/true);
  return (x - means) * c + means;
}

}  // namespace questbench::corruption
