#include "models/attention.h"

#include "models/fused_training.h"

#include <torch/torch.h>

#include <cmath>

namespace questbench {

torch::Tensor l2_normalize_last(const torch::Tensor& v) {
  return v / (v.norm(2, -1, /*keepdim=*/true) + 1e-6);
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias, AttentionKind kind, int64_t num_tokens)
    : num_heads_(num_heads), head_dim_(dim / num_heads), kind_(kind) {
  qkv = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * dim).bias(qkv_bias)));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
  if (kind == AttentionKind::QKNorm) {
    const double n = static_cast<double>(num_tokens);
    scale = register_parameter("scale", torch::full({num_heads}, std::log2(std::max(n * n - n, 2.0))));
  } else if (kind == AttentionKind::QNorm) {
    scale = register_parameter("scale", torch::ones({num_heads}));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, AttentionDiagnostics* diagnostics, torch::Tensor* per_sample) {
  if (fused_training && !diagnostics && !per_sample && torch::GradMode::is_enabled() && fused_kernels_apply(x))
    return proj->forward(fused_attention(qkv->forward(x), scale, kind_, num_heads_));
  const int64_t batch = x.size(0), tokens = x.size(1), dim = x.size(2);
  // [B, N, 3E] -> [3, B, H, N, D]
  auto qkv_out = qkv->forward(x).reshape({batch, tokens, 3, num_heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  auto q = qkv_out[0], k = qkv_out[1], v = qkv_out[2];

  torch::Tensor logits;
  switch (kind_) {
    case AttentionKind::Standard:
      logits = torch::matmul(q * (1.0 / std::sqrt(static_cast<double>(head_dim_))), k.transpose(-2, -1));
      break;
    case AttentionKind::Quest:
      logits = torch::matmul(q, l2_normalize_last(k).transpose(-2, -1));
      break;
    case AttentionKind::QKNorm:
      logits = torch::matmul(l2_normalize_last(q), l2_normalize_last(k).transpose(-2, -1)) *
               scale.view({1, num_heads_, 1, 1});
      break;
    case AttentionKind::QNorm:
      logits = torch::matmul(l2_normalize_last(q), k.transpose(-2, -1)) * scale.view({1, num_heads_, 1, 1});
      break;
  }
  auto attn = torch::softmax(logits, -1);
  auto out = torch::matmul(attn, v).transpose(1, 2).reshape({batch, tokens, dim});

  if (diagnostics) {
    torch::NoGradGuard no_grad;
    auto p = attn.detach().to(torch::kDouble);
    auto entropy = -torch::xlogy(p, p).sum(-1);  // [B, H, N]
    diagnostics->entropy_mean = entropy.mean().item<double>();
    auto per_head = entropy.mean(torch::IntArrayRef{0, 2}).to(torch::kCPU).contiguous();  // read on the host
    diagnostics->entropy_per_head.assign(per_head.data_ptr<double>(), per_head.data_ptr<double>() + per_head.numel());
    diagnostics->q_norm_mean = q.detach().norm(2, -1).mean().item<double>();
    diagnostics->k_norm_mean = k.detach().norm(2, -1).mean().item<double>();
    auto l = logits.detach();
    diagnostics->logits_std = l.std().item<double>();
    diagnostics->logits_max = l.max().item<double>();
    diagnostics->attn_max_mean = p.amax(-1).mean().item<double>();
  }
  if (per_sample) {
    torch::NoGradGuard no_grad;
    // In float64 from the float32 values the forward used: the columns are per-sample means of those.
    auto p = attn.detach().to(torch::kDouble);
    auto entropy = -torch::xlogy(p, p).sum(-1);  // [B, H, N]
    auto l = logits.detach().to(torch::kDouble).flatten(1);  // [B, H*N*N]
    const std::vector<int64_t> heads_tokens = {1, 2};
    auto columns = torch::cat({entropy.mean(heads_tokens).unsqueeze(1),
                               p.amax(-1).mean(heads_tokens).unsqueeze(1),
                               q.detach().to(torch::kDouble).norm(2, -1).mean(heads_tokens).unsqueeze(1),
                               k.detach().to(torch::kDouble).norm(2, -1).mean(heads_tokens).unsqueeze(1),
                               l.mean(1, /*keepdim=*/true),
                               l.var(1, /*unbiased=*/false, /*keepdim=*/true),
                               l.amax(1, /*keepdim=*/true),
                               entropy.mean(2)},
                              1);
    *per_sample = columns.to(torch::kCPU).contiguous();
  }
  return proj->forward(out);
}

}  // namespace questbench
