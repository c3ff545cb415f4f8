// The finish of every corruption's output (internal): the reference's np.uint8(255 · clip(x, 0, 1)) / 255.
// Clip to [0, 1], floor to an 8-bit level when quantizing, cast to the output's type; NaN stays NaN (like
// clamp). Grey images were corrupted as gray RGB: their output is the mean ((r + g) + b) / 3 of the three
// finished channels, floored to a level again. One definition per form, all giving the same bits: a value
// (finish_level), a vectorised run of float32 (finish_levels), a grey pixel (finish_gray), a CPU tensor
// (finish_cpu) and the tensor ops of other devices (finish_tensor, finish_gray_tensor).
#pragma once

#include "corruptions/ops.h"

namespace questbench::corruption {

// One value; levels = level_table<T>(). Truncation is the floor here (v·255 in [0, 255]).
template <typename T>
inline T finish_level(double v, bool quantize, const T* levels) {
  v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
  if (quantize && v == v) return levels[static_cast<int>(v * 255.0)];
  return static_cast<T>(v);
}

// A grey pixel from its three channels, each already finished as float64 (finish_level<double>): their mean like
// mean(1), floored again when quantizing. The 1e-9 keeps a mean of three equal levels, which may land one ulp
// below its level, on it; m·255 + 1e-9 stays below 256 (m <= 1), so truncation is the floor.
template <typename T>
inline T finish_gray(double r, double g, double b, bool quantize, const T* levels) {
  const double m = ((r + g) + b) / 3.0;
  return quantize && m == m ? levels[static_cast<int>(m * 255.0 + 1e-9)] : static_cast<T>(m);
}

// finish_level<float> of n values, vectorised (AVX2 where the CPU has it), with the same results (level k is
// float(k) / 255f, which equals float(k / 255.0) for every k: tested).
void finish_levels(const double* values, float* out, int64_t n, bool quantize);

// A per-value loop in chunks: compute(first, n, values) writes the float64 results of values first ..
// first + n - 1 of `count` into values[0 .. n), which are then finished into out[first ..].
template <typename F>
void finish_in_chunks(float* out, int64_t count, bool quantize, F&& compute) {
  constexpr int64_t kChunk = 1024;
  double values[kChunk];
  for (int64_t first = 0; first < count; first += kChunk) {
    const int64_t n = count - first < kChunk ? count - first : kChunk;
    compute(first, n, values);
    finish_levels(values, out + first, n, quantize);
  }
}

// y: a contiguous CPU float64 [N, 3, H, W] output of a corruption; out: a contiguous CPU float32 or float64
// tensor, [N, 3, H, W] or, for grey images, [N, 1, H, W] (finish_gray per pixel). Parallel over the values.
void finish_cpu(const torch::Tensor& y, const torch::Tensor& out, bool quantize);

// The tensor ops of the same (any device): finish_tensor clips and, when quantizing, floors to levels (in place
// on y); finish_gray_tensor takes those finished channels to their grey mean, floored again when quantizing.
torch::Tensor finish_tensor(torch::Tensor y, bool quantize);
torch::Tensor finish_gray_tensor(const torch::Tensor& y, bool quantize);

}  // namespace questbench::corruption
