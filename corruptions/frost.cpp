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
  // Per image: texture, top, left, each what torch::randint(0, range, {1}, gen) draws (32-bit random() % range).
  const int64_t n = x.size(0);
  std::vector<int64_t> pick_k(static_cast<size_t>(n)), pick_top(static_cast<size_t>(n)), pick_left(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(call.rng_seeds[static_cast<size_t>(i)]);
    auto* g = at::check_generator<at::CPUGeneratorImpl>(gen);
    auto draw = [&](int64_t range) {
      QB_CHECK(range > 0, "frost: texture not larger than the image");
      return static_cast<int64_t>(g->random() % static_cast<uint64_t>(range));
    };
    const int64_t k = draw(5);
    const auto& t = textures[static_cast<size_t>(k)];
    pick_k[static_cast<size_t>(i)] = k;
    pick_top[static_cast<size_t>(i)] = draw(t.size(1) - h);
    pick_left[static_cast<size_t>(i)] = draw(t.size(2) - w);
  }
  if (cpu_kernels(x, call)) {
    // wi·x + (wf·crop)/255 straight from the textures (two roundings per product, like the tensor ops).
    auto in = x.contiguous();
    auto out = torch::empty_like(in);
    parallel_images(n, [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        const auto& t = textures[static_cast<size_t>(pick_k[static_cast<size_t>(i)])];
        const int64_t th = t.size(1), tw = t.size(2), top = pick_top[static_cast<size_t>(i)], left = pick_left[static_cast<size_t>(i)];
        const double* tex = t.data_ptr<double>();
        const double* xi = in.data_ptr<double>() + i * 3 * h * w;
        double* o = out.data_ptr<double>() + i * 3 * h * w;
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t r = 0; r < h; ++r) {
            const double* trow = tex + (c * th + top + r) * tw + left;
            for (int64_t q = 0; q < w; ++q) {
              const int64_t p = (c * h + r) * w + q;
              o[p] = wi * xi[p] + wf * trow[q] / 255.0;
            }
          }
      }
    });
    return out;
  }
  std::vector<torch::Tensor> crops;
  for (int64_t i = 0; i < n; ++i) {
    const auto& t = textures[static_cast<size_t>(pick_k[static_cast<size_t>(i)])];
    crops.push_back(t.narrow(1, pick_top[static_cast<size_t>(i)], h).narrow(2, pick_left[static_cast<size_t>(i)], w));
  }
  auto frost_layer = torch::stack(crops).to(x.device());
  return wi * x + wf * frost_layer / 255.0;
}

}  // namespace questbench::corruption
