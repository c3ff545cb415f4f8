// jpeg_compression (standard, digital): JPEG encode/decode at quality c. A CPU codec step: images are
// copied to the CPU, coded with libjpeg through OpenCV (IJG quality scaling, 4:2:0 like Pillow), and
// copied back to their device. On the CPU the 8-bit interleaved images are built and read back directly
// (one pass each way, images in parallel); otherwise through tensor ops. Both give the same bytes.
#include "corruptions/ops.h"

#include "common/error.h"

#include <ATen/Parallel.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>

namespace questbench {
namespace {

void code_one(const cv::Mat& bgr, cv::Mat& decoded, std::vector<uchar>& bytes, int quality, int64_t index) {
  QB_CHECK(cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, quality}), "jpeg: encoding image " << index << " failed");
  decoded = cv::imdecode(bytes, cv::IMREAD_COLOR);
  QB_CHECK(!decoded.empty() && decoded.rows == bgr.rows && decoded.cols == bgr.cols && decoded.type() == CV_8UC3,
           "jpeg: decoding image " << index << " failed");
}

torch::Tensor jpeg_round_trip_cpu(const torch::Tensor& x, int quality) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), h = in.size(2), w = in.size(3), plane = h * w;
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  corruption::parallel_images(n, [&](int64_t first, int64_t last) {
    cv::Mat bgr(static_cast<int>(h), static_cast<int>(w), CV_8UC3), decoded;
    std::vector<uchar> bytes;
    for (int64_t i = first; i < last; ++i) {
      const double* s = src + i * 3 * plane;
      uchar* b = bgr.data;
      for (int64_t p = 0; p < plane; ++p)
        for (int c = 0; c < 3; ++c) {
          double v = s[(2 - c) * plane + p];
          v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
          b[3 * p + c] = static_cast<uchar>(std::rint(v * 255.0));
        }
      code_one(bgr, decoded, bytes, quality, i);
      const uchar* q = decoded.data;
      double* d = dst + i * 3 * plane;
      for (int64_t p = 0; p < plane; ++p)
        for (int c = 0; c < 3; ++c) d[(2 - c) * plane + p] = static_cast<double>(q[3 * p + c]) / 255.0;
    }
  });
  return out;
}

}  // namespace

torch::Tensor jpeg_round_trip(const torch::Tensor& x, int quality, bool cpu_kernels) {
  if (cpu_kernels && x.is_cpu() && x.scalar_type() == torch::kDouble) return jpeg_round_trip_cpu(x, quality);
  auto u8 = torch::round(x.clamp(0, 1) * 255.0).to(torch::kByte).permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
  const int64_t n = u8.size(0), h = u8.size(1), w = u8.size(2);
  auto out = torch::empty_like(u8);
  for (int64_t i = 0; i < n; ++i) {
    cv::Mat rgb(static_cast<int>(h), static_cast<int>(w), CV_8UC3, u8[i].data_ptr());
    cv::Mat bgr, decoded;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<uchar> bytes;
    code_one(bgr, decoded, bytes, quality, i);
    cv::Mat back(static_cast<int>(h), static_cast<int>(w), CV_8UC3, out[i].data_ptr());
    cv::cvtColor(decoded, back, cv::COLOR_BGR2RGB);
  }
  return out.to(x.device()).permute({0, 3, 1, 2}).to(torch::kDouble) / 255.0;
}

namespace corruption {

torch::Tensor jpeg_compression(const torch::Tensor& x, const Call& call) {
  static const int imagenet[5] = {25, 18, 15, 10, 7}, tiny[5] = {65, 58, 50, 40, 25}, cifar[5] = {80, 65, 58, 50, 40};
  return jpeg_round_trip(x, pick(call, imagenet, tiny, cifar), call.options.cpu_kernels);
}

}  // namespace corruption
}  // namespace questbench
