// Borders and correlation filters of the corruptions (internal), with the reference libraries' border rules:
// 1-D passes (scipy.ndimage.correlate1d), 2-D kernels (cv2.filter2D) and the Gaussian of scipy / skimage.
// Every filter call states how its taps are rounded and where it runs, since both change the last bits.
#pragma once

#include "corruptions/ops.h"

#include <vector>

namespace questbench::corruption {

enum class Border {
  Replicate,   // aaa|abcd|ddd: scipy/skimage 'nearest', OpenCV BORDER_REPLICATE, ImageMagick edge pixels
  Reflect101,  // cb|abcd|cb: OpenCV's default BORDER_REFLECT_101
  Symmetric,   // ba|abcd|dc: scipy 'reflect' (half-sample symmetric), OpenCV BORDER_REFLECT
};

// Source index of every padded position -before .. n-1+after (any widths, also wider than n), int64 on `device`.
torch::Tensor border_index(int64_t n, int64_t before, int64_t after, Border border, torch::Device device);
// The same as a CPU vector.
std::vector<int64_t> border_vector(int64_t n, int64_t before, int64_t after, Border border);
// Pads dims 2 (rows) and 3 (columns) by the given widths.
torch::Tensor pad2d(const torch::Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right, Border border);

// How a filter adds up its taps: out = w0·x0, then out += wk·xk in tap order.
enum class TapRounding {
  // Each product rounded, then added to the rounded sum: the same bits on every CPU, in the tensor ops and in
  // the CPU loops (weighted_taps). What the corruptions' filters use, so both paths agree.
  TwoRoundings,
  // ATen's add_(term, weight), which its CPU kernel may fuse into an FMA (one rounding) depending on the CPU:
  // tensor ops only. The frost textures (fixed by their own tests) and spatter's tensor-path stand-ins for
  // OpenCV's integer filters (exact either way) use it.
  Fused,
};

// Kernels with more taps than this, or than the filtered axis, are not summed tap by tap: the bordered kernel
// folds into a dense [n, n] matrix and the pass is one matrix product, whatever the rounding (both tensor ops
// and Execution::CpuLoops). elastic_transform's fields (sigma 20-170 at 224: 121-1021 taps) go there;
// gaussian_blur's widest kernel (sigma 6: 49 taps) is still summed.
constexpr int64_t kMaxSummedTaps = 63;

// Correlation of dim `dim` (2 = rows, 3 = columns) with centred 1-D `weights` (float64, odd length).
// Execution::CpuLoops needs TapRounding::TwoRoundings (the loops round twice).
torch::Tensor filter1d(const torch::Tensor& x, const torch::Tensor& weights, int64_t dim, Border border, TapRounding rounding,
                       Execution execution);
// Correlation with a centred [kh, kw] kernel (cv2.filter2D semantics, anchor at the centre); zero taps are skipped.
torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel, Border border, TapRounding rounding, Execution execution);
// scipy.ndimage.gaussian_filter1d weights: radius int(truncate·sigma + 0.5), normalised; sigma 0 = identity.
torch::Tensor gaussian_weights(double sigma, double truncate = 4.0);
// skimage.filters.gaussian / scipy gaussian_filter over rows, then columns (channels separate).
torch::Tensor gaussian_filter(const torch::Tensor& x, double sigma, Border border, double truncate, TapRounding rounding,
                              Execution execution);

// The inner loop of the CPU filters: out[c] = (((s + off[0])[c]·w[0] + (s + off[1])[c]·w[1]) + ...) for c in
// [0, n), i.e. TwoRoundings in tap order, 32 outputs at a time held in registers (compiled for AVX2 too where the
// CPU has it, chosen at run time). The same bits at every vector width, so the same as a tap-by-tap loop over the row.
void weighted_taps(const double* s, const int64_t* offsets, const double* weights, int64_t taps, double* out, int64_t n);

}  // namespace questbench::corruption
