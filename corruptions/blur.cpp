// gaussian_blur, defocus_blur, zoom_blur (deterministic).
#include "corruptions/corrupt.h"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <cmath>

namespace questbench {
namespace {

// Depthwise correlation of float64 [N, C, H, W] with a [kh, kw] kernel, borders as `mode`.
torch::Tensor filter(const torch::Tensor& x, const torch::Tensor& kernel, torch::enumtype::kReplicate) {
  const int64_t c = x.size(1), kh = kernel.size(0), kw = kernel.size(1);
  namespace F = torch::nn::functional;
  auto padded = F::pad(x, F::PadFuncOptions({kw / 2, kw / 2, kh / 2, kh / 2}).mode(torch::kReplicate));
  auto w = kernel.to(x.options()).view({1, 1, kh, kw}).expand({c, 1, kh, kw}).contiguous();
  return F::conv2d(padded, w, F::Conv2dFuncOptions().groups(c));
}

torch::Tensor filter_reflect101(const torch::Tensor& x, const torch::Tensor& kernel) {
  const int64_t c = x.size(1), kh = kernel.size(0), kw = kernel.size(1);
  namespace F = torch::nn::functional;
  auto padded = F::pad(x, F::PadFuncOptions({kw / 2, kw / 2, kh / 2, kh / 2}).mode(torch::kReflect));
  auto w = kernel.to(x.options()).view({1, 1, kh, kw}).expand({c, 1, kh, kw}).contiguous();
  return F::conv2d(padded, w, F::Conv2dFuncOptions().groups(c));
}

// scipy.ndimage.gaussian_filter1d weights: radius int(4·sigma + 0.5), normalized.
torch::Tensor gaussian_weights(double sigma) {
  const int64_t radius = static_cast<int64_t>(4.0 * sigma + 0.5);
  auto t = torch::arange(-radius, radius + 1, torch::kDouble);
  auto w = torch::exp(-0.5 / (sigma * sigma) * t * t);
  return w / w.sum();
}

// The reference's disk(radius, alias_blur): indicator of x²+y² <= r² on a grid, normalized, then a
// Gaussian antialias (OpenCV GaussianBlur, 3x3 for r <= 8 else 5x5), all in float32 like NumPy/OpenCV.
torch::Tensor disk_kernel(double radius, double alias_blur) {
  const int half = radius <= 8 ? 8 : static_cast<int>(radius);
  const int size = 2 * half + 1;
  cv::Mat disk(size, size, CV_32F);
  float total = 0;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const double dx = x - half, dy = y - half;
      const float v = dx * dx + dy * dy <= radius * radius ? 1.f : 0.f;
      disk.at<float>(y, x) = v;
      total += v;
    }
  disk /= total;
  cv::Mat blurred;
  const int k = radius <= 8 ? 3 : 5;
  cv::GaussianBlur(disk, blurred, cv::Size(k, k), alias_blur);
  return torch::from_blob(blurred.data, {size, size}, torch::kFloat).clone();
}

// One axis of scipy.ndimage.zoom(order=1) on an already cropped span: output index o samples input
// coordinate o·(in−1)/(out−1) (align corners). Returns (lower index, upper index, weight of upper).
struct Linear {
  torch::Tensor lo, hi, t;
};
Linear zoom_axis(int64_t in, int64_t out, int64_t offset, torch::Device device) {
  auto o = torch::arange(out, torch::TensorOptions().dtype(torch::kDouble));
  auto coord = out > 1 ? o * (static_cast<double>(in - 1) / static_cast<double>(out - 1)) : torch::zeros_like(o);
  auto lo = torch::floor(coord).clamp(0, in - 1);
  auto t = coord - lo;
  auto hi = torch::clamp(lo + 1, 0, in - 1);
  return {(lo.to(torch::kLong) + offset).to(device), (hi.to(torch::kLong) + offset).to(device), t.to(device)};
}

// The reference's clipped_zoom: crop the central ceil(side/z) span, zoom by z (bilinear, align corners,
// output round(span·z)), crop the central side x side. Rows and columns are handled independently.
torch::Tensor clipped_zoom(const torch::Tensor& x, double z) {
  const int64_t h = x.size(2), w = x.size(3);
  auto axis = [&](int64_t side) {
    const int64_t span = static_cast<int64_t>(std::ceil(side / z));
    const int64_t top = (side - span) / 2;
    const int64_t out = static_cast<int64_t>(std::llround(span * z));
    const int64_t trim = (out - side) / 2;
    auto full = zoom_axis(span, out, top, x.device());
    return Linear{full.lo.slice(0, trim, trim + side), full.hi.slice(0, trim, trim + side), full.t.slice(0, trim, trim + side)};
  };
  const auto r = axis(h), c = axis(w);
  auto rows_lo = x.index_select(2, r.lo), rows_hi = x.index_select(2, r.hi);
  auto ty = r.t.view({1, 1, h, 1}), tx = c.t.view({1, 1, 1, w});
  auto a = rows_lo.index_select(3, c.lo), b = rows_lo.index_select(3, c.hi);
  auto cc = rows_hi.index_select(3, c.lo), d = rows_hi.index_select(3, c.hi);
  return (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * cc + tx * d);
}

}  // namespace

