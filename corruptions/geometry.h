// Geometric kernels of the corruptions (internal): the reference's clipped_zoom (zoom_blur, snow) and
// ImageMagick's motion blur (motion_blur, snow).
#pragma once

#include "corruptions/ops.h"

#include <vector>

namespace questbench::corruption {

// The reference's clipped_zoom: crop the central ceil(side/z) span of each axis, zoom by z with scipy's
// align-corners bilinear mapping (output round(span·z)), crop the central side x side.
torch::Tensor clipped_zoom(const torch::Tensor& x, double z);
// One axis of it: output o interpolates lo[o] + t[o]·(hi[o] - lo[o]) (indices into the full axis).
struct ZoomAxis {
  std::vector<int64_t> lo, hi;
  std::vector<double> t;
};
ZoomAxis zoom_axis(int64_t side, double z);

// ImageMagick 6 MotionBlurImage on 8-bit levels (x holds integers 0..255): one-sided kernel of
// 2·ceil(radius)+1 taps exp(-i²/2σ²), tap i at (ceil(i·cos θ - 0.5), ceil(i·sin θ - 0.5)), edge pixels,
// floored to integers like the reference's PNG round trip. `angles_deg` has one angle per image. The taps
// round twice (TapRounding::TwoRoundings) on both executions, so the CPU loop and the tensor ops agree.
torch::Tensor motion_blur_levels(const torch::Tensor& x, double radius, double sigma, const std::vector<double>& angles_deg,
                                 Execution execution);

}  // namespace questbench::corruption
