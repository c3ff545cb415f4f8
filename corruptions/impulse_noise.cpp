// impulse_noise (standard, noise): salt and pepper like skimage random_noise(mode='s&p'): each value of
// each channel is replaced with probability `amount`, by 1 or 0 with equal odds (coloured impulses). One
// uniform u per value decides both, with skimage's probabilities: u < amount/2 salt, amount/2 <= u < amount
// pepper, else unchanged.
#include "corruptions/streams.h"

#include <algorithm>

namespace questbench::corruption {
namespace {

double flip_amount(const Call& call) {
  static const double imagenet[5] = {.03, .06, .09, 0.17, 0.27}, tiny[5] = {.01, .02, .05, .08, .14},
                      cifar[5] = {.01, .02, .03, .05, .07};
  return pick(call, imagenet, tiny, cifar);
}

}  // namespace

torch::Tensor impulse_noise(const torch::Tensor& x, const Call& call) {
  const double amount = flip_amount(call);
  const std::vector<int64_t> shape = {x.size(1), x.size(2), x.size(3)};
  auto u = per_image_draws(call.rng_seeds, shape, Draw::Uniform01, 1.0, x.device());
  return torch::where(u < amount, (u < amount * 0.5).to(torch::kDouble), x);
}

void impulse_noise_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t image, const Call& call) {
  const double amount = flip_amount(call), salt = amount * 0.5;
  noise_pixels(in, out, 3 * height * width, call.rng_seeds[static_cast<size_t>(image)], Draw::Uniform01, 1.0, call.options.quantize,
               [=](double x, double u) { return u < amount ? (u < salt ? 1.0 : 0.0) : x; });
}

}  // namespace questbench::corruption
