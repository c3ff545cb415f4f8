// defocus_blur (standard, blur): correlation with the reference's anti-aliased disk (cv2.filter2D,
// BORDER_REFLECT_101). Kernel: indicator x²+y² <= r² on the grid -8..8 (or -r..r for r > 8), normalised,
// then cv2.GaussianBlur 3x3 (5x5 for r > 8) with sigma = alias_blur, in float32 like the reference.
#include "corruptions/ops.h"

#include <opencv2/imgproc.hpp>

namespace questbench::corruption {
namespace {

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
  cv::GaussianBlur(disk, blurred, cv::Size(k, k), alias_blur);  // a 17x17 or 21x21 constant, built once per call
  return torch::from_blob(blurred.data, {size, size}, torch::kFloat).to(torch::kDouble);
}

}  // namespace

torch::Tensor defocus_blur(const torch::Tensor& x, const Call& call) {
  static const double radius_imagenet[5] = {3, 4, 6, 8, 10}, alias_imagenet[5] = {0.1, 0.5, 0.5, 0.5, 0.5};
  static const double radius_tiny[5] = {0.5, 1, 1.5, 2.5, 3}, alias_tiny[5] = {0.6, 0.1, 0.1, 0.01, 0.1};
  static const double radius_cifar[5] = {0.3, 0.4, 0.5, 1, 1.5}, alias_cifar[5] = {0.4, 0.5, 0.6, 0.2, 0.1};
  auto kernel = disk_kernel(pick(call, radius_imagenet, radius_tiny, radius_cifar), pick(call, alias_imagenet, alias_tiny, alias_cifar));
  // Trim all-zero outer rings (exact: they contribute nothing) so the tap loop stays short.
  auto nz = kernel.abs().gt(0);
  auto rows = nz.any(1).nonzero().flatten(), cols = nz.any(0).nonzero().flatten();
  const int64_t half = kernel.size(0) / 2;
  const int64_t keep = std::max({half - rows.min().item<int64_t>(), rows.max().item<int64_t>() - half,
                                 half - cols.min().item<int64_t>(), cols.max().item<int64_t>() - half});
  kernel = kernel.narrow(0, half - keep, 2 * keep + 1).narrow(1, half - keep, 2 * keep + 1);
  return filter2d(x, kernel, Border::Reflect101, cpu_kernels(x, call));
}

}  // namespace questbench::corruption
