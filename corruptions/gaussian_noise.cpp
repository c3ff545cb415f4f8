// gaussian_noise (standard, noise): x + N(0, c²) drawn per pixel and channel from the image's own stream.
#include "corruptions/ops.h"

namespace questbench::corruption {

torch::Tensor gaussian_noise(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {.08, .12, 0.18, 0.26, 0.38}, tiny[5] = {.04, .08, .12, .15, .18},
                      cifar[5] = {0.04, 0.06, .08, .09, .10};
  const double c = pick(call, imagenet, tiny, cifar);
  const std::vector<int64_t> shape = {x.size(1), x.size(2), x.size(3)};
  // c·N(0, 1) from the image's fast stream (see per_image_draws); x is added in place.
  return per_image_draws(call.rng_seeds, shape, Draw::StandardNormal, c, x.device()).add_(x);
}

}  // namespace questbench::corruption
