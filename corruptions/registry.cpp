// The corruption table, in the reference's order (numbers 0..18). Adding a corruption = one file with its
// function + one declaration and one row here.
#include "common/error.h"
#include "corruptions/ops.h"

#include <sstream>

namespace questbench {
namespace corruption {

torch::Tensor gaussian_noise(const torch::Tensor&, const Call&);
void gaussian_noise_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor shot_noise(const torch::Tensor&, const Call&);
void shot_noise_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor impulse_noise(const torch::Tensor&, const Call&);
void impulse_noise_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor defocus_blur(const torch::Tensor&, const Call&);
torch::Tensor glass_blur(const torch::Tensor&, const Call&);
torch::Tensor motion_blur(const torch::Tensor&, const Call&);
torch::Tensor zoom_blur(const torch::Tensor&, const Call&);
void zoom_blur_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor snow(const torch::Tensor&, const Call&);
torch::Tensor frost(const torch::Tensor&, const Call&);
void frost_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor fog(const torch::Tensor&, const Call&);
void fog_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor brightness(const torch::Tensor&, const Call&);
void brightness_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor contrast(const torch::Tensor&, const Call&);
void contrast_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor elastic_transform(const torch::Tensor&, const Call&);
torch::Tensor pixelate(const torch::Tensor&, const Call&);
void pixelate_levels(uint8_t*, int64_t, int64_t, const Call&);
torch::Tensor jpeg_compression(const torch::Tensor&, const Call&);
void jpeg_compression_levels(uint8_t*, int64_t, int64_t, const Call&);
void jpeg_compression_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor speckle_noise(const torch::Tensor&, const Call&);
void speckle_noise_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);
torch::Tensor gaussian_blur(const torch::Tensor&, const Call&);
torch::Tensor spatter(const torch::Tensor&, const Call&);
torch::Tensor saturate(const torch::Tensor&, const Call&);
void saturate_pixels(const float*, float*, int64_t, int64_t, int64_t, const Call&);

}  // namespace corruption

const std::vector<CorruptionInfo>& corruption_table() {
  using namespace corruption;
  static const std::vector<CorruptionInfo> table = {
      {"gaussian_noise", "standard", "noise", true, gaussian_noise, nullptr, gaussian_noise_pixels},
      {"shot_noise", "standard", "noise", true, shot_noise, nullptr, shot_noise_pixels},
      {"impulse_noise", "standard", "noise", true, impulse_noise, nullptr, impulse_noise_pixels},
      {"defocus_blur", "standard", "blur", false, defocus_blur},
      {"glass_blur", "standard", "blur", true, glass_blur},
      {"motion_blur", "standard", "blur", true, motion_blur},
      {"zoom_blur", "standard", "blur", false, zoom_blur, nullptr, zoom_blur_pixels},
      {"snow", "standard", "weather", true, snow},
      {"frost", "standard", "weather", true, frost, nullptr, frost_pixels},
      {"fog", "standard", "weather", true, fog, nullptr, fog_pixels},
      {"brightness", "standard", "weather", false, brightness, nullptr, brightness_pixels},
      {"contrast", "standard", "digital", false, contrast, nullptr, contrast_pixels},
      {"elastic_transform", "standard", "digital", true, elastic_transform},
      {"pixelate", "standard", "digital", false, pixelate, pixelate_levels},
      {"jpeg_compression", "standard", "digital", false, jpeg_compression, jpeg_compression_levels, jpeg_compression_pixels},
      {"speckle_noise", "extra", "noise", true, speckle_noise, nullptr, speckle_noise_pixels},
      {"gaussian_blur", "extra", "blur", false, gaussian_blur},
      {"spatter", "extra", "weather", true, spatter},
      {"saturate", "extra", "digital", false, saturate, nullptr, saturate_pixels},
  };
  return table;
}

const CorruptionInfo& find_corruption(const std::string& name) {
  std::string valid;
  for (const auto& c : corruption_table()) {
    if (c.name == name) return c;
    valid += (valid.empty() ? "" : ", ") + c.name;
  }
  throw UsageError("corruption '" + name + "': unknown (valid: " + valid + ")");
}

std::vector<std::string> parse_corruption_list(const std::string& spec) {
  std::vector<std::string> names;
  if (spec == "all" || spec == "standard" || spec == "extra") {
    for (const auto& c : corruption_table())
      if (spec == "all" || c.group == spec) names.push_back(c.name);
    return names;
  }
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    QB_USAGE_CHECK(!item.empty(), "--corruptions '" << spec << "': empty name");
    find_corruption(item);
    for (const auto& n : names) QB_USAGE_CHECK(n != item, "--corruptions '" << spec << "': " << item << " listed twice");
    names.push_back(item);
  }
  QB_USAGE_CHECK(!names.empty(), "--corruptions '" << spec << "': no corruptions");
  return names;
}

std::vector<int> parse_severity_list(const std::string& spec) {
  std::vector<int> out;
  auto number = [&](const std::string& text) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    QB_USAGE_CHECK(used == text.size() && !text.empty(), "--severities '" << spec << "': expected a range like 1-5 or a list like 1,3,5");
    QB_USAGE_CHECK(v >= 1 && v <= 5, "--severities '" << spec << "': severity " << v << " is not in 1..5");
    return v;
  };
  const auto dash = spec.find('-');
  if (dash != std::string::npos) {
    const int a = number(spec.substr(0, dash)), b = number(spec.substr(dash + 1));
    QB_USAGE_CHECK(a <= b, "--severities '" << spec << "': empty range");
    for (int s = a; s <= b; ++s) out.push_back(s);
  } else {
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
      const int v = number(item);
      for (int s : out) QB_USAGE_CHECK(s != v, "--severities '" << spec << "': severity " << v << " listed twice");
      out.push_back(v);
    }
  }
  QB_USAGE_CHECK(!out.empty(), "--severities '" << spec << "': no severities");
  return out;
}

}  // namespace questbench
