// The corruption table, in the reference's order (numbers 0..18). Adding a corruption = one file with its
// function + one declaration and one row here.
#include "common/error.h"
#include "corruptions/ops.h"

namespace questbench {
namespace corruption {

torch::Tensor gaussian_noise(const torch::Tensor&, const Call&);
torch::Tensor shot_noise(const torch::Tensor&, const Call&);
torch::Tensor impulse_noise(const torch::Tensor&, const Call&);
torch::Tensor defocus_blur(const torch::Tensor&, const Call&);
torch::Tensor glass_blur(const torch::Tensor&, const Call&);
torch::Tensor motion_blur(const torch::Tensor&, const Call&);
torch::Tensor zoom_blur(const torch::Tensor&, const Call&);
torch::Tensor snow(const torch::Tensor&, const Call&);
torch::Tensor frost(const torch::Tensor&, const Call&);
torch::Tensor fog(const torch::Tensor&, const Call&);
torch::Tensor brightness(const torch::Tensor&, const Call&);
torch::Tensor contrast(const torch::Tensor&, const Call&);
torch::Tensor elastic_transform(const torch::Tensor&, const Call&);
torch::Tensor pixelate(const torch::Tensor&, const Call&);
torch::Tensor jpeg_compression(const torch::Tensor&, const Call&);
torch::Tensor speckle_noise(const torch::Tensor&, const Call&);
torch::Tensor gaussian_blur(const torch::Tensor&, const Call&);
torch::Tensor spatter(const torch::Tensor&, const Call&);
torch::Tensor saturate(const torch::Tensor&, const Call&);

}  // namespace corruption

const std::vector<CorruptionInfo>& corruption_table() {
  using namespace corruption;
  static const std::vector<CorruptionInfo> table = {
      {"gaussian_noise", "standard", "noise", true, gaussian_noise},
      {"shot_noise", "standard", "noise", true, shot_noise},
      {"impulse_noise", "standard", "noise", true, impulse_noise},
      {"defocus_blur", "standard", "blur", false, defocus_blur},
      {"glass_blur", "standard", "blur", true, glass_blur},
      {"motion_blur", "standard", "blur", true, motion_blur},
      {"zoom_blur", "standard", "blur", false, zoom_blur},
      {"snow", "standard", "weather", true, snow},
      {"frost", "standard", "weather", true, frost},
      {"fog", "standard", "weather", true, fog},
      {"brightness", "standard", "weather", false, brightness},
      {"contrast", "standard", "digital", false, contrast},
      {"elastic_transform", "standard", "digital", true, elastic_transform},
      {"pixelate", "standard", "digital", false, pixelate},
      {"jpeg_compression", "standard", "digital", false, jpeg_compression},
      {"speckle_noise", "extra", "noise", true, speckle_noise},
      {"gaussian_blur", "extra", "blur", false, gaussian_blur},
      {"spatter", "extra", "weather", true, spatter},
      {"saturate", "extra", "digital", false, saturate},
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

}  // namespace questbench
