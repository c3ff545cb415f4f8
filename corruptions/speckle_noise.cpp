// speckle_noise (extra, noise): multiplicative Gaussian noise x + x·N(0, c²), per pixel and channel.
#include "corruptions/streams.h"

#include <algorithm>

namespace questbench::corruption {
namespace {

double noise_std(const Call& call) {
  static const double imagenet[5] = {.15, .2, 0.35, 0.45, 0.6}, tiny[5] = {.15, .2, 0.25, 0.3, 0.35},
                      cifar[5] = {.06, .1, .12, .16, .2};
  return pick(call, imagenet, tiny, cifar);
}

}  // namespace

torch::Tensor speckle_noise(const torch::Tensor& x, const Call& call) {
  const std::vector<int64_t> shape = {x.size(1), x.size(2), x.size(3)};
  // x + x·n, as (n·x) + x in place (the same two roundings).
  return per_image_draws(call.rng_seeds, shape, Draw::StandardNormal, noise_std(call), x.device()).mul_(x).add_(x);
}

void speckle_noise_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t image, const Call& call) {
  noise_pixels(in, out, 3 * height * width, call.rng_seeds[static_cast<size_t>(image)], Draw::StandardNormal, noise_std(call),
               call.options.quantize, [](double x, double noise) { return noise * x + x; });
}

}  // namespace questbench::corruption
