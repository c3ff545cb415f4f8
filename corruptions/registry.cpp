// The corruption table, in the reference's order. Adding a corruption = one function + one row here.
#include "corruptions/corrupt.h"

#include "common/error.h"

namespace questbench {

torch::Tensor gaussian_noise(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor shot_noise(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor impulse_noise(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor defocus_blur(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor zoom_blur(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor brightness(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor contrast(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor pixelate(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor jpeg_compression(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor speckle_noise(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor gaussian_blur(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);
torch::Tensor saturate(const torch::Tensor&, int, CorruptionTable, const std::vector<uint64_t>&);

// Not yet implemented (listed so the numbering matches the reference): glass_blur, motion_blur, snow,
// frost, fog, elastic_transform (standard) and spatter (extra).
const std::vector<CorruptionInfo>& corruption_table() {
  static const std::vector<CorruptionInfo> table = {
      {"gaussian_noise", "standard", true, gaussian_noise},
      {"shot_noise", "standard", true, shot_noise},
      {"impulse_noise", "standard", true, impulse_noise},
      {"defocus_blur", "standard", false, defocus_blur},
      {"zoom_blur", "standard", false, zoom_blur},
      {"brightness", "standard", false, brightness},
      {"contrast", "standard", false, contrast},
      {"pixelate", "standard", false, pixelate},
      {"jpeg_compression", "standard", false, jpeg_compression},
      {"speckle_noise", "extra", true, speckle_noise},
      {"gaussian_blur", "extra", false, gaussian_blur},
      {"saturate", "extra", false, saturate},
  };
  return table;
}

const CorruptionInfo& find_corruption(const std::string& name) {
  std::string valid;
  for (const auto& c : corruption_table()) {
    if (c.name == name) return c;
    valid += (valid.empty() ? "" : ", ") + c.name;
  }
  throw UsageError("corruption '" + name + "': unknown or not implemented (available: " + valid + ")");
}

}  // namespace questbench
