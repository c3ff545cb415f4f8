// Timing of the corruptions (for `questbench bench corruptions` and BENCHMARKS.md): ms per image for every
// corruption and severity on a batch of `batch` copies of one image (or a smooth synthetic image), best of
// `repeats` runs after one untimed run per severity (which also builds the frost textures), on the spec's device.
#pragma once

#include "corruptions/corrupt.h"

#include <torch/types.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

namespace questbench {

struct CorruptionBenchSpec {
  int64_t side = 224;     // images are side x side RGB
  int64_t batch = 64;
  int repeats = 3;
  std::vector<std::string> names;  // empty = all 19
  torch::Tensor image;             // optional [3, H, W] in [0,1], resized to side x side; undefined = synthetic
  CorruptionOptions options;
  torch::Device device = torch::kCPU;  // the batch lives there; CUDA timings synchronize before each clock read
};

struct CorruptionTiming {
  std::string name;
  int64_t side;
  std::array<double, 5> ms_per_image;  // severities 1..5
  double mean_ms;                      // mean over the severities
};

// Progress goes through `progress` (one line per corruption); the function itself prints nothing.
std::vector<CorruptionTiming> bench_corruptions(const CorruptionBenchSpec& spec,
                                                const std::function<void(const CorruptionTiming&)>& progress = {});

// Floors measured on the same batch and threads, for the bound column of BENCHMARKS.md (ms per image):
// "copy": one float read + one float write of the batch (the memory floor of a one-pass per-pixel
// corruption); "normal_draws": N(0,1) float64 draws for every value of the batch from per-image CPU generators
// in parallel (what the normal-noise corruptions draw); "float64_round_trip": float -> float64 -> float,
// the copies that the float64 path of corrupt() makes around every corruption.
std::vector<CorruptionTiming> bench_floors(const CorruptionBenchSpec& spec);

}  // namespace questbench
