// Multi-head self-attention with pluggable logits, in timm's layout (`qkv`, `proj`).
//
// Input/output: x float [B, N, E]; E = H * D (H heads of D dims). qkv rows are Q|K|V, head-major within
// each (head h uses rows h*D .. h*D+D-1), exactly like timm's Attention.
// Logits per head, before the softmax over keys:
//   standard  q·k / sqrt(D)
//   quest     q·k̂,  k̂ = k / (||k|| + 1e-6)         (QUEST; no scale, no extra parameters)
//   qknorm    g_h · q̂·k̂, q̂ = q/(||q||+1e-6)          (Henry et al. 2020; g_h learnable, one per head)
//   qnorm     g_h · q̂·k                                (queries only normalized; g_h learnable)
// The learnable per-head scale is the parameter `attn.scale` [H]; it is only present for qknorm/qnorm.
// Inits (documented choices): qknorm g_h = log2(N² − N) for N tokens (Henry et al.'s rule; ≈ 8.1 for
// 17 tokens); qnorm g_h = 1 (logits = ||k|| cos, the mirror image of QUEST's ||q|| cos).
#pragma once

#include "models/model_info.h"
#include "models/vit_config.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <vector>

namespace questbench {

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias, AttentionKind kind, int64_t num_tokens);
  // diagnostics: when non-null, filled from this call (costs an extra reduction pass; no autograd).
  // per_sample: when non-null, set to this call's per-sample statistics, float64 [B, kFirstHead + H] on the
  // host (columns: diagnostics_column in model_info.h). Neither changes the returned values.
  torch::Tensor forward(const torch::Tensor& x, AttentionDiagnostics* diagnostics = nullptr, torch::Tensor* per_sample = nullptr);

  AttentionKind kind() const { return kind_; }
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  torch::Tensor scale;  // [H], qknorm/qnorm only
  // Training: with grad mode on and no statistics asked for, run the fused CPU kernel (models/fused_training.h).
  bool fused_training = false;

 private:
  int64_t num_heads_, head_dim_;
  AttentionKind kind_;
};
TORCH_MODULE(Attention);

// Normalizes the last dim: v / (||v||_2 + 1e-6), the QUEST convention.
torch::Tensor l2_normalize_last(const torch::Tensor& v);

}  // namespace questbench
