// Frost textures: the original photos from a folder, or procedural stand-ins. See frost_texture.h.
//
// Procedural texture k mimics photo k (same size), from statistics measured on the photos (no pixels):
//   1. a Gaussian random field with the photo's radial power-spectrum slope (white noise shaped in the
//      Fourier domain by |f|^(slope/2)), plus 0.7 x a "ridged" field -|g| of a second one (bright creases
//      that read as ice veins), lightly blurred (sigma 0.7 px: the photos are smooth at the pixel scale);
//   2. its luminance histogram mapped onto the photo's (17 quantiles of the standardised luminance);
//   3. each RGB channel = the photo's channel mean + channel std x that luminance, rounded to 8 bits.
// Fixed generator seeds: the textures are the same in every run (and frost2 = frost3, as the photos are).
#include "corruptions/frost_texture.h"

#include "common/error.h"
#include "corruptions/filters.h"

#include <ATen/CPUGeneratorImpl.h>
#include "corruptions/image_ops.h"

#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>

namespace questbench::corruption {
namespace {

struct FrostPhotoStats {
  int64_t height, width;
  double slope;           // radial power spectrum slope of the luminance (log-log)
  double mean[3], std[3];  // RGB channel means and standard deviations (0..255)
  double quantiles[17];   // standardised luminance at percentiles kPercentiles
  uint64_t seed;
};

const double kPercentiles[17] = {0, 1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99, 100};

// Measured on frost1.png, frost2.png (= frost3.png), frost4.jpg, frost5.jpg of the reference.
const FrostPhotoStats kPhotos[5] = {
    {600, 900, -2.05, {77.7, 149.1, 165.7}, {26.9, 16.5, 15.3},
     {-2.7, -1.88, -1.74, -1.49, -1.22, -0.88, -0.6, -0.34, -0.1, 0.18, 0.45, 0.83, 1.36, 1.81, 2.29, 2.59, 4.92}, 101},
    {315, 560, -1.86, {200.8, 205.4, 214.5}, {21.4, 22.1, 22.6},
     {-6.82, -2.98, -2.53, -1.86, -1.35, -0.75, -0.39, -0.09, 0.16, 0.38, 0.6, 0.84, 1.11, 1.34, 1.58, 1.74, 2.13}, 102},
    {315, 560, -1.86, {200.8, 205.4, 214.5}, {21.4, 22.1, 22.6},
     {-6.82, -2.98, -2.53, -1.86, -1.35, -0.75, -0.39, -0.09, 0.16, 0.38, 0.6, 0.84, 1.11, 1.34, 1.58, 1.74, 2.13}, 102},
    {350, 527, -1.40, {137.6, 152.8, 165.2}, {28.5, 28.5, 29.9},
     {-4.45, -2.42, -2.08, -1.66, -1.24, -0.77, -0.48, -0.24, 0.0, 0.24, 0.46, 0.74, 1.18, 1.62, 2.29, 2.83, 3.52}, 104},
    {495, 660, -1.92, {112.4, 123.4, 134.8}, {44.4, 43.3, 41.7},
     {-2.27, -1.82, -1.71, -1.47, -1.23, -0.88, -0.6, -0.36, -0.1, 0.17, 0.47, 0.82, 1.38, 1.85, 2.36, 2.65, 3.05}, 105},
};

torch::Tensor standardize(const torch::Tensor& t) { return (t - t.mean()) / t.std(/*unbiased=*/false); }

torch::Tensor spectral_field(int64_t h, int64_t w, double slope, at::Generator& gen) {
  auto noise = torch::normal(0.0, 1.0, {h, w}, gen, f64());
  auto fy = torch::fft::fftfreq(h, f64()).view({h, 1}), fx = torch::fft::fftfreq(w, f64()).view({1, w});
  auto f = torch::sqrt(fy * fy + fx * fx);
  auto amplitude = torch::where(f > 0, torch::pow(torch::where(f > 0, f, torch::ones_like(f)), slope / 2), torch::zeros_like(f));
  return standardize(torch::real(torch::fft::ifft2(torch::fft::fft2(noise) * amplitude)));
}

// Textures travel as 8-bit interleaved images, as the reference's (cv2.imread gives BGR; the channel order
// does not change a per-channel resize, so only the file path swaps it).
struct Image8 {
  int height = 0, width = 0;
  std::vector<uint8_t> hwc;  // RGB
};

Image8 to_image8(const torch::Tensor& rgb_levels) {  // [3, H, W] levels -> 8-bit RGB
  auto u8 = rgb_levels.clamp(0, 255).round().to(torch::kByte).permute({1, 2, 0}).contiguous();
  Image8 image{static_cast<int>(u8.size(0)), static_cast<int>(u8.size(1)), {}};
  image.hwc.assign(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
  return image;
}

torch::Tensor from_image8(const Image8& image) {  // 8-bit RGB -> [3, H, W] float64 levels
  auto t = torch::from_blob(const_cast<uint8_t*>(image.hwc.data()), {image.height, image.width, 3}, torch::kByte).clone();
  return t.permute({2, 0, 1}).to(torch::kDouble).contiguous();
}

Image8 read_photo(const std::string& path) {
#if QUESTBENCH_WITH_OPENCV
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  QB_CHECK(!bgr.empty(), "frost texture " << path << ": missing or not a readable image");
  cv::cvtColor(bgr, bgr, cv::COLOR_BGR2RGB);
  Image8 image{bgr.rows, bgr.cols, {}};
  image.hwc.assign(bgr.data, bgr.data + bgr.total() * 3);
  return image;
#else
  throw opencv_unavailable("frost texture " + path + ": reading the frost photos");
#endif
}

Image8 resize_linear(const Image8& image, double scale) {
#if QUESTBENCH_WITH_OPENCV
  cv::Mat resized;
  cv::resize(cv::Mat(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.hwc.data())), resized, cv::Size(), scale, scale,
             cv::INTER_LINEAR);
  Image8 out{resized.rows, resized.cols, {}};
  out.hwc.assign(resized.data, resized.data + resized.total() * 3);
  return out;
#else
  Image8 out;
  out.hwc = corruption::resize_linear_u8(image.hwc.data(), image.height, image.width, 3, scale, &out.height, &out.width);
  return out;
#endif
}

}  // namespace

torch::Tensor procedural_frost_texture(int index) {
  QB_CHECK(index >= 0 && index < 5, "procedural frost texture " << index << ": index must be 0..4");
  const auto& p = kPhotos[index];
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0xf7057ULL * 1000 + p.seed);
  auto base = spectral_field(p.height, p.width, p.slope, gen);
  auto ridge = standardize(-spectral_field(p.height, p.width, p.slope, gen).abs());
  auto field = gaussian_filter((base + 0.7 * ridge).view({1, 1, p.height, p.width}), 0.7, Border::Replicate, 4.0, TapRounding::Fused,
                               Execution::Tensor).view({p.height, p.width});
  // Histogram matching: the rank of every value -> its percentile -> the photo's quantile curve.
  auto flat = field.flatten();
  const int64_t n = flat.numel();
  auto order = flat.argsort();
  auto percent = torch::empty({n}, f64());
  percent.index_put_({order}, (torch::arange(n, f64()) + 0.5) / static_cast<double>(n) * 100.0);
  auto pa = percent.accessor<double, 1>();
  auto mapped = torch::empty({n}, f64());
  auto ma = mapped.accessor<double, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const double q = pa[i];
    int k = 0;
    while (k < 15 && q > kPercentiles[k + 1]) ++k;
    const double t = (q - kPercentiles[k]) / (kPercentiles[k + 1] - kPercentiles[k]);
    ma[i] = p.quantiles[k] + t * (p.quantiles[k + 1] - p.quantiles[k]);
  }
  auto lum = standardize(mapped).view({1, p.height, p.width});
  auto mean = torch::tensor({p.mean[0], p.mean[1], p.mean[2]}, f64()).view({3, 1, 1});
  auto stdev = torch::tensor({p.std[0], p.std[1], p.std[2]}, f64()).view({3, 1, 1});
  return torch::round(mean + stdev * lum).clamp(0, 255);
}

