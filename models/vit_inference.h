// CPU float32 inference path for the native ViT: the same function as VisionTransformerImpl::forward (logits
// equal within float32 rounding, ~1e-6), computed without the module's per-op tensors.
//
// How: the batch is cut into chunks of whole samples sized to stay in cache; each chunk goes through the whole
// network on one thread, in buffers allocated once per thread and reused across calls, and the chunks run in
// parallel inside one parallel region (ATen and BLAS calls inside an active region run on the calling thread, so
// threads synchronize once per batch, not once per op). With token pooling the last block computes keys and
// values for every token but the rest (query, attention output, projection, MLP) for the first row only, the one
// row the head reads (a sixth of the shipped model's multiply-adds). Residual adds and biases run on the block just written,
// and attention runs per (sample, head) straight from the qkv rows, with the QUEST key normalization / scale
// folded into the operand copies. Measured (BENCHMARKS.md): about as fast as the module forward at 1 thread on an
// idle machine, 5.5x faster at 2 threads on a busy one, where the module's per-op synchronization stalls.
// Scope: CPU, float32 parameters and input, no gradient needed. Everything else (training, input gradients, CUDA,
// autocast, batch-invariant mode) keeps the module forward; Model::logits picks. Attention diagnostics come from
// the module forward, run beside this path, so that a run's logits do not depend on whether they were asked for.
// Chunks start at fixed offsets from the start of the batch (a fixed number of samples each), and every
// per-sample computation reads only its own sample, so a sample's logits do not depend on the thread count.
#pragma once

#include "models/vit.h"

#include <torch/types.h>

namespace questbench {

// True when vit_inference_logits can stand in for vit.forward(x): CPU float32 input and parameters, and no
// gradient can be asked for (gradient mode off, or neither x nor any parameter requires grad).
bool vit_inference_applies(const VisionTransformerImpl& vit, const torch::Tensor& x);

// x: normalized float32 [B, C, H, W] on the CPU -> logits float32 [B, num_classes]. Reads the parameters at
// call time (nothing is cached), so a model being trained is always seen as it is now.
torch::Tensor vit_inference_logits(const VisionTransformerImpl& vit, const torch::Tensor& x);

// Samples per chunk for a model with this many tokens (exposed for tests that want several chunks).
int64_t vit_inference_chunk_samples(int64_t num_tokens);

}  // namespace questbench
