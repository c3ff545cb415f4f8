// jpeg_compression (standard, digital): JPEG encode/decode at quality c. A CPU codec step: images are
// copied to the CPU, coded with libjpeg through OpenCV (IJG quality scaling, 4:2:0 like Pillow), and
// copied back to their device.
#include "corruptions/ops.h"

#include "common/error.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace questbench {

torch::Tensor jpeg_round_trip(const torch::Tensor& x, int quality) {
  auto u8 = torch::round(x.clamp(0, 1) * 255.0).to(torch::kByte).permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
  const int64_t n = u8.size(0), h = u8.size(1), w = u8.size(2);
  auto out = torch::empty_like(u8);
  for (int64_t i = 0; i < n; ++i) {
    cv::Mat rgb(static_cast<int>(h), static_cast<int>(w), CV_8UC3, u8[i].data_ptr());
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<uchar> bytes;
    QB_CHECK(cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, quality}), "jpeg: encoding image " << i << " failed");
    cv::Mat decoded = cv::imdecode(bytes, cv::IMREAD_COLOR);
    QB_CHECK(!decoded.empty(), "jpeg: decoding image " << i << " failed");
    cv::Mat back(static_cast<int>(h), static_cast<int>(w), CV_8UC3, out[i].data_ptr());
    cv::cvtColor(decoded, back, cv::COLOR_BGR2RGB);
  }
  return out.to(x.device()).permute({0, 3, 1, 2}).to(torch::kDouble) / 255.0;
}

namespace corruption {

torch::Tensor jpeg_compression(const torch::Tensor& x, const Call& call) {
  static const int imagenet[5] = {25, 18, 15, 10, 7}, tiny[5] = {65, 58, 50, 40, 25}, cifar[5] = {80, 65, 58, 50, 40};
  return jpeg_round_trip(x, pick(call, imagenet, tiny, cifar));
}

}  // namespace corruption
}  // namespace questbench