torch::Tensor gaussian_blur(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>&) {
  static const double imagenet[5] = {1, 2, 3, 4, 6}, tiny[5] = {.5, .75, 1, 1.25, 1.5}, cifar[5] = {.4, .6, 0.7, .8, 1};
  const double sigma = table_value(table, severity, imagenet, tiny, cifar);
  auto w = gaussian_weights(sigma);
  // scipy filters axis 0 (rows) first, then axis 1, with mode 'nearest' (replicate).
  auto y = filter(x, w.view({-1, 1}), torch::kReplicate);
  return filter(y, w.view({1, -1}), torch::kReplicate);
}

torch::Tensor defocus_blur(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>&) {
  static const double radius_imagenet[5] = {3, 4, 6, 8, 10}, alias_imagenet[5] = {0.1, 0.5, 0.5, 0.5, 0.5};
  static const double radius_tiny[5] = {0.5, 1, 1.5, 2.5, 3}, alias_tiny[5] = {0.6, 0.1, 0.1, 0.01, 0.1};
  static const double radius_cifar[5] = {0.3, 0.4, 0.5, 1, 1.5}, alias_cifar[5] = {0.4, 0.5, 0.6, 0.2, 0.1};
  const double radius = table_value(table, severity, radius_imagenet, radius_tiny, radius_cifar);
  const double alias = table_value(table, severity, alias_imagenet, alias_tiny, alias_cifar);
  // cv2.filter2D: correlation with BORDER_REFLECT_101.
  return filter_reflect101(x, disk_kernel(radius, alias).to(torch::kDouble));
}

torch::Tensor zoom_blur(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>&) {
  // np.arange(1, stop, step) lists, as counts of 1 + i·step.
  static const double step_imagenet[5] = {0.01, 0.01, 0.02, 0.02, 0.03}, count_imagenet[5] = {12, 16, 11, 13, 11};
  static const double step_small[5] = {0.01, 0.01, 0.01, 0.01, 0.01}, count_small[5] = {7, 12, 16, 21, 26};
  const bool imagenet = table == CorruptionTable::ImageNet224;
  const double step = (imagenet ? step_imagenet : step_small)[severity - 1];
  const int count = static_cast<int>((imagenet ? count_imagenet : count_small)[severity - 1]);
  // The reference works in float32 here: x/255 as float32, each zoom cast to float32, summed in float32.
  auto x32 = x.to(torch::kFloat);
  auto sum = torch::zeros_like(x32);
  for (int i = 0; i < count; ++i) sum += clipped_zoom(x32.to(torch::kDouble), 1.0 + i * step).to(torch::kFloat);
  return ((x32 + sum) / static_cast<float>(count + 1)).to(torch::kDouble);
}

}  // namespace questbench
