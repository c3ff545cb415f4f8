#include "models/batch_invariant.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace questbench {
namespace {

std::atomic<bool> batch_invariant_on{false};

using SampleFn = std::function<torch::Tensor(const torch::Tensor&, int64_t)>;

// body(i) for i in [0, n), inside an active parallel region whenever LibTorch may use more than one thread: ATen
// and OpenBLAS run their kernels on the calling thread inside a region, so everything body(i) computes is
// single-threaded, in the same order for any n and thread count. At least two iterations, so that
// at::parallel_for opens the region even for one sample (the spare ones do nothing).
void for_each_sample(int64_t n, const std::function<void(int64_t)>& body) {
  const bool grad = at::GradMode::is_enabled();
  const bool inference = c10::InferenceMode::is_enabled();
  const int64_t slots = at::get_num_threads() > 1 ? std::max<int64_t>(n, 2) : n;
  at::parallel_for(0, slots, 1, [&](int64_t begin, int64_t end) {
    // The caller's autograd modes: they are thread-local, and the region's other threads do not inherit them.
    c10::InferenceMode inference_mode(inference);
    at::AutoGradMode grad_mode(grad);
    for (int64_t i = begin; i < std::min(end, n); ++i) body(i);
  });
}

// The differentiable path: each sample's forward records its own graph, and the backward runs each sample's graph
// alone, again one sample per thread.
struct PerSampleFunction : public torch::autograd::Function<PerSampleFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const SampleFn* fn) {
    const int64_t n = x.size(0);
    std::vector<torch::Tensor> inputs(static_cast<size_t>(n)), outputs(static_cast<size_t>(n));
    for_each_sample(n, [&](int64_t i) {
      at::AutoGradMode grad_mode(true);  // autograd::Function runs forward with gradients off
      auto& input = inputs[static_cast<size_t>(i)];
      input = x.narrow(0, i, 1).detach().requires_grad_(true);
      outputs[static_cast<size_t>(i)] = (*fn)(input, i);
    });
    std::vector<torch::Tensor> values;
    values.reserve(outputs.size());
    for (const auto& o : outputs) values.push_back(o.detach());
    ctx->saved_data["inputs"] = inputs;
    ctx->saved_data["outputs"] = outputs;
    return torch::cat(values, 0);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto inputs = ctx->saved_data["inputs"].toTensorVector();
    const auto outputs = ctx->saved_data["outputs"].toTensorVector();
    const auto& grad = grads[0];
    const auto n = static_cast<int64_t>(inputs.size());
    std::vector<torch::Tensor> dx(inputs.size());
    for_each_sample(n, [&](int64_t i) {
      const auto k = static_cast<size_t>(i);
      if (outputs[k].requires_grad()) {
        // retain_graph: the caller may run backward through this node again (it keeps the graphs alive until then).
        dx[k] = torch::autograd::grad({outputs[k]}, {inputs[k]}, {grad.narrow(0, i, 1)}, /*retain_graph=*/true,
                                      /*create_graph=*/false, /*allow_unused=*/true)[0];
      }
      if (!dx[k].defined()) dx[k] = torch::zeros_like(inputs[k]);
    });
    return {torch::cat(dx, 0), torch::Tensor()};
  }
};

}  // namespace

void set_batch_invariant(bool on) { batch_invariant_on = on; }
bool batch_invariant() { return batch_invariant_on; }

torch::Tensor forward_per_sample(const SampleFn& fn, const torch::Tensor& x) {
  if (at::GradMode::is_enabled() && x.requires_grad()) return PerSampleFunction::apply(x, &fn);
  const int64_t n = x.size(0);
  std::vector<torch::Tensor> outputs(static_cast<size_t>(n));
  for_each_sample(n, [&](int64_t i) { outputs[static_cast<size_t>(i)] = fn(x.narrow(0, i, 1), i); });
  return torch::cat(outputs, 0);
}

}  // namespace questbench
