// impulse_noise (standard, noise): salt and pepper like skimage random_noise(mode='s&p'): each value of
// each channel is replaced with probability `amount`, by 1 or 0 with equal odds (coloured impulses). One
// uniform u per value decides both, with skimage's probabilities: u < amount/2 salt, amount/2 <= u < amount
// pepper, else unchanged.
#include "corruptions/ops.h"

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
  const int64_t plane = height * width;
  DrawStream stream(call.rng_seeds[static_cast<size_t>(image)]);
  const double amount = flip_amount(call), salt = amount * 0.5;
  finish_in_chunks(out, 3 * plane, call.options.quantize, [&](int64_t first, int64_t n, double* v) {
    stream.fill(Draw::Uniform01, 1.0, v, n);
    for (int64_t k = 0; k < n; ++k) v[k] = v[k] < amount ? (v[k] < salt ? 1.0 : 0.0) : static_cast<double>(in[first + k]);
  });
}

}  // namespace questbench::corruption
