#include "models/vit.h"

#include "models/fused_training.h"

#include <torch/torch.h>

namespace questbench {
namespace {

torch::nn::LayerNorm layer_norm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6).elementwise_affine(true));
}

// Truncated normal on [-2, 2] (absolute bounds, as timm's trunc_normal_ default), by inverse CDF.
void trunc_normal_(torch::Tensor t, double std) {
  torch::NoGradGuard no_grad;
  const double a = -2.0, b = 2.0;
  auto cdf = [](double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); };
  const double lo = cdf(a / std), hi = cdf(b / std);
  t.uniform_(2 * lo - 1, 2 * hi - 1);
  t.erfinv_();
  t.mul_(std * std::sqrt(2.0));
  t.clamp_(a, b);
}

}  // namespace

PatchEmbedImpl::PatchEmbedImpl(int64_t in_chans, int64_t embed_dim, int64_t patch_size) {
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_chans, embed_dim, patch_size)
                                                       .stride(patch_size)
                                                       .bias(true)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  return proj->forward(x).flatten(2).transpose(1, 2);
}

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  auto hidden = fc1->forward(x);
  if (fused_training && torch::GradMode::is_enabled() && fused_kernels_apply(hidden)) return fc2->forward(fused_gelu(hidden));
  return fc2->forward(torch::gelu(hidden));  // exact erf GELU
}

BlockImpl::BlockImpl(const ViTConfig& c) {
  norm1 = register_module("norm1", layer_norm(c.embed_dim));
  attn = register_module("attn", Attention(c.embed_dim, c.num_heads, c.qkv_bias, c.attention, c.num_tokens()));
  norm2 = register_module("norm2", layer_norm(c.embed_dim));
  mlp = register_module("mlp", Mlp(c.embed_dim, c.mlp_hidden()));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, AttentionDiagnostics* diagnostics, torch::Tensor* per_sample) {
  auto y = x + attn->forward(norm1->forward(x), diagnostics, per_sample);
  y = y + mlp->forward(norm2->forward(y));
  if (diagnostics) {
    torch::NoGradGuard no_grad;
    auto d = y.detach().to(torch::kDouble);
    diagnostics->block_out_mean = d.mean().item<double>();
    diagnostics->block_out_std = d.std().item<double>();
  }
  return y;
}

VisionTransformerImpl::VisionTransformerImpl(const ViTConfig& config) : config_(config) {
  validate(config_);
  const auto& c = config_;
  patch_embed = register_module("patch_embed", PatchEmbed(c.in_chans, c.embed_dim, c.patch_size));
  if (c.class_token) cls_token = register_parameter("cls_token", torch::zeros({1, 1, c.embed_dim}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, c.num_tokens(), c.embed_dim}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    block_list_.push_back(Block(c));
    blocks->push_back(block_list_.back());
  }
  if (c.global_pool == "token") {
    norm = register_module("norm", layer_norm(c.embed_dim));
  } else {
    fc_norm = register_module("fc_norm", layer_norm(c.embed_dim));
  }
  head = register_module("head", torch::nn::Linear(c.embed_dim, c.num_classes));
  reset_parameters_timm();
}

void VisionTransformerImpl::reset_parameters_timm() {
  torch::NoGradGuard no_grad;
  trunc_normal_(pos_embed, 0.02);
  if (cls_token.defined()) cls_token.normal_(0.0, 1e-6);
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      trunc_normal_(linear->weight, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* ln = module->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
}

void VisionTransformerImpl::set_fused_training(bool on) {
  for (auto& block : block_list_) {
    block->attn->fused_training = on;
    block->mlp->fused_training = on;
  }
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& x, std::vector<AttentionDiagnostics>* diagnostics,
                                             std::vector<torch::Tensor>* per_sample) {
  const auto& c = config_;
  auto tokens = patch_embed->forward(x);  // [B, L, E]
  if (c.class_token) tokens = torch::cat({cls_token.expand({tokens.size(0), 1, c.embed_dim}), tokens}, 1);
  tokens = tokens + pos_embed;
  if (diagnostics) diagnostics->assign(block_list_.size(), AttentionDiagnostics{});
  if (per_sample) per_sample->assign(block_list_.size(), torch::Tensor());
  for (size_t i = 0; i < block_list_.size(); ++i) {
    tokens = block_list_[i]->forward(tokens, diagnostics ? &(*diagnostics)[i] : nullptr, per_sample ? &(*per_sample)[i] : nullptr);
  }
  torch::Tensor pooled;
  if (c.global_pool == "token") {
    pooled = norm->forward(tokens).select(1, 0);
  } else {
    const int64_t prefix = c.class_token ? 1 : 0;
    pooled = fc_norm->forward(tokens.slice(1, prefix).mean(1));
  }
  return head->forward(pooled);
}

}  // namespace questbench
