// Vision Transformer in timm's exact layout (parameter names, shapes and forward semantics of
// timm.models.vision_transformer.VisionTransformer with default options), so timm-layout safetensors
// load by exact key match:
//   patch_embed.proj (Conv2d, stride = patch), cls_token [1,1,E], pos_embed [1,N,E] (includes the class
//   position; added after the concat), blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2},
//   norm (global_pool "token") or fc_norm (global_pool "avg"), head.
// LayerNorm eps 1e-6, exact erf GELU, pre-norm residual blocks. Input: normalized float [B, C, H, W].
#pragma once

#include "models/attention.h"
#include "models/vit_config.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include <vector>

namespace questbench {

class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t in_chans, int64_t embed_dim, int64_t patch_size);
  torch::Tensor forward(const torch::Tensor& x);  // [B,C,H,W] -> [B, L, E], patches row-major
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  bool fused_training = false;  // with grad mode on: the fused GELU (models/fused_training.h)
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const ViTConfig& config);
  torch::Tensor forward(const torch::Tensor& x, AttentionDiagnostics* diagnostics = nullptr, torch::Tensor* per_sample = nullptr);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

class VisionTransformerImpl : public torch::nn::Module {
 public:
  explicit VisionTransformerImpl(const ViTConfig& config);
  // x: normalized float [B, C, H, W] -> logits [B, num_classes]. When diagnostics is non-null it is
  // resized to depth and filled per block.
  // per_sample: when non-null, resized to depth and set per block to its attention's per-sample statistics
  // (AttentionImpl::forward).
  torch::Tensor forward(const torch::Tensor& x, std::vector<AttentionDiagnostics>* diagnostics = nullptr,
                        std::vector<torch::Tensor>* per_sample = nullptr);
  const ViTConfig& config() const { return config_; }
  // timm's training init: trunc_normal(std .02) for Linear weights and pos_embed, zero biases,
  // cls_token N(0, 1e-6), LayerNorm ones/zeros, Conv2d PyTorch default. Seeded by the caller.
  void reset_parameters_timm();
  // Training with the fused CPU kernels of models/fused_training.h (same functions up to float rounding).
  void set_fused_training(bool on);

  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token, pos_embed;
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr}, fc_norm{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  ViTConfig config_;
  std::vector<Block> block_list_;
};
TORCH_MODULE(VisionTransformer);

}  // namespace questbench
