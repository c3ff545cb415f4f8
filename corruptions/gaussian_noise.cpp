// gaussian_noise (standard, noise): x + N(0, c²) drawn per pixel and channel from the image's own stream.
#include "corruptions/streams.h"

#include <algorithm>

namespace questbench::corruption {
namespace {

double noise_std(const Call& call) {
  static const double imagenet[5] = {.08, .12, 0.18, 0.26, 0.38}, tiny[5] = {.04, .08, .12, .15, .18},
                      cifar[5] = {0.04, 0.06, .08, .09, .10};
  return pick(call, imagenet, tiny, cifar);
}

}  // namespace

torch::Tensor gaussian_noise(const torch::Tensor& x, const Call& call) {
  const std::vector<int64_t> shape = {x.size(1), x.size(2), x.size(3)};
  // c·N(0, 1) from the image's fast stream (see per_image_draws); x is added in place.
  return per_image_draws(call.rng_seeds, shape, Draw::StandardNormal, noise_std(call), x.device()).add_(x);
}

void gaussian_noise_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t image, const Call& call) {
  noise_pixels(in, out, 3 * height * width, call.rng_seeds[static_cast<size_t>(image)], Draw::StandardNormal, noise_std(call),
               call.options.quantize, [](double x, double noise) { return noise + x; });
}

}  // namespace questbench::corruption
