#include "corruptions/corrupt.h"

#include "common/error.h"
#include "corruptions/ops.h"

#include <torch/torch.h>

namespace questbench {

CorruptionTable parse_corruption_table(const std::string& name) {
  if (name == "auto") return CorruptionTable::Auto;
  if (name == "imagenet" || name == "224") return CorruptionTable::ImageNet224;
  if (name == "tiny" || name == "64") return CorruptionTable::Tiny64;
  if (name == "cifar" || name == "32") return CorruptionTable::Cifar32;
  throw UsageError("corruption table '" + name + "': unknown (valid: auto, imagenet, tiny, cifar)");
}

std::string corruption_table_name(CorruptionTable table) {
  switch (table) {
    case CorruptionTable::ImageNet224: return "imagenet";
    case CorruptionTable::Tiny64: return "tiny";
    case CorruptionTable::Cifar32: return "cifar";
    case CorruptionTable::Auto: break;
  }
  return "auto";
}

CorruptionTable resolve_table(CorruptionTable table, int64_t height, int64_t width) {
  if (table != CorruptionTable::Auto) return table;
  const int64_t side = std::min(height, width);
  if (side <= 48) return CorruptionTable::Cifar32;
  if (side <= 128) return CorruptionTable::Tiny64;
  return CorruptionTable::ImageNet224;
}

uint64_t corruption_stream_seed(uint64_t image_seed, const std::string& name, int severity) {
  uint64_t h = 1469598103934665603ULL ^ image_seed;
  for (char ch : name) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ULL;
  h = (h ^ static_cast<uint64_t>(severity)) * 1099511628211ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<uint64_t> image_seeds(uint64_t run_seed, int64_t first_index, int64_t count) {
  std::vector<uint64_t> seeds;
  seeds.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) seeds.push_back(splitmix64(splitmix64(run_seed) ^ static_cast<uint64_t>(first_index + i)));
  return seeds;
}

torch::Tensor corrupt(const torch::Tensor& images, const std::string& name, int severity, const std::vector<uint64_t>& seeds,
                      const CorruptionOptions& options) {
  const CorruptionInfo& info = find_corruption(name);
  QB_USAGE_CHECK(severity >= 1 && severity <= 5, "corruption " << name << ": severity " << severity << " is not in 1..5");
  QB_CHECK(images.dim() == 4, "corrupt: images must be [N, C, H, W], got " << images.sizes());
  QB_CHECK(images.size(1) == 1 || images.size(1) == 3, "corrupt: images must have 1 or 3 channels, got " << images.size(1));
  QB_CHECK(images.is_floating_point(), "corrupt: images must be float in [0,1]");
  QB_CHECK(static_cast<int64_t>(seeds.size()) == images.size(0),
           "corrupt: " << seeds.size() << " seeds for " << images.size(0) << " images");
  if (images.numel() == 0) return images.clone();
  QB_CHECK(torch::isfinite(images).all().item<bool>(), "corrupt: images contain NaN or Inf");
  QB_CHECK(images.min().item<double>() >= 0 && images.max().item<double>() <= 1, "corrupt: images must lie in [0,1]");
  const auto table = resolve_table(options.table, images.size(2), images.size(3));
  std::vector<uint64_t> rng_seeds;
  rng_seeds.reserve(seeds.size());
  for (uint64_t s : seeds) rng_seeds.push_back(corruption_stream_seed(s, name, severity));
  // Work in chunks of about a million values: every image has its own stream, so chunking changes no bits,
  // and buffers of a few MB are reused by the allocator instead of being mapped and first-touched anew.
  const int64_t n = images.size(0), per_image = 3 * images.size(2) * images.size(3);
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 20) / per_image);
  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t count = std::min(chunk, n - start);
    const std::vector<uint64_t> chunk_seeds(rng_seeds.begin() + start, rng_seeds.begin() + start + count);
    auto x = images.narrow(0, start, count).to(torch::kDouble);
    const bool gray = x.size(1) == 1;
    if (gray) x = x.expand({-1, 3, -1, -1}).contiguous();
    const corruption::Call call{severity, table, chunk_seeds, options};
    auto y = info.apply(x, call).clamp_(0.0, 1.0);
    if (options.quantize || options.imagenet_c_jpeg) y = y.mul_(255.0).floor_().div_(255.0);
    if (options.imagenet_c_jpeg) y = jpeg_round_trip(y, 85);
    if (gray) {
      y = y.mean(1, /*keepdim=*/true);
      if (options.quantize) y = y.mul_(255.0).add_(1e-9).floor_().div_(255.0);
    }
    outputs.push_back(y.to(images.scalar_type()));
  }
  return outputs.size() == 1 ? outputs[0] : torch::cat(outputs);
}

}  // namespace questbench
