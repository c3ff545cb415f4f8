// pixelate (Pillow BOX resampling in 8-bit fixed point) and jpeg_compression (libjpeg through OpenCV,
// a CPU codec: images are copied to the CPU and back).
#include "corruptions/corrupt.h"

#include "common/error.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <cmath>

namespace questbench {
namespace {

constexpr int kPrecisionBits = 22;  // Pillow's 8-bit resampling precision (32 - 8 - 2)

// Pillow's BOX coefficients for resizing `in` samples to `out`, as fixed-point integers in a dense
// [out, in] float64 matrix (exactly representable).
torch::Tensor box_coefficients(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);
  const double support = 0.5 * filterscale;
  auto k = torch::zeros({out, in}, torch::kDouble);
  auto acc = k.accessor<double, 2>();
  for (int64_t xx = 0; xx < out; ++xx) {
    const double center = (xx + 0.5) * scale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in) xmax = in;
    std::vector<double> w;
    double total = 0;
    for (int64_t x = xmin; x < xmax; ++x) {
      const double arg = (x - center + 0.5) / filterscale;
      const double v = arg > -0.5 && arg <= 0.5 ? 1.0 : 0.0;
      w.push_back(v);
      total += v;
    }
    for (int64_t x = xmin; x < xmax; ++x) {
      const double normalized = total != 0 ? w[x - xmin] / total : 0.0;
      acc[xx][x] = static_cast<double>(static_cast<int64_t>(0.5 + normalized * (1 << kPrecisionBits)));
    }
  }
  return k;
}

// One Pillow resampling pass on integer-valued float64 [N, C, H, W] along the last dim.
torch::Tensor resample_last(const torch::Tensor& x, int64_t out) {
  auto k = box_coefficients(x.size(-1), out).to(x.device());
  auto acc = torch::matmul(x, k.t()) + static_cast<double>(1 << (kPrecisionBits - 1));
  return torch::clamp(torch::floor(acc / static_cast<double>(1 << kPrecisionBits)), 0, 255);
}

// PIL Image.resize((w, h), BOX): horizontal pass first (8-bit intermediate), then vertical.
torch::Tensor pil_box_resize(const torch::Tensor& u8, int64_t out_h, int64_t out_w) {
  auto y = u8;
  if (out_w != y.size(3)) y = resample_last(y, out_w);
  if (out_h != y.size(2)) y = resample_last(y.transpose(2, 3), out_h).transpose(2, 3);
  return y;
}

}  // namespace

torch::Tensor jpeg_round_trip(const torch::Tensor& x, int quality) {
  auto u8 = torch::round(x.clamp(0, 1) * 255.0).to(torch::kByte).permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
  const int64_t n = u8.size(0), h = u8.size(1), w = u8.size(2);
  auto out = torch::empty_like(u8);
  for (int64_t i = 0; i < n; ++i) {
    cv::Mat rgb(static_cast<int>(h), static_cast<int>(w), CV_8UC3, u8[i].data_ptr());
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<uchar> bytes;
    QB_CHECK(cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, quality}), "JPEG encoding failed");
    cv::Mat decoded = cv::imdecode(bytes, cv::IMREAD_COLOR);
    QB_CHECK(!decoded.empty(), "JPEG decoding failed");
    cv::Mat back(static_cast<int>(h), static_cast<int>(w), CV_8UC3, out[i].data_ptr());
    cv::cvtColor(decoded, back, cv::COLOR_BGR2RGB);
  }
  return out.to(x.device()).permute({0, 3, 1, 2}).to(torch::kDouble) / 255.0;
}

torch::Tensor pixelate(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>&) {
  static const double imagenet[5] = {0.6, 0.5, 0.4, 0.3, 0.25}, tiny[5] = {0.9, 0.8, 0.7, 0.6, 0.5},
                      cifar[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
  const double c = table_value(table, severity, imagenet, tiny, cifar);
  const int64_t h = x.size(2), w = x.size(3);
  auto u8 = torch::round(x * 255.0);
  auto small = pil_box_resize(u8, static_cast<int64_t>(h * c), static_cast<int64_t>(w * c));
  return pil_box_resize(small, h, w) / 255.0;
}

torch::Tensor jpeg_compression(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>&) {
  static const int imagenet[5] = {25, 18, 15, 10, 7}, tiny[5] = {65, 58, 50, 40, 25}, cifar[5] = {80, 65, 58, 50, 40};
  const int q = table_value(table, severity, imagenet, tiny, cifar);
  return jpeg_round_trip(x, q);
}

}  // namespace questbench
