// Model: the one handle benchmarks use. It owns eval mode, device placement and the preprocessing
// (mean/std, input size), so callers only ever pass images in [0,1]:
//   torch::Tensor logits = model.logits(x01);   // x01 float [N, C, H, W] in [0,1] -> float [N, K]
// Two kinds: a native ViT (safetensors, timm layout) and any TorchScript classifier (torch::jit::load)
// with user-given mean/std/input size/class count. Parameters never require grad here; gradients
// with respect to the input flow through logits() when the input requires grad.
#pragma once

#include "models/attention.h"
#include "models/autocast.h"
#include "models/model_info.h"
#include "models/vit.h"
#include "models/vit_config.h"

#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace torch::jit {
struct Module;
}

namespace questbench {

struct ModelSource {
  std::string path;
  std::string format = "auto";   // auto (by extension: .safetensors | .pt/.pth/.ts), safetensors, torchscript
  std::string name;              // display name; default: file stem
  std::string attention;         // overrides the stored attention variant (native ViT only)
  std::string config_json;       // config for a safetensors file without one in its metadata (JSON text)
  // TorchScript (and overrides for native): empty/0 means "from the checkpoint" or identity/unchecked.
  std::vector<double> mean, std;
  int64_t channels = 0, height = 0, width = 0, num_classes = 0;
};

class Model {
 public:
  // Loads from disk onto `device`; throws questbench::Error naming the file on any problem.
  static Model load(const ModelSource& source, torch::Device device);
  // Wraps an in-memory ViT (e.g. fresh from training).
  static Model from_vit(VisionTransformer vit, const std::string& name, torch::Device device);

  // x01: float [N, C, H, W] in [0,1] on any device -> logits float [N, K] on the model's device (float32
  // also under autocast, so that losses are computed in float32).
  torch::Tensor logits(const torch::Tensor& x01) const;
  // The same logits from the same forward pass, and per layer the attention's per-sample statistics, float64
  // [N, diagnostics_column::kFirstHead + heads] on the host (native ViT only; throws for TorchScript).
  torch::Tensor logits(const torch::Tensor& x01, std::vector<torch::Tensor>* per_sample_diagnostics) const;
  // Attention logits of one sample in one layer (heads x tokens x tokens; native ViT only, else 0).
  int64_t attention_logits_per_sample() const;
  // Mixed precision for the forward pass (default None); throws UsageError if the device cannot run it.
  void set_autocast(Autocast mode);
  Autocast autocast() const { return autocast_; }
  // Per-layer attention diagnostics for a batch (native ViT only; throws for TorchScript).
  std::vector<AttentionDiagnostics> diagnostics(const torch::Tensor& x01) const;

  const ModelInfo& info() const { return info_; }
  const std::string& name() const { return info_.name; }
  torch::Device device() const { return device_; }
  bool is_vit() const { return static_cast<bool>(vit_); }

 private:
  Model() = default;
  torch::Tensor normalize(const torch::Tensor& x01) const;
  void set_preprocess(std::vector<double> mean, std::vector<double> std);

  ModelInfo info_;
  torch::Device device_{torch::kCPU};
  Autocast autocast_ = Autocast::None;
  mutable std::shared_ptr<VisionTransformerImpl> vit_;
  mutable std::shared_ptr<torch::jit::Module> script_;
  torch::Tensor mean_, inv_std_;  // [1, C, 1, 1] on device_
};

}  // namespace questbench
