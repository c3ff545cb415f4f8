#include "models/checkpoint.h"

#include "common/error.h"
#include "models/safetensors.h"

#include <torch/torch.h>

#include <set>

namespace questbench {

void save_vit_checkpoint(const std::string& path, VisionTransformer& model, const ViTConfig& config) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) tensors.emplace_back(item.key(), item.value());
  for (const auto& item : model->named_buffers(/*recurse=*/true)) tensors.emplace_back(item.key(), item.value());
  write_safetensors(path, tensors, {{"format", "pt"}, {"config", vit_config_to_json(config)}});
}

ViTConfig read_checkpoint_config(const std::string& path) {
  auto file = read_safetensors(path);
  auto it = file.metadata.find("config");
  QB_CHECK(it != file.metadata.end(),
           path << ": no model config in the safetensors metadata; pass one with --config JSON|FILE");
  return vit_config_from_json(it->second, path);
}

VisionTransformer load_vit_weights(const std::string& path, const ViTConfig& config) {
  auto file = read_safetensors(path);
  VisionTransformer model(config);
  torch::NoGradGuard no_grad;
  std::set<std::string> expected;
  auto assign = [&](const std::string& name, torch::Tensor& target) {
    expected.insert(name);
    const torch::Tensor* source = file.find(name);
    QB_CHECK(source, path << ": tensor '" << name << "' is missing (does the config match the weights?)");
    QB_CHECK(source->sizes() == target.sizes(), path << ": tensor '" << name << "' has shape " << source->sizes()
                                                     << ", the config needs " << target.sizes());
    auto value = source->to(torch::kFloat);
    QB_CHECK(torch::isfinite(value).all().item<bool>(), path << ": tensor '" << name << "' contains NaN or Inf");
    target.copy_(value);
  };
  for (auto& item : model->named_parameters(true)) assign(item.key(), item.value());
  for (auto& item : model->named_buffers(true)) assign(item.key(), item.value());
  for (const auto& [name, tensor] : file.tensors) {
    QB_CHECK(expected.count(name), path << ": unexpected tensor '" << name
                                         << "' (not part of this ViT config; wrong attention variant or architecture?)");
  }
  return model;
}

}  // namespace questbench
