// gaussian_noise, shot_noise, impulse_noise, speckle_noise: per-pixel, per-channel noise drawn from each
// image's own generator (float64, like NumPy).
#include "corruptions/corrupt.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace questbench {
namespace {

std::vector<int64_t> image_shape(const torch::Tensor& x) { return {x.size(1), x.size(2), x.size(3)}; }

torch::Tensor normal_noise(const torch::Tensor& x, const std::vector<uint64_t>& seeds, double std) {
  const auto shape = image_shape(x);
  return per_image_random(
      seeds, [&](at::Generator& g) { return torch::normal(0.0, std, shape, g, torch::TensorOptions().dtype(torch::kDouble)); },
      x.device());
}

}  // namespace

torch::Tensor gaussian_noise(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>& seeds) {
  static const double imagenet[5] = {.08, .12, 0.18, 0.26, 0.38}, tiny[5] = {.04, .08, .12, .15, .18},
                      cifar[5] = {0.04, 0.06, .08, .09, .10};
  return x + normal_noise(x, seeds, table_value(table, severity, imagenet, tiny, cifar));
}

torch::Tensor speckle_noise(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>& seeds) {
  static const double imagenet[5] = {.15, .2, 0.35, 0.45, 0.6}, tiny[5] = {.15, .2, 0.25, 0.3, 0.35},
                      cifar[5] = {.06, .1, .12, .16, .2};
  return x + x * normal_noise(x, seeds, table_value(table, severity, imagenet, tiny, cifar));
}

torch::Tensor shot_noise(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>& seeds) {
  static const double imagenet[5] = {60, 25, 12, 5, 3}, tiny[5] = {250, 100, 50, 30, 15}, cifar[5] = {500, 250, 100, 75, 50};
  const double c = table_value(table, severity, imagenet, tiny, cifar);
  auto rates = (x * c).to(torch::kCPU);
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < seeds.size(); ++i) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seeds[i]);
    out.push_back(torch::poisson(rates[static_cast<int64_t>(i)], gen));
  }
  return torch::stack(out).to(x.device()) / c;
}

torch::Tensor impulse_noise(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>& seeds) {
  static const double imagenet[5] = {.03, .06, .09, 0.17, 0.27}, tiny[5] = {.01, .02, .05, .08, .14},
                      cifar[5] = {.01, .02, .03, .05, .07};
  const double amount = table_value(table, severity, imagenet, tiny, cifar);
  const auto shape = image_shape(x);
  // Two uniform fields per image: which values flip, and whether a flipped value is salt (1) or pepper (0).
  auto draws = per_image_random(
      seeds,
      [&](at::Generator& g) {
        return torch::stack({torch::rand(shape, g, torch::TensorOptions().dtype(torch::kDouble)),
                             torch::rand(shape, g, torch::TensorOptions().dtype(torch::kDouble))});
      },
      x.device());
  auto flipped = draws.select(1, 0) < amount;
  auto salt = draws.select(1, 1) < 0.5;
  return torch::where(flipped, salt.to(torch::kDouble), x);
}

}  // namespace questbench
