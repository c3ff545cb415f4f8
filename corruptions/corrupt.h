// ImageNet-C-style corruptions (Hendrycks & Dietterich 2019), reimplemented with LibTorch tensor ops.
//
//   torch::Tensor out = corrupt(images, "gaussian_noise", 3, seeds, options);
//   images: float [N, C, H, W] in [0,1], C = 1 or 3, any device -> same shape, dtype and device.
//   seeds: one per image (e.g. derived from run seed and data set index); each image's random stream is
//   derived from (its seed, corruption, severity), so an image's output never depends on the batch.
//
// Conventions (see corruptions/README.md): computations in float64 like the NumPy reference; output
// floored to 8-bit levels (the reference's np.uint8 truncation) unless quantize is off; grayscale
// images are corrupted as gray RGB (three equal channels) and converted back by the channel mean;
// the parameter table is chosen by image size (Table::Auto) or by name.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace questbench {

enum class CorruptionTable { Auto, ImageNet224, Tiny64, Cifar32 };

CorruptionTable parse_corruption_table(const std::string& name);  // auto | imagenet | tiny | cifar
std::string corruption_table_name(CorruptionTable table);
// Auto rule: min(H, W) <= 48 -> CIFAR-10-C, <= 128 -> Tiny-ImageNet-C, else ImageNet-C.
CorruptionTable resolve_table(CorruptionTable table, int64_t height, int64_t width);

struct CorruptionOptions {
  CorruptionTable table = CorruptionTable::Auto;
  bool quantize = true;         // floor to 8-bit levels like the reference's np.uint8
  bool imagenet_c_jpeg = false;  // re-save as JPEG quality 85, like the released ImageNet-C files
};

// Per-corruption function: x is float64 [N, 3, H, W] in [0,1] on any device; returns float64, unclipped
// (corrupt() clips and quantizes). `rng_seeds` are already specific to (image, corruption, severity).
using CorruptionFunction = torch::Tensor (*)(const torch::Tensor& x, int severity, CorruptionTable table,
                                             const std::vector<uint64_t>& rng_seeds);

struct CorruptionInfo {
  std::string name;
  std::string group;  // "standard" (the 15 of ImageNet-C) | "extra"
  bool stochastic;
  CorruptionFunction apply;
};

// In the reference's order: the 15 standard corruptions, then the 4 extras (implemented ones only).
const std::vector<CorruptionInfo>& corruption_table();
// Throws UsageError listing the valid names.
const CorruptionInfo& find_corruption(const std::string& name);

// Validates (rank, channels, range, NaN, severity 1..5) and applies one corruption.
torch::Tensor corrupt(const torch::Tensor& images, const std::string& name, int severity, const std::vector<uint64_t>& seeds,
                      const CorruptionOptions& options = {});

// Random helpers shared by the stochastic corruptions: one CPU generator per image.
uint64_t corruption_stream_seed(uint64_t image_seed, const std::string& name, int severity);
// Draws per image with its own generator and stacks: fn(generator) must return one image's tensor.
torch::Tensor per_image_random(const std::vector<uint64_t>& rng_seeds, const std::function<torch::Tensor(at::Generator&)>& fn,
                               torch::Device device);

// The severity's constant from the per-table rows (ImageNet-C 224, Tiny-ImageNet-C 64, CIFAR-10-C 32).
template <typename T>
T table_value(CorruptionTable table, int severity, const T (&imagenet)[5], const T (&tiny)[5], const T (&cifar)[5]) {
  const T* row = table == CorruptionTable::Cifar32 ? cifar : (table == CorruptionTable::Tiny64 ? tiny : imagenet);
  return row[severity - 1];
}

// JPEG encode/decode round trip (CPU, OpenCV/libjpeg) of float64 RGB images in [0,1] quantized to 8 bits.
torch::Tensor jpeg_round_trip(const torch::Tensor& x, int quality);

}  // namespace questbench
