// impulse_noise (standard, noise): salt and pepper like skimage random_noise(mode='s&p'): each value of
// each channel is replaced with probability `amount`, by 1 or 0 with equal odds (coloured impulses).
#include "corruptions/ops.h"

namespace questbench::corruption {

torch::Tensor impulse_noise(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {.03, .06, .09, 0.17, 0.27}, tiny[5] = {.01, .02, .05, .08, .14},
                      cifar[5] = {.01, .02, .03, .05, .07};
  const double amount = pick(call, imagenet, tiny, cifar);
  const std::vector<int64_t> shape = {2, x.size(1), x.size(2), x.size(3)};
  auto draws = per_image_draws(call.rng_seeds, shape, Draw::Uniform01, 1.0, x.device());
  if (cpu_kernels(x, call)) {
    // One pass: flipped values become salt (1) or pepper (0).
    auto in = x.contiguous();
    auto out = torch::empty_like(in);
    const int64_t per = in[0].numel();
    const double* d = draws.data_ptr<double>();
    const double* src = in.data_ptr<double>();
    double* dst = out.data_ptr<double>();
    parallel_images(in.size(0), [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        const double* flip = d + 2 * i * per;
        const double* salt = flip + per;
        for (int64_t k = 0; k < per; ++k) dst[i * per + k] = flip[k] < amount ? (salt[k] < 0.5 ? 1.0 : 0.0) : src[i * per + k];
      }
    });
    return out;
  }
  auto flipped = draws.select(1, 0) < amount;
  auto salt = (draws.select(1, 1) < 0.5).to(torch::kDouble);
  return torch::where(flipped, salt, x);
}

}  // namespace questbench::corruption
