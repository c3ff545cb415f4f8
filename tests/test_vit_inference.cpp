// The CPU float32 inference path (models/vit_inference.h) against the module forward and timm's reference logits.
#include "tests/catch_torch.h"  // first: see the header
#include "common/npy.h"
#include "models/checkpoint.h"
#include "models/model.h"
#include "models/vit_inference.h"
#include "tests/test_support.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

using namespace questbench;
using questbench::test::reference_dir;

namespace {

// Weights far from the training init (which makes attention near uniform and the logits tiny), so that a wrong
// head split, scale, normalization, pooling or residual shows: Linear/Conv weights N(0, (1.5/sqrt(fan_in))^2),
// LayerNorm weights 1 + N(0, 0.25^2), biases, class token and positions N(0, 0.1^2), per-head gains 3 + N(0, 1).
void randomize(VisionTransformerImpl& vit, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& item : vit.named_parameters()) {
    const std::string& name = item.key();
    auto& p = item.value();
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, "scale") == 0) {
      p.normal_(3.0, 1.0);
    } else if (p.dim() >= 2 && name.find("token") == std::string::npos && name.find("pos_embed") == std::string::npos) {
      p.normal_(0.0, 1.5 / std::sqrt(static_cast<double>(p[0].numel())));
    } else if (name.find("norm") != std::string::npos && name.find("weight") != std::string::npos) {
      p.normal_(1.0, 0.25);
    } else {
      p.normal_(0.0, 0.1);
    }
  }
}

ViTConfig config_for(AttentionKind kind, const std::string& pool, bool many_tokens) {
  ViTConfig c;  // the shipped model's shape: 28x28, patch 7 -> 17 tokens, embed 64, 4 heads (attention in plain loops)
  c.depth = 2;
  c.attention = kind;
  c.global_pool = pool;
  if (many_tokens) {  // 65 tokens, head dim 32: attention through BLAS
    c.img_height = c.img_width = 32;
    c.patch_size = 4;
    c.in_chans = 3;
    c.embed_dim = 96;
    c.num_heads = 3;
  }
  return c;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_CASE("the inference path equals the module forward for every variant and pooling", "[vit-inference]") {
  for (const bool many_tokens : {false, true}) {
    for (const std::string pool : {"token", "avg"}) {
      for (const auto kind : {AttentionKind::Standard, AttentionKind::Quest, AttentionKind::QKNorm, AttentionKind::QNorm}) {
        const auto c = config_for(kind, pool, many_tokens);
        VisionTransformer vit(c);
        randomize(*vit, 17);
        vit->eval();
        torch::manual_seed(3);
        auto x = torch::randn({300, c.in_chans, c.img_height, c.img_width});
        for (const int64_t batch : {1, 7, 64, 300}) {
          auto xb = x.narrow(0, 0, batch);
          torch::NoGradGuard no_grad;
          REQUIRE(vit_inference_applies(*vit, xb));
          auto expected = vit->forward(xb);
          auto fast = vit_inference_logits(*vit, xb);
          INFO(attention_kind_name(kind) << " pool " << pool << " tokens " << c.num_tokens() << " batch " << batch
                                         << " max |diff| " << max_abs_diff(fast, expected) << " max |logit| "
                                         << expected.abs().max().item<double>());
          REQUIRE(fast.sizes() == expected.sizes());
          CHECK(torch::allclose(fast, expected, 2e-5, 2e-5));
        }
      }
    }
  }
}

TEST_CASE("the inference path reproduces timm's reference logits", "[vit-inference][timm]") {
  const std::string dir = reference_dir() + "/vit/";
  auto inputs = read_npy(dir + "inputs.npy");
  for (const std::string attention : {"standard", "quest"}) {
    auto config = read_checkpoint_config(dir + "model.safetensors");
    config.attention = parse_attention_kind(attention);
    auto vit = load_vit_weights(dir + "model.safetensors", config);
    vit->eval();
    auto expected = read_npy(dir + "logits_" + attention + ".npy");
    torch::NoGradGuard no_grad;
    auto fast = vit_inference_logits(*vit, inputs);
    INFO(attention << " max |diff| " << max_abs_diff(fast, expected));
    CHECK(torch::allclose(fast, expected, 2e-5, 2e-5));
  }
}

TEST_CASE("the inference path stays out when a gradient may be asked for", "[vit-inference]") {
  VisionTransformer vit(config_for(AttentionKind::Quest, "token", false));
  vit->eval();
  for (auto& p : vit->parameters()) p.set_requires_grad(false);
  auto x = torch::rand({2, 1, 28, 28});
  CHECK(vit_inference_applies(*vit, x));
  auto xg = x.clone().requires_grad_(true);
  CHECK_FALSE(vit_inference_applies(*vit, xg));
  {
    torch::NoGradGuard no_grad;
    CHECK(vit_inference_applies(*vit, xg));
  }
  vit->pos_embed.set_requires_grad(true);  // a model being trained
  CHECK_FALSE(vit_inference_applies(*vit, x));
  CHECK_FALSE(vit_inference_applies(*vit, x.to(torch::kDouble)));
}

TEST_CASE("Model::logits keeps the input gradient with the inference path in place", "[vit-inference]") {
  const std::string dir = reference_dir() + "/vit/";
  ModelSource source;
  source.path = dir + "model.safetensors";
  source.attention = "quest";
  auto model = Model::load(source, torch::kCPU);
  auto x = read_npy(dir + "inputs.npy").requires_grad_(true);
  auto logits = model.logits(x);
  REQUIRE(logits.requires_grad());
  auto grad = torch::autograd::grad({logits.sum()}, {x})[0];
  CHECK(grad.abs().sum().item<double>() > 0);
  torch::NoGradGuard no_grad;
  CHECK(torch::allclose(model.logits(x.detach()), logits.detach(), 2e-5, 2e-5));
}
