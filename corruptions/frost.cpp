// frost (standard, weather): clip(image_weight · x + frost_weight · texture crop) on the 0..255 scale.
// As in the reference, each image picks one of five textures (the reference's frost1.png .. frost5.jpg;
// frost2 and frost3 decode to the same pixels) and a random crop; the texture is shrunk first for small
// images (CIFAR 0.2, Tiny 0.3 with OpenCV's bilinear resize). Textures come from CorruptionOptions::frost_dir
// (the original photos, which questbench does not ship) or, by default, from frost_texture.cpp's
// procedural generator, which mimics each photo's size and statistics.
#include "corruptions/frost_texture.h"
#include "corruptions/finish.h"

#include "common/error.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>
#include <utility>
#include <vector>

namespace questbench::corruption {
namespace {

struct FrostWeights {
  double image, frost;
};

FrostWeights frost_weights(const Call& call) {
  static const double image_imagenet[5] = {1, 0.8, 0.7, 0.65, 0.6}, frost_imagenet[5] = {0.4, 0.6, 0.7, 0.7, 0.75};
  static const double image_tiny[5] = {1, 0.9, 0.8, 0.75, 0.7}, frost_tiny[5] = {0.3, 0.4, 0.45, 0.5, 0.55};
  static const double image_cifar[5] = {1, 1, 0.9, 0.85, 0.75}, frost_cifar[5] = {0.2, 0.3, 0.4, 0.4, 0.45};
  return {pick(call, image_imagenet, image_tiny, image_cifar), pick(call, frost_imagenet, frost_tiny, frost_cifar)};
}

// One image's texture and crop: texture, top, left, each what torch::randint(0, range, {1}, gen) draws
// (32-bit random() % range) from the image's generator.
struct FrostCrop {
  const torch::Tensor* texture;
  int64_t top, left;
};

FrostCrop frost_crop(uint64_t seed, const std::vector<torch::Tensor>& textures, int64_t h, int64_t w) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto* g = at::check_generator<at::CPUGeneratorImpl>(gen);
  auto draw = [&](int64_t range) {
    QB_CHECK(range > 0, "frost: texture not larger than the image");
    return static_cast<int64_t>(g->random() % static_cast<uint64_t>(range));
  };
  const auto& t = textures[static_cast<size_t>(draw(5))];
  const int64_t top = draw(t.size(1) - h);
  return {&t, top, draw(t.size(2) - w)};
}

const std::vector<torch::Tensor>& textures_for(const Call& call, int64_t h, int64_t w) {
  return frost_textures(call.options.frost_dir, frost_texture_scale(call.table, h, w), h, w);
}

// The 8-bit copy of a texture (its values are 8-bit levels: the photos' pixels or the generator's rounded ones),
// made once per texture: the pixels path reads a byte per value instead of a double, the same numbers.
const uint8_t* texture_bytes(const torch::Tensor& texture) {
  static std::mutex mutex;
  static std::vector<std::pair<const void*, torch::Tensor>> copies;
  std::lock_guard<std::mutex> lock(mutex);
  for (const auto& [key, bytes] : copies)
    if (key == texture.data_ptr()) return bytes.data_ptr<uint8_t>();
  auto bytes = texture.to(torch::kByte).contiguous();
  QB_CHECK(torch::equal(bytes.to(torch::kDouble), texture), "frost: a texture holds values that are not 8-bit levels");
  copies.emplace_back(texture.data_ptr(), bytes);
  return copies.back().second.data_ptr<uint8_t>();
}

}  // namespace

torch::Tensor frost(const torch::Tensor& x, const Call& call) {
  const auto [wi, wf] = frost_weights(call);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const auto& textures = textures_for(call, h, w);
  std::vector<torch::Tensor> crops;
  for (int64_t i = 0; i < n; ++i) {
    const auto c = frost_crop(call.rng_seeds[static_cast<size_t>(i)], textures, h, w);
    crops.push_back(c.texture->narrow(1, c.top, h).narrow(2, c.left, w));
  }
  auto frost_layer = torch::stack(crops).to(x.device());
  return wi * x + div_exact(wf * frost_layer, 255.0);
}

void frost_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t image, const Call& call) {
  const int64_t plane = height * width, h = height, w = width;
  const auto [wi, wf] = frost_weights(call);
  const auto crop = frost_crop(call.rng_seeds[static_cast<size_t>(image)], textures_for(call, h, w), h, w);
  const int64_t th = crop.texture->size(1), tw = crop.texture->size(2);
  const uint8_t* tex = texture_bytes(*crop.texture);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < h; ++r) {
      const uint8_t* trow = tex + (c * th + crop.top + r) * tw + crop.left;
      const float* s = in + c * plane + r * w;
      finish_in_chunks(out + c * plane + r * w, w, call.options.quantize, [&](int64_t first, int64_t n, double* v) {
        for (int64_t q = first; q < first + n; ++q) v[q - first] = wi * static_cast<double>(s[q]) + wf * static_cast<double>(trow[q]) / 255.0;
      });
    }
}

}  // namespace questbench::corruption
