// The conventions every corruption kernel shares (internal, not part of the public API): the per-call context,
// the choice between CPU loops and tensor ops, the image-parallel loop, the vector types of the hot loops and the
// exact rounding stand-ins. The kernels themselves live by kind: streams.h (random draws), finish.h (clip and
// quantize), filters.h (borders, separable and 2-D filters), geometry.h (zoom, motion blur), colour.h (HSV),
// levels.h (8-bit round trips, Pillow's BOX resize). Tensors are float64 [N, C, H, W] on any device unless stated.
#pragma once

#include "corruptions/corrupt.h"

#include <torch/torch.h>

#include <cstring>
#include <functional>
#include <vector>

// Marks a hot loop function to be compiled twice, for the x86-64 baseline and for AVX2, the CPU's choice made
// at load time (GCC function multiversioning). Loops built with it keep the same per-value order of
// operations, so both versions give the same bits.
// QB_WITH_AVX512_CLONE adds a third version for x86-64-v4 (AVX-512) CPUs, for the loops that only convert
// between 8-bit levels and floats or compare values (exact in any vector width): on such CPUs these twice-as-
// wide vectors halve the time the codec corruptions spend outside their codec.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QB_WITH_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#define QB_WITH_AVX512_CLONE __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define QB_WITH_AVX2_CLONE
#define QB_WITH_AVX512_CLONE
#endif

namespace questbench::corruption {

// GCC vector types for the hot loops (lowered to SSE2 pairs in the baseline build, AVX2 in its clone);
// QB_LOAD4 / QB_STORE4 move four doubles from / to any address.
typedef double Vec4 __attribute__((vector_size(32)));
typedef float Vec4f __attribute__((vector_size(16)));
typedef int32_t Vec4i __attribute__((vector_size(16)));
typedef int64_t Vec4l __attribute__((vector_size(32)));
typedef int32_t Vec8i __attribute__((vector_size(32)));
#define QB_LOAD4(p) ({ Vec4 v_; std::memcpy(&v_, (p), sizeof v_); v_; })
#define QB_STORE4(p, v) do { Vec4 v_ = (v); std::memcpy((p), &v_, sizeof v_); } while (0)

// What one corruption function gets besides the images.
struct Call {
  int severity;                             // 1..5
  CorruptionTable table;                    // resolved (never Auto)
  const std::vector<uint64_t>& rng_seeds;   // one per image, already specific to (image, corruption, severity)
  const CorruptionOptions& options;
};

// The severity's constant from the rows of the three tables (ImageNet-C 224, Tiny-ImageNet-C 64, CIFAR-10-C 32).
template <typename T>
const T& pick(const Call& call, const T (&imagenet)[5], const T (&tiny)[5], const T (&cifar)[5]) {
  const T* row = call.table == CorruptionTable::Cifar32 ? cifar : (call.table == CorruptionTable::Tiny64 ? tiny : imagenet);
  return row[call.severity - 1];
}

// Native side of the call's table (224, 64 or 32).
int64_t table_side(CorruptionTable table);

torch::TensorOptions f64();
// t / d correctly rounded on every device. ATen's CUDA kernels divide by a host scalar by multiplying with its
// reciprocal, which is not correctly rounded (k · fl(1/255) · 255 < k for about one level in ten), so on other
// devices the divisor goes to t's device as a 0-dim tensor; on the CPU it is the plain division (same bits).
torch::Tensor div_exact(const torch::Tensor& t, double d);

// CPU kernels: a corruption may run plain C++ loops over contiguous CPU data when cpu_kernels(x, call) holds
// (x on the CPU and CorruptionOptions::cpu_kernels on); otherwise it runs tensor ops (any device). On the CPU
// both give the same bits (tests force the tensor path and compare). The kernels' translation units are built
// without floating-point contraction, so a*b+c rounds twice like two tensor ops.
bool cpu_kernels(const torch::Tensor& x, const Call& call);
// The same choice handed to a shared kernel (filters, motion blur). CpuLoops runs the loops where the kernel has
// them and its data suits them (a CPU float64 tensor), else the tensor ops: the same bits either way.
enum class Execution { Tensor, CpuLoops };
inline Execution execution_for(const torch::Tensor& x, const Call& call) {
  return cpu_kernels(x, call) ? Execution::CpuLoops : Execution::Tensor;
}

// fn(first, last) over images [0, n), split across the intra-op threads (one image per grain); the workers run
// in the caller's InferenceMode state (it is thread-local, and tensors made in it may only be updated in it).
void parallel_images(int64_t n, const std::function<void(int64_t, int64_t)>& fn);
// fn(image, pixel) for the flat indices [first, last) of images of `plane` pixels, without a division per pixel.
template <typename F>
inline void for_plane_runs(int64_t first, int64_t last, int64_t plane, F&& fn) {
  int64_t i = first / plane, p = first % plane;
  for (int64_t k = first; k < last; ++k) {
    fn(i, p);
    if (++p == plane) p = 0, ++i;
  }
}

// Exact stand-ins for the per-pixel rounding steps of hot loops (the same bits, no libm call, no division):
// rint_nonneg(t) = std::rint(t) for 0 <= t < 2^51 (ties to even under the default rounding mode);
// level_table<T>()[k] = static_cast<T>(k / 255.0) for k = 0..255, so floor(v·255)/255 becomes a lookup.
inline double rint_nonneg(double t) {
  constexpr double kShift = 4503599627370496.0;  // 2^52: adding it leaves no fraction bits
  return (t + kShift) - kShift;
}
template <typename T>
const T* level_table();  // T = float or double
// floor_exact(t) = std::floor(t) for |t| < 2^62 without a libm call (Debian's x86-64 baseline has no SSE4.1
// round instruction, so std::floor is a function call in the hot loops).
inline double floor_exact(double t) {
  const double truncated = static_cast<double>(static_cast<int64_t>(t));
  return truncated > t ? truncated - 1.0 : truncated;
}

}  // namespace questbench::corruption
