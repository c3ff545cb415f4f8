// The fused training kernels (models/fused_training.h) against autograd on the module path: the same values
// and gradients for all four attention variants and for GELU, and the same loss curve over a few steps.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/training.h"
#include "models/fused_training.h"
#include "models/vit.h"
#include "tests/rows_dataset.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <string>
#include <vector>

using namespace questbench;

namespace {

const std::vector<AttentionKind> kAllKinds = {AttentionKind::Standard, AttentionKind::Quest, AttentionKind::QKNorm,
                                              AttentionKind::QNorm};

std::string kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::Standard: return "standard";
    case AttentionKind::Quest: return "quest";
    case AttentionKind::QKNorm: return "qknorm";
    case AttentionKind::QNorm: return "qnorm";
  }
  return "?";
}

// Largest |a - b| relative to the largest |b| (both float tensors of one shape).
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  const double scale = std::max(1e-12, b.abs().max().item<double>());
  return (a - b).abs().max().item<double>() / scale;
}

struct AttentionRun {
  torch::Tensor out, grad_x;
  std::vector<torch::Tensor> grad_params;
};

AttentionRun run_attention(Attention& attn, const torch::Tensor& x, const torch::Tensor& grad_out, bool fused) {
  attn->fused_training = fused;
  attn->zero_grad();
  auto xx = x.clone().requires_grad_(true);
  auto out = attn->forward(xx);
  out.backward(grad_out);
  AttentionRun run{out.detach(), xx.grad().clone(), {}};
  for (const auto& p : attn->parameters()) run.grad_params.push_back(p.grad().clone());
  return run;
}

// Non-trivial weights: the module's default init plus noise on biases, and per-head scales away from 1.
Attention make_attention(AttentionKind kind, int64_t dim, int64_t heads, int64_t tokens, uint64_t seed) {
  torch::manual_seed(seed);
  Attention attn(dim, heads, /*qkv_bias=*/true, kind, tokens);
  torch::NoGradGuard no_grad;
  for (auto& p : attn->parameters()) p.add_(torch::randn_like(p) * 0.1);
  if (attn->scale.defined()) attn->scale.copy_(torch::linspace(0.7, 3.0, heads));
  return attn;
}

}  // namespace

TEST_CASE("fused attention gives the module path's output and gradients for every variant", "[training-speed]") {
  const int64_t batch = 3, tokens = 17, dim = 32, heads = 4;
  for (const auto kind : kAllKinds) {
    SECTION(kind_name(kind)) {
      auto attn = make_attention(kind, dim, heads, tokens, 11);
      torch::manual_seed(12);
      auto x = torch::randn({batch, tokens, dim});
      auto grad_out = torch::randn({batch, tokens, dim});
      const auto reference = run_attention(attn, x, grad_out, /*fused=*/false);
      const auto fused = run_attention(attn, x, grad_out, /*fused=*/true);
      CHECK(relative_difference(fused.out, reference.out) < 1e-5);
      CHECK(relative_difference(fused.grad_x, reference.grad_x) < 1e-4);
      REQUIRE(fused.grad_params.size() == reference.grad_params.size());
      for (size_t i = 0; i < fused.grad_params.size(); ++i) {
        INFO("parameter " << i);
        CHECK(relative_difference(fused.grad_params[i], reference.grad_params[i]) < 1e-4);
      }
    }
  }
}

TEST_CASE("the fused flag routes the attention through the fused kernel", "[training-speed]") {
  for (const auto kind : kAllKinds) {
    auto attn = make_attention(kind, 16, 2, 5, 3);
    auto x = torch::randn({2, 5, 16});
    attn->fused_training = true;
    auto via_module = attn->forward(x);
    auto direct = attn->proj->forward(fused_attention(attn->qkv->forward(x), attn->scale, kind, 2));
    CHECK(torch::equal(via_module, direct));
    // Asked for statistics, the module takes its own path (the fused kernel keeps no probabilities for them).
    AttentionDiagnostics diagnostics;
    auto with_statistics = attn->forward(x, &diagnostics);
    CHECK(diagnostics.entropy_per_head.size() == 2);
    CHECK(relative_difference(with_statistics, via_module) < 1e-5);
  }
}

TEST_CASE("fused attention splits across threads without changing a bit", "[training-speed]") {
  // The kernel alone (the Linear layers around it are ATen's, whose BLAS may split work by thread count).
  torch::manual_seed(21);
  auto qkv = torch::randn({8, 17, 96});
  auto scale = torch::linspace(0.5, 2.0, 4);
  auto grad_out = torch::randn({8, 17, 32});
  auto run = [&](int threads) {
    at::set_num_threads(threads);
    auto q = qkv.clone().requires_grad_(true);
    auto g = scale.clone().requires_grad_(true);
    auto out = fused_attention(q, g, AttentionKind::QKNorm, 4);
    out.backward(grad_out);
    return std::vector<torch::Tensor>{out.detach(), q.grad(), g.grad()};
  };
  const int threads_before = at::get_num_threads();
  const auto one = run(1);
  const auto two = run(2);
  at::set_num_threads(threads_before);
  for (size_t i = 0; i < one.size(); ++i) {
    INFO("tensor " << i << " (output, grad qkv, grad scale)");
    CHECK(torch::equal(one[i], two[i]));
  }
}

TEST_CASE("fused GELU gives ATen's values and gradients", "[training-speed]") {
  auto x = torch::linspace(-8.0, 8.0, 4001).to(torch::kFloat).requires_grad_(true);
  auto grad_out = torch::randn({4001});
  auto reference = torch::gelu(x);
  reference.backward(grad_out);
  auto reference_grad = x.grad().clone();
  x.mutable_grad().reset();
  auto fused = fused_gelu(x);
  fused.backward(grad_out);
  CHECK(torch::equal(fused.detach(), reference.detach()));
  CHECK((x.grad() - reference_grad).abs().max().item<double>() < 1e-5);
}

TEST_CASE("a few training steps with the fused kernels follow the module path's loss curve", "[training-speed]") {
  test::RowsDataset data(256, 7);
  for (const auto kind : kAllKinds) {
    SECTION(kind_name(kind)) {
      TrainOptions o;
      auto& c = o.config;
      c.img_height = c.img_width = 8;
      c.patch_size = 2;  // 16 patches + the class token
      c.in_chans = 1;
      c.num_classes = 4;
      c.embed_dim = 32;
      c.depth = 2;
      c.num_heads = 2;
      c.attention = kind;
      o.epochs = 2;
      o.batch_size = 32;
      o.learning_rate = 3e-3;
      o.seed = 9;
      o.fused_kernels = false;
      const auto reference = time_training_steps(o, data, torch::kCPU, 0, 12);
      o.fused_kernels = true;
      const auto fused = time_training_steps(o, data, torch::kCPU, 0, 12);
      REQUIRE(fused.losses.size() == 12);
      REQUIRE(reference.losses.size() == 12);
      for (size_t i = 0; i < fused.losses.size(); ++i) {
        INFO("step " << i << ": fused " << fused.losses[i] << ", module path " << reference.losses[i]);
        CHECK(std::abs(fused.losses[i] - reference.losses[i]) < 1e-3 * std::abs(reference.losses[i]));
      }
      CHECK(reference.losses.back() < reference.losses.front());  // it trains at all
    }
  }
}
