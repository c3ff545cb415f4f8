// ImageNet-C-style corruptions (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
// Corruptions and Perturbations", ICLR 2019), reimplemented with LibTorch tensor ops.
//
//   torch::Tensor out = corrupt(images, "gaussian_noise", 3, seeds, options);
//   images: float [N, C, H, W] in [0,1], C = 1 or 3, any device -> same shape, dtype and device.
//   seeds: one per image (e.g. image_seeds(run_seed, first_index, n)); each image's random stream is derived
//   from (its seed, corruption, severity), so an image's output never depends on the batch it is in.
//
// Conventions (corruptions/README.md): computed in float64 like the NumPy reference; output floored to 8-bit
// levels (the reference's np.uint8 truncation) unless quantize is off; grayscale images are corrupted as gray
// RGB (three equal channels) and returned as the channel mean; the parameter table is chosen by image size
// (Auto) or by name; jpeg_compression (and the imagenet_c_jpeg option) run libjpeg on the CPU.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace questbench {

enum class CorruptionTable { Auto, ImageNet224, Tiny64, Cifar32 };

CorruptionTable parse_corruption_table(const std::string& name);  // auto | imagenet | tiny | cifar (or 224 | 64 | 32)
std::string corruption_table_name(CorruptionTable table);
// Auto rule: min(H, W) <= 48 -> CIFAR-10-C, <= 128 -> Tiny-ImageNet-C, else ImageNet-C.
CorruptionTable resolve_table(CorruptionTable table, int64_t height, int64_t width);

struct CorruptionOptions {
  CorruptionTable table = CorruptionTable::Auto;
  bool quantize = true;          // floor to 8-bit levels like the reference's np.uint8
  bool imagenet_c_jpeg = false;  // re-save as JPEG quality 85, like the released ImageNet-C files
  std::string frost_dir;         // folder with the original frost1.png .. frost5.jpg; empty = procedural textures
  // CPU images: plain C++ loops for the hot steps (same bits as the tensor ops, tested). Off = tensor ops only,
  // the path other devices take (for tests).
  bool cpu_kernels = true;
};

namespace corruption {
struct Call;
}

// Per-corruption function: x is float64 [N, 3, H, W] in [0,1] on any device; returns float64 [N, 3, H, W],
// not yet clipped (corrupt() clips and quantizes).
using CorruptionFunction = torch::Tensor (*)(const torch::Tensor& x, const corruption::Call& call);

// Optional CPU shortcut of a corruption that works on 8-bit levels anyway (pixelate, JPEG): one image's
// planar [3, H, W] levels round(x·255), corrupted in place. corrupt() then reads the float input and writes
// the output directly, without the float64 copies; the same bytes as `apply` (tested).
using LevelsFunction = void (*)(uint8_t* levels, int64_t height, int64_t width, const corruption::Call& call);
// Optional CPU shortcut of a corruption that is pointwise or works per image (noise, brightness, contrast,
// saturate, frost, fog, JPEG) on 3-channel float32 images: image `image` of the call (its seed is
// call.rng_seeds[image]) as planes [3, height·width] in, its finished output (clipped, floored to 8 bits when
// quantizing) out, with the float64 arithmetic and random draws of `apply` but without its float64 copies;
// the same bytes (tested). corrupt() tries it before `levels`.
using PixelsFunction = void (*)(const float* in, float* out, int64_t height, int64_t width, int64_t image,
                               const corruption::Call& call);

struct CorruptionInfo {
  std::string name;
  std::string group;  // "standard" (the 15 of ImageNet-C) | "extra" (speckle_noise, gaussian_blur, spatter, saturate)
  std::string kind;   // noise | blur | weather | digital
  bool stochastic;    // draws random numbers (deterministic ones give the same bytes for every seed)
  CorruptionFunction apply;
  LevelsFunction levels = nullptr;
  PixelsFunction pixels = nullptr;
};

// The 19 corruptions in the reference's order (0 gaussian_noise ... 14 jpeg_compression, 15 speckle_noise ...
// 18 saturate).
const std::vector<CorruptionInfo>& corruption_table();
// Throws UsageError naming the input and listing the valid names.
const CorruptionInfo& find_corruption(const std::string& name);

// Validates (rank, channels, range, NaN, severity 1..5, one seed per image) and applies one corruption.
torch::Tensor corrupt(const torch::Tensor& images, const std::string& name, int severity, const std::vector<uint64_t>& seeds,
                      const CorruptionOptions& options = {});

// "all" | "standard" | "extra" | comma-separated names -> names in table order for the groups, as given for
// a list. Throws UsageError naming an unknown name.
std::vector<std::string> parse_corruption_list(const std::string& spec);
// "1-5" | "2" | "1,3,5" -> severities; throws UsageError for anything outside 1..5 or malformed.
std::vector<int> parse_severity_list(const std::string& spec);

// Seeds for images first_index .. first_index + count - 1 of a data set under one run seed.
std::vector<uint64_t> image_seeds(uint64_t run_seed, int64_t first_index, int64_t count);
// The seed of an image's private generator for one (corruption, severity).
uint64_t corruption_stream_seed(uint64_t image_seed, const std::string& name, int severity);

// JPEG encode/decode round trip (CPU, libjpeg called directly, 4:2:0) of float64 RGB [N, 3, H, W] in [0,1]
// holding 8-bit levels; returns float64 levels / 255 on the input's device.
torch::Tensor jpeg_round_trip(const torch::Tensor& x, int quality, bool cpu_kernels = true);

}  // namespace questbench
