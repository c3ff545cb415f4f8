// 8-bit levels of the corruptions that work on them (internal): the round trips between float images and
// levels, planar and interleaved RGB, and Pillow's BOX resize (pixelate).
#pragma once

#include "corruptions/ops.h"

#include <functional>
#include <vector>

namespace questbench::corruption {

// The float64 CPU path of the 8-bit corruptions: each image of a CPU float64 [N, 3, H, W] tensor becomes planar
// levels round(clip(x)·255), fn corrupts them in place (a LevelsFunction's work), and the result is returned as
// levels / 255 (images in parallel).
torch::Tensor levels_round_trip_cpu(const torch::Tensor& x, const std::function<void(uint8_t* levels)>& fn);

// The 8-bit round trips of the levels paths, vectorised (AVX2 where the CPU has it): levels[k] = round(x[k]·255)
// for float32 values in [0, 1] (rounded in float64, ties to even: exact, since x·255 has at most 32
// significant bits), and back: x[k] = float(levels[k]) / 255f (= float(levels[k] / 255.0), tested).
void unit_to_levels(const float* in, uint8_t* out, int64_t n);
void levels_to_unit(const uint8_t* in, float* out, int64_t n);
// Planar [3, plane] 8-bit RGB to interleaved [plane, 3] and back (vectorised; the buffers must not overlap).
void interleave_rgb(const uint8_t* planar, uint8_t* interleaved, int64_t plane);
void planar_rgb(const uint8_t* interleaved, uint8_t* planar, int64_t plane);

// PIL Image.resize((out_w, out_h), BOX) on 8-bit levels (integers 0..255 as float64): horizontal pass
// first into an 8-bit intermediate, 22-bit fixed-point weights, like Pillow.
torch::Tensor pil_box_resize(const torch::Tensor& levels, int64_t out_h, int64_t out_w);
// Pillow's BOX taps for `in` -> `out` samples: output o sums inputs first[o] .. first[o] + count[o] - 1 with
// the fixed-point weights coeff[o * stride + j] (22 bits); result (sum + 2^21) >> 22 clipped to 0..255.
constexpr int kPilPrecisionBits = 22;  // Pillow's 8-bit resampling precision (32 - 8 - 2)
struct PilTaps {
  std::vector<int64_t> first, count, coeff;
  int64_t stride = 0;
};
PilTaps pil_box_taps(int64_t in, int64_t out);

}  // namespace questbench::corruption
