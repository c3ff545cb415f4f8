// Internal helpers shared by the corruption files (not part of the public API): the per-call context,
// per-image random draws, border handling and separable filters with the reference libraries' borders,
// the reference's clipped_zoom, ImageMagick's motion blur, scikit-image's HSV, Pillow's BOX resize and
// the JPEG codec round trip. All tensors are float64 [N, C, H, W] on any device unless stated.
#pragma once

#include "corruptions/corrupt.h"

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace questbench::corruption {

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

// Draws with each image's own CPU generator and stacks the results on `device`: fn(generator) returns one
// image's tensor (all the same shape). The draws of an image never depend on the other images.
torch::Tensor per_image_random(const std::vector<uint64_t>& rng_seeds, const std::function<torch::Tensor(at::Generator&)>& fn,
                               torch::Device device);
torch::TensorOptions f64();

enum class Border {
  Replicate,   // aaa|abcd|ddd: scipy/skimage 'nearest', OpenCV BORDER_REPLICATE, ImageMagick edge pixels
  Reflect101,  // cb|abcd|cb: OpenCV's default BORDER_REFLECT_101
  Symmetric,   // ba|abcd|dc: scipy 'reflect' (half-sample symmetric), OpenCV BORDER_REFLECT
};

// Source index of every padded position -before .. n-1+after (any widths, also wider than n), int64 on `device`.
torch::Tensor border_index(int64_t n, int64_t before, int64_t after, Border border, torch::Device device);
// Pads dims 2 (rows) and 3 (columns) by the given widths.
torch::Tensor pad2d(const torch::Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right, Border border);

// Correlation of dim `dim` (2 = rows, 3 = columns) with centred 1-D `weights` (float64, odd length).
torch::Tensor filter1d(const torch::Tensor& x, const torch::Tensor& weights, int64_t dim, Border border);
// Correlation with a centred [kh, kw] kernel (cv2.filter2D semantics, anchor at the centre).
torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel, Border border);
// scipy.ndimage.gaussian_filter1d weights: radius int(truncate·sigma + 0.5), normalised; sigma 0 = identity.
torch::Tensor gaussian_weights(double sigma, double truncate = 4.0);
// skimage.filters.gaussian / scipy gaussian_filter over rows, then columns (channels separate).
torch::Tensor gaussian_filter(const torch::Tensor& x, double sigma, Border border, double truncate = 4.0);

// The reference's clipped_zoom: crop the central ceil(side/z) span of each axis, zoom by z with scipy's
// align-corners bilinear mapping (output round(span·z)), crop the central side x side.
torch::Tensor clipped_zoom(const torch::Tensor& x, double z);

// ImageMagick 6 MotionBlurImage on 8-bit levels (x holds integers 0..255): one-sided kernel of
// 2·ceil(radius)+1 taps exp(-i²/2σ²), tap i at (ceil(i·cos θ - 0.5), ceil(i·sin θ - 0.5)), edge pixels,
// floored to integers like the reference's PNG round trip. `angles_deg` has one angle per image.
torch::Tensor motion_blur_levels(const torch::Tensor& x, double radius, double sigma, const std::vector<double>& angles_deg);

// scikit-image rgb2hsv / hsv2rgb on [N, 3, H, W] (hue in [0,1)).
struct Hsv {
  torch::Tensor h, s, v;  // [N, H, W]
};
Hsv rgb_to_hsv(const torch::Tensor& x);
torch::Tensor hsv_to_rgb(const Hsv& hsv);

// PIL Image.resize((out_w, out_h), BOX) on 8-bit levels (integers 0..255 as float64): horizontal pass
// first into an 8-bit intermediate, 22-bit fixed-point weights, like Pillow.
torch::Tensor pil_box_resize(const torch::Tensor& levels, int64_t out_h, int64_t out_w);

}  // namespace questbench::corruption
