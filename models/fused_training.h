// Fused CPU kernels for the ViT's training step, each an autograd function with a hand-written backward.
//
// Why: the model is small (17 tokens, 16-dim heads), so on the CPU the step is dominated by per-op overhead
// rather than arithmetic: ATen's bmm runs one tiny matmul per (sample, head) with a tensor view each, the
// head split/merge permutes copy, and softmax, normalization and GELU each make a pass of their own. The
// fused attention reads q, k, v straight from the qkv projection's output [B, N, 3E] and writes the heads'
// outputs in the [B, N, E] layout the output projection takes, one (sample, head) per task; it saves only
// the input and the attention probabilities for the backward and recomputes the rest.
//
// Both are the same functions as the module path (models/attention.cpp, the Mlp in models/vit.cpp) up to float
// rounding; tests/test_training_speed.cpp checks values and gradients against autograd on the module path.
// CPU float32 only; the callers fall back to the module path for anything else.
#pragma once

#include "models/vit_config.h"

#include <torch/types.h>

namespace questbench {

// qkv: float [B, N, 3E] (rows Q|K|V, head-major, as AttentionImpl's qkv Linear writes them), contiguous or not.
// scale: the per-head learnable scale [H] for qknorm/qnorm; ignored (may be undefined) for standard/quest.
// Returns the attention output before the output projection, float [B, N, E]. Differentiable in qkv and scale.
torch::Tensor fused_attention(const torch::Tensor& qkv, const torch::Tensor& scale, AttentionKind kind, int64_t num_heads);

// Exact (erf) GELU of x, differentiable; one pass forward, one pass backward.
torch::Tensor fused_gelu(const torch::Tensor& x);

// Whether the fused kernels apply to `x` (CPU, float32).
bool fused_kernels_apply(const torch::Tensor& x);

}  // namespace questbench
