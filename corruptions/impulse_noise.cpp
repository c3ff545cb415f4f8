// impulse_noise (standard, noise): salt and pepper like skimage random_noise(mode='s&p'): each value of
// each channel is replaced with probability `amount`, by 1 or 0 with equal odds (coloured impulses).
#include "corruptions/ops.h"

namespace questbench::corruption {

torch::Tensor impulse_noise(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {.03, .06, .09, 0.17, 0.27}, tiny[5] = {.01, .02, .05, .08, .14},
                      cifar[5] = {.01, .02, .03, .05, .07};
  const double amount = pick(call, imagenet, tiny, cifar);
  const std::vector<int64_t> shape = {2, x.size(1), x.size(2), x.size(3)};
  auto draws = per_image_random(call.rng_seeds, [&](at::Generator& g) { return torch::rand(shape, g, f64()); }, x.device());
  auto flipped = draws.select(1, 0) < amount;
  auto salt = (draws.select(1, 1) < 0.5).to(torch::kDouble);
  return torch::where(flipped, salt, x);
}

}  // namespace questbench::corruption
