// speckle_noise (extra, noise): multiplicative Gaussian noise x + x·N(0, c²), per pixel and channel.
#include "corruptions/ops.h"

namespace questbench::corruption {

torch::Tensor speckle_noise(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {.15, .2, 0.35, 0.45, 0.6}, tiny[5] = {.15, .2, 0.25, 0.3, 0.35},
                      cifar[5] = {.06, .1, .12, .16, .2};
  const double c = pick(call, imagenet, tiny, cifar);
  const std::vector<int64_t> shape = {x.size(1), x.size(2), x.size(3)};
  // x + x·n, as (n·x) + x in place (the same two roundings).
  return per_image_draws(call.rng_seeds, shape, Draw::StandardNormal, c, x.device())
      .mul_(x)
      .add_(x);
}

}  // namespace questbench::corruption
