// Batch-invariant evaluation (--batch-invariant): every sample goes through the model alone, with every kernel on
// one thread, so that its logits and its input gradient are the same bits whatever batch it came in, whatever its
// position there and whatever the thread count. LibTorch's batched kernels do not promise that: a GEMM's rounding
// depends on the number of rows it is given, and threaded kernels split work by the thread count, so a sample's
// logits move in their last bits (~1e-6) with the batch size. The samples still run in parallel, one per thread.
// Scope: the model's forward and backward on CPU; reductions outside the model over more than ~32k elements of
// one sample (norms of large images at batch size 1) may still be split across threads.
#pragma once

#include <torch/types.h>

#include <functional>

namespace questbench {

// Process-wide, like LibTorch's thread count: set once by the command line before any model runs.
void set_batch_invariant(bool on);
bool batch_invariant();

// fn(x.narrow(0, i, 1), i) for each sample i of x alone, the results concatenated along dim 0; differentiable with
// respect to x (each sample's backward also runs alone and single-threaded). fn must treat samples independently
// (a model in eval mode does); calls for different i run concurrently.
torch::Tensor forward_per_sample(const std::function<torch::Tensor(const torch::Tensor&, int64_t)>& fn, const torch::Tensor& x);

}  // namespace questbench