double frost_texture_scale(CorruptionTable table, int64_t height, int64_t width) {
  const double base = table == CorruptionTable::Cifar32 ? 0.2 : (table == CorruptionTable::Tiny64 ? 0.3 : 1.0);
  const double side = static_cast<double>(table_side(table));
  double scale = base;
  if (height != table_side(table) || width != table_side(table))
    scale = base * std::max(static_cast<double>(height), static_cast<double>(width)) / side;
  // The smallest texture is 560 x 315 (frost2/3) and the narrowest 527 wide (frost4): keep crops possible.
  scale = std::max({scale, (static_cast<double>(height) + 2) / 315.0, (static_cast<double>(width) + 2) / 527.0});
  return scale;
}

const std::vector<torch::Tensor>& frost_textures(const std::string& dir, double scale, int64_t height, int64_t width) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, double>, std::vector<torch::Tensor>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_pair(dir, scale);
  auto found = cache.find(key);
  if (found == cache.end()) {
    static const char* kFiles[5] = {"frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"};
    std::vector<torch::Tensor> textures;
    for (int k = 0; k < 5; ++k) {
      Image8 image = dir.empty() ? to_image8(procedural_frost_texture(k)) : read_photo((std::filesystem::path(dir) / kFiles[k]).string());
      if (scale != 1.0) image = resize_linear(image, scale);
      textures.push_back(from_image8(image));
    }
    found = cache.emplace(key, std::move(textures)).first;
  }
  for (const auto& t : found->second)
    QB_CHECK(t.size(1) > height && t.size(2) > width,
             "frost textures: a " << t.size(1) << "x" << t.size(2) << " texture cannot hold a " << height << "x" << width << " crop");
  return found->second;
}

}  // namespace questbench::corruption
