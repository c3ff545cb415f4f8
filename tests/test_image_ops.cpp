// questbench's own Gaussian kernel, Gaussian blur and 8-bit bilinear resize (the builds without OpenCV use
// them for the defocus kernel and the frost textures) against OpenCV, where this build has it.
// Tolerances fixed before comparing: kernel taps and blurred kernels within 1e-6 relative (float32 rounding
// and summation order), resized textures within 1 level everywhere and identical in >= 99 % of values.
#include "tests/catch_torch.h"  // first: see the header
#include "corruptions/frost_texture.h"
#include "corruptions/image_ops.h"

#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgproc.hpp>
#endif

#include <cmath>

using namespace questbench;
using namespace questbench::corruption;

TEST_CASE("own Gaussian kernel and blur: normalised, symmetric, REFLECT_101 borders", "[corruptions]") {
  const auto k = gaussian_kernel_f32(5, 0.5);
  double sum = 0;
  for (float v : k) sum += v;
  CHECK(sum == Approx(1.0).epsilon(1e-6));
  CHECK(k[0] == k[4]);
  CHECK(k[1] == k[3]);
  CHECK(k[2] > k[1]);
  // A constant image stays constant (the kernel sums to 1, borders reflect).
  std::vector<float> flat(6 * 7, 0.25f);
  for (float v : gaussian_blur_f32(flat, 6, 7, 5, 1.0)) CHECK(v == Approx(0.25f).epsilon(1e-6));
  // An impulse at (1, 1) spreads as the outer product of the taps; REFLECT_101 folds row and column -1 onto 1,
  // so the corner (0, 0) sees it twice in each direction.
  std::vector<float> impulse(5 * 5, 0.f);
  impulse[6] = 1.f;
  const auto g = gaussian_kernel_f32(3, 0.8);  // g[1] is the centre tap
  const auto blurred = gaussian_blur_f32(impulse, 5, 5, 3, 0.8);
  CHECK(blurred[6] == Approx(g[1] * g[1]).epsilon(1e-6));
  CHECK(blurred[1] == Approx(2 * g[0] * g[1]).epsilon(1e-6));
  CHECK(blurred[0] == Approx(4 * g[0] * g[0]).epsilon(1e-6));
  CHECK(blurred[12] == Approx(g[0] * g[0]).epsilon(1e-6));
  CHECK_THROWS(gaussian_kernel_f32(4, 0.5));
}

TEST_CASE("own 8-bit bilinear resize: sizes, constants and edges", "[corruptions]") {
  std::vector<uint8_t> flat(10 * 12 * 3, 77);
  int h = 0, w = 0;
  auto out = resize_linear_u8(flat.data(), 10, 12, 3, 0.5, &h, &w);
  CHECK(h == 5);
  CHECK(w == 6);
  for (auto v : out) CHECK(v == 77);
  // Upscaling a two-pixel ramp by 2: the half-pixel centres give 1/4, 3/4 weights inside, clamped edges.
  std::vector<uint8_t> ramp = {0, 200};
  out = resize_linear_u8(ramp.data(), 1, 2, 1, 2.0, &h, &w);
  REQUIRE(h == 2);
  REQUIRE(w == 4);
  CHECK(std::vector<int>(out.begin(), out.end()) == std::vector<int>{0, 50, 150, 200, 0, 50, 150, 200});
}

#if QUESTBENCH_WITH_OPENCV
TEST_CASE("own Gaussian kernel, blur and resize against OpenCV", "[corruptions]") {
  double worst_kernel = 0, worst_blur = 0;
  for (double radius : {0.3, 1.0, 3.0, 6.0, 10.0})
    for (double alias : {0.1, 0.4, 0.5}) {
      const int half = radius <= 8 ? 8 : static_cast<int>(radius), size = 2 * half + 1, k = radius <= 8 ? 3 : 5;
      std::vector<float> disk(static_cast<size_t>(size * size));
      float total = 0;
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          const double dx = x - half, dy = y - half;
          disk[static_cast<size_t>(y * size + x)] = dx * dx + dy * dy <= radius * radius ? 1.f : 0.f;
          total += disk[static_cast<size_t>(y * size + x)];
        }
      cv::Mat disk_mat(size, size, CV_32F, disk.data());
      disk_mat /= total;
      const cv::Mat g = cv::getGaussianKernel(k, alias, CV_32F);
      const auto own_g = gaussian_kernel_f32(k, alias);
      for (int i = 0; i < k; ++i)
        worst_kernel = std::max(worst_kernel, std::abs(static_cast<double>(own_g[static_cast<size_t>(i)]) - g.at<float>(i)) / g.at<float>(i));
      cv::Mat blurred;
      cv::GaussianBlur(disk_mat, blurred, cv::Size(k, k), alias);
      const auto own = gaussian_blur_f32(disk, size, size, k, alias);
      double peak = 0;
      for (int i = 0; i < size * size; ++i) peak = std::max(peak, static_cast<double>(blurred.ptr<float>()[i]));
      for (int i = 0; i < size * size; ++i)
        worst_blur = std::max(worst_blur, std::abs(static_cast<double>(own[static_cast<size_t>(i)]) - blurred.ptr<float>()[i]) / peak);
    }
  WARN("own Gaussian kernel vs OpenCV: largest relative tap difference " << worst_kernel << "; blurred disks: " << worst_blur
                                                                          << " of the peak");
  CHECK(worst_kernel <= 1e-6);
  CHECK(worst_blur <= 1e-6);

  int64_t values = 0, identical = 0, largest = 0;
  int64_t identical_by_width[3] = {0, 0, 0};  // vector widths 0 (scalar), 16 and 32 bytes, for the record
  for (int index : {0, 1, 3, 4})
    for (double scale : {0.2, 0.3, 0.45, 1.3}) {
      auto texture = procedural_frost_texture(index).to(torch::kByte).permute({1, 2, 0}).contiguous();
      const int h = static_cast<int>(texture.size(0)), w = static_cast<int>(texture.size(1));
      cv::Mat resized;
      cv::resize(cv::Mat(h, w, CV_8UC3, texture.data_ptr<uint8_t>()), resized, cv::Size(), scale, scale, cv::INTER_LINEAR);
      int oh = 0, ow = 0;
      for (int k = 0; k < 3; ++k) {
        const auto other = resize_linear_u8(texture.data_ptr<uint8_t>(), h, w, 3, scale, &oh, &ow, 16 * k);
        for (size_t i = 0; i < other.size(); ++i) identical_by_width[k] += other[i] == resized.data[i];
      }
      const auto own = resize_linear_u8(texture.data_ptr<uint8_t>(), h, w, 3, scale, &oh, &ow);
      REQUIRE(oh == resized.rows);
      REQUIRE(ow == resized.cols);
      for (size_t i = 0; i < own.size(); ++i) {
        const int64_t d = std::abs(static_cast<int>(own[i]) - static_cast<int>(resized.data[i]));
        largest = std::max(largest, d);
        identical += d == 0;
        ++values;
      }
    }
  WARN("identical values with vector widths 0, 16, 32 bytes: " << identical_by_width[0] << ", " << identical_by_width[1] << ", "
                                                                << identical_by_width[2] << " of " << values);
  const double fraction = static_cast<double>(identical) / static_cast<double>(values);
  WARN("own resize vs cv::resize INTER_LINEAR on the frost textures: " << fraction * 100 << " % identical, largest difference "
                                                                        << largest << " level(s)");
  CHECK(largest <= 1);
  CHECK(fraction >= 0.99);
}
#endif
