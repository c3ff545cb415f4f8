// frost (standard, weather): clip(image_weight · x + frost_weight · texture crop) on the 0..255 scale.
// As in the reference, each image picks one of five textures (the reference's frost1.png .. frost5.jpg;
// frost2 and frost3 decode to the same pixels) and a random crop; the texture is shrunk first for small
// images (CIFAR 0.2, Tiny 0.3 with OpenCV's bilinear resize). Textures come from CorruptionOptions::frost_dir
// (the original photos, which questbench does not ship) or, by default, from frost_texture.cpp's
// procedural generator, which mimics each photo's size and statistics.
#include "corruptions/frost_texture.h"
#include "corruptions/ops.h"

#include "common/error.h"

#include <ATen/CPUGeneratorImpl.h>

namespace questbench::corruption {

torch::Tensor frost(const torch::Tensor& x, const Call& call) {
  static const double image_imagenet[5] = {1, 0.8, 0.7, 0.65, 0.6}, frost_imagenet[5] = {0.4, 0.6, 0.7, 0.7, 0.75};
  static const double image_tiny[5] = {1, 0.9, 0.8, 0.75, 0.7}, frost_tiny[5] = {0.3, 0.4, 0.45, 0.5, 0.55};
  static const double image_cifar[5] = {1, 1, 0.9, 0.85, 0.75}, frost_cifar[5] = {0.2, 0.3, 0.4, 0.4, 0.45};
  const double wi = pick(call, image_imagenet, image_tiny, image_cifar), wf = pick(call, frost_imagenet, frost_tiny, frost_cifar);
  const int64_t h = x.size(2), w = x.size(3);
  const auto& textures = frost_textures(call.options.frost_dir, frost_texture_scale(call.table, h, w), h, w);
  std::vector<torch::Tensor> crops;
  for (uint64_t seed : call.rng_seeds) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    const int64_t k = torch::randint(0, 5, {1}, gen, torch::kLong).item<int64_t>();
    const auto& t = textures[static_cast<size_t>(k)];
    const int64_t top = torch::randint(0, t.size(1) - h, {1}, gen, torch::kLong).item<int64_t>();
    const int64_t left = torch::randint(0, t.size(2) - w, {1}, gen, torch::kLong).item<int64_t>();
    crops.push_back(t.narrow(1, top, h).narrow(2, left, w));
  }
  auto frost_layer = torch::stack(crops).to(x.device());
  return wi * x + wf * frost_layer / 255.0;
}

}  // namespace questbench::corruption
