// ViT, attention variants, checkpoints: checked against timm's reference logits and diagnostics.
#include "tests/catch_torch.h"  // first: see the header
#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "models/checkpoint.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "tests/test_support.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

using namespace questbench;
using questbench::test::reference_dir;

namespace {

std::string vit_ref(const std::string& file) { return reference_dir() + "/vit/" + file; }

Model load_reference(const std::string& attention) {
  ModelSource source;
  source.path = vit_ref("model.safetensors");
  source.attention = attention;
  return Model::load(source, torch::kCPU);
}

ViTConfig tiny_config(AttentionKind kind) {
  ViTConfig c;
  c.img_height = c.img_width = 16;
  c.patch_size = 4;
  c.in_chans = 3;
  c.num_classes = 5;
  c.embed_dim = 24;
  c.depth = 2;
  c.num_heads = 3;
  c.attention = kind;
  return c;
}

}  // namespace

TEST_CASE("ViT reproduces timm's logits for standard and QUEST attention", "[models][timm]") {
  REQUIRE(file_exists(vit_ref("model.safetensors")));
  auto inputs = read_npy(vit_ref("inputs.npy"));
  REQUIRE(inputs.sizes() == torch::IntArrayRef({8, 3, 32, 32}));
  for (const std::string attention : {"standard", "quest"}) {
    SECTION(attention) {
      auto expected = read_npy(vit_ref("logits_" + attention + ".npy"));
      torch::NoGradGuard no_grad;
      auto logits = load_reference(attention).logits(inputs);
      const double max_diff = (logits - expected).abs().max().item<double>();
      INFO(attention << " max |diff| = " << max_diff);
      CHECK(torch::allclose(logits, expected, 2e-5, 2e-5));
    }
  }
}

TEST_CASE("the standard and QUEST logits differ (the override really changes the attention)", "[models][timm]") {
  auto inputs = read_npy(vit_ref("inputs.npy"));
  torch::NoGradGuard no_grad;
  auto standard = load_reference("standard").logits(inputs);
  auto quest = load_reference("quest").logits(inputs);
  CHECK((standard - quest).abs().max().item<double>() > 0.1);
}

TEST_CASE("attention diagnostics match timm's reference diagnostics", "[models][timm]") {
  auto inputs = read_npy(vit_ref("inputs.npy"));
  std::ifstream in(vit_ref("diagnostics.json"));
  auto ref = nlohmann::json::parse(in);
  for (const std::string attention : {"standard", "quest"}) {
    auto layers = load_reference(attention).diagnostics(inputs);
    const auto& expected = ref.at(attention);
    REQUIRE(layers.size() == expected.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      INFO(attention << " layer " << i);
      const auto& e = expected[i];
      CHECK(layers[i].entropy_mean == Approx(e["entropy_mean"].get<double>()).epsilon(1e-4));
      CHECK(layers[i].q_norm_mean == Approx(e["q_norm_mean"].get<double>()).epsilon(1e-4));
      CHECK(layers[i].k_norm_mean == Approx(e["k_norm_mean"].get<double>()).epsilon(1e-4));
      CHECK(layers[i].logits_std == Approx(e["logits_std"].get<double>()).epsilon(1e-4));
      CHECK(layers[i].attn_max_mean == Approx(e["attn_max_mean"].get<double>()).epsilon(1e-4));
      CHECK(layers[i].block_out_std == Approx(e["block_out_std"].get<double>()).epsilon(1e-4));
      CHECK(std::abs(layers[i].block_out_mean - e["block_out_mean"].get<double>()) < 1e-5);
      const auto per_head = e["entropy_per_head"].get<std::vector<double>>();
      REQUIRE(layers[i].entropy_per_head.size() == per_head.size());
      for (size_t h = 0; h < per_head.size(); ++h) CHECK(layers[i].entropy_per_head[h] == Approx(per_head[h]).epsilon(1e-4));
    }
  }
}

TEST_CASE("QUEST normalizes every key to unit L2 norm", "[models]") {
  torch::manual_seed(3);
  auto k = torch::randn({2, 3, 17, 8}) * 5;
  auto norms = l2_normalize_last(k).norm(2, -1);
  CHECK(torch::allclose(norms, torch::ones_like(norms), 1e-5, 1e-5));
  // A key scaled up 100x gets exactly the same weight in QUEST: no key can steal attention by its norm.
  Attention quest(24, 3, true, AttentionKind::Quest, 5);
  Attention standard(24, 3, true, AttentionKind::Standard, 5);
  auto x = torch::randn({1, 5, 24});
  torch::NoGradGuard no_grad;
  auto keys = quest->qkv->forward(x).reshape({1, 5, 3, 3, 8}).permute({2, 0, 3, 1, 4})[1];
  auto scaled = l2_normalize_last(keys * 100.0);
  CHECK(torch::allclose(scaled, l2_normalize_last(keys), 1e-5, 1e-6));
}

TEST_CASE("attention variants have the documented parameters", "[models]") {
  auto count_scale = [](AttentionKind kind) {
    VisionTransformer vit(tiny_config(kind));
    int n = 0;
    for (const auto& p : vit->named_parameters())
      if (p.key().find("attn.scale") != std::string::npos) ++n;
    return n;
  };
  CHECK(count_scale(AttentionKind::Standard) == 0);
  CHECK(count_scale(AttentionKind::Quest) == 0);
  CHECK(count_scale(AttentionKind::QKNorm) == 2);
  CHECK(count_scale(AttentionKind::QNorm) == 2);
  VisionTransformer standard(tiny_config(AttentionKind::Standard)), quest(tiny_config(AttentionKind::Quest));
  CHECK(standard->parameters().size() == quest->parameters().size());
  auto names = standard->named_parameters().keys();
  CHECK(std::find(names.begin(), names.end(), "blocks.1.attn.qkv.weight") != names.end());
  CHECK(std::find(names.begin(), names.end(), "patch_embed.proj.weight") != names.end());
  CHECK(std::find(names.begin(), names.end(), "norm.weight") != names.end());
  auto avg = tiny_config(AttentionKind::Standard);
  avg.global_pool = "avg";
  VisionTransformer avg_vit(avg);
  auto avg_names = avg_vit->named_parameters().keys();
  CHECK(std::find(avg_names.begin(), avg_names.end(), "fc_norm.weight") != avg_names.end());
  CHECK(std::find(avg_names.begin(), avg_names.end(), "norm.weight") == avg_names.end());
}

TEST_CASE("logits do not depend on the batch size (1 vs 64)", "[models]") {
  auto model = load_reference("quest");
  torch::manual_seed(11);
  auto x = torch::rand({64, 3, 32, 32});
  torch::NoGradGuard no_grad;
  auto full = model.logits(x);
  std::vector<torch::Tensor> singles;
  for (int64_t i = 0; i < 64; ++i) singles.push_back(model.logits(x.slice(0, i, i + 1)));
  CHECK((torch::cat(singles, 0) - full).abs().max().item<double>() <= 1e-5);
}

TEST_CASE("safetensors round trip is bit-exact", "[models][safetensors]") {
  const auto dir = test::make_temp_dir("st");
  for (auto kind : {AttentionKind::Standard, AttentionKind::Quest, AttentionKind::QKNorm, AttentionKind::QNorm}) {
    auto config = tiny_config(kind);
    config.mean = {0.5, 0.4, 0.3};
    config.std = {0.2, 0.25, 0.3};
    torch::manual_seed(5);
    VisionTransformer vit(config);
    const std::string a = dir + "/a.safetensors", b = dir + "/b.safetensors";
    save_vit_checkpoint(a, vit, config);
    auto reloaded = load_vit_weights(a, read_checkpoint_config(a));
    for (const auto& p : vit->named_parameters()) {
      INFO(p.key());
      CHECK(torch::equal(p.value(), reloaded->named_parameters()[p.key()]));
    }
    save_vit_checkpoint(b, reloaded, read_checkpoint_config(a));
    CHECK(read_file_bytes(a) == read_file_bytes(b));
    CHECK(vit_config_to_json(read_checkpoint_config(a)) == vit_config_to_json(config));
  }
  // Non-float dtypes survive too.
  const std::string c = dir + "/c.safetensors";
  auto ints = torch::arange(10, torch::kLong), bytes = torch::arange(7, torch::kByte), halves = torch::rand({3, 2}).to(torch::kHalf);
  write_safetensors(c, {{"i", ints}, {"b", bytes}, {"h", halves}}, {{"k", "v"}});
  auto file = read_safetensors(c);
  CHECK(torch::equal(*file.find("i"), ints));
  CHECK(torch::equal(*file.find("b"), bytes));
  CHECK(torch::equal(*file.find("h"), halves));
  CHECK(file.metadata.at("k") == "v");
  // The timm reference file round-trips byte for byte through our reader and writer.
  auto ref = read_safetensors(vit_ref("model.safetensors"));
  write_safetensors(dir + "/ref.safetensors", ref.tensors, ref.metadata);
  auto again = read_safetensors(dir + "/ref.safetensors");
  REQUIRE(again.tensors.size() == ref.tensors.size());
  for (size_t i = 0; i < ref.tensors.size(); ++i) CHECK(torch::equal(again.tensors[i].second, ref.tensors[i].second));
}

TEST_CASE("malformed safetensors files give clean errors", "[models][safetensors]") {
  const auto dir = test::make_temp_dir("badst");
  const std::string good = read_file_bytes(vit_ref("model.safetensors"));
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
    return dir + "/" + name;
  };
  auto expect_error = [](const std::string& path, const std::string& fragment) {
    try {
      read_safetensors(path);
      FAIL("no error for " << path);
    } catch (const questbench::Error& e) {
      const std::string message = e.what();
      INFO(message);
      CHECK(message.find(path) != std::string::npos);
      CHECK(message.find(fragment) != std::string::npos);
      CHECK(message.find('\n') == std::string::npos);
    }
  };
  expect_error(write("empty.safetensors", ""), "not a safetensors file");
  expect_error(write("truncated.safetensors", good.substr(0, good.size() / 2)), "outside");
  expect_error(write("header_cut.safetensors", good.substr(0, 100)), "truncated");
  std::string garbled = good;
  for (size_t i = 8; i < 40; ++i) garbled[i] = '#';
  expect_error(write("garbled.safetensors", garbled), "not valid JSON");
  std::string huge = good;
  huge[7] = 0x7f;
  expect_error(write("huge.safetensors", huge), "implausible");
  // A config that does not match the tensors is an error naming the tensor.
  ModelSource wrong;
  wrong.path = vit_ref("model.safetensors");
  wrong.attention = "qknorm";
  CHECK_THROWS_WITH(Model::load(wrong, torch::kCPU), Catch::Contains("attn.scale") && Catch::Contains("missing"));
  ModelSource missing;
  missing.path = dir + "/nope.safetensors";
  CHECK_THROWS_WITH(Model::load(missing, torch::kCPU), Catch::Contains("not found"));
}

TEST_CASE("the Model wrapper normalizes inside and validates input shapes", "[models]") {
  auto config = tiny_config(AttentionKind::Quest);
  config.mean = {0.5, 0.5, 0.5};
  config.std = {0.25, 0.25, 0.25};
  torch::manual_seed(2);
  VisionTransformer vit(config);
  auto model = Model::from_vit(vit, "tiny", torch::kCPU);
  auto x = torch::rand({4, 3, 16, 16});
  torch::NoGradGuard no_grad;
  auto expected = vit->forward((x - 0.5) / 0.25);
  CHECK(torch::allclose(model.logits(x), expected, 1e-5, 1e-6));
  CHECK_THROWS_WITH(model.logits(torch::rand({4, 1, 16, 16})), Catch::Contains("channels"));
  CHECK_THROWS_WITH(model.logits(torch::rand({4, 3, 8, 16})), Catch::Contains("8x16"));
  CHECK_THROWS_WITH(model.logits(torch::rand({3, 16, 16})), Catch::Contains("[N, C, H, W]"));
}

TEST_CASE("inconsistent configs are rejected with the field named", "[models]") {
  CHECK_THROWS_WITH(vit_config_from_json(R"({"embed_dim": 10, "num_heads": 3})", "cfg"), Catch::Contains("num_heads"));
  CHECK_THROWS_WITH(vit_config_from_json(R"({"img_size": 30, "patch_size": 7})", "cfg"), Catch::Contains("patch_size"));
  CHECK_THROWS_WITH(vit_config_from_json(R"({"attention": "fancy"})", "cfg"), Catch::Contains("fancy"));
  CHECK_THROWS_WITH(vit_config_from_json(R"({"depth": "four"})", "cfg"), Catch::Contains("wrong type"));
  CHECK_THROWS_WITH(vit_config_from_json("{not json", "cfg"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(vit_config_from_json(R"({"reg_tokens": 4})", "cfg"), Catch::Contains("reg_tokens"));
  auto c = vit_config_from_json(R"({"img_size": [32, 48], "patch_size": 16, "global_pool": "avg", "class_token": false})", "cfg");
  CHECK(c.img_height == 32);
  CHECK(c.img_width == 48);
  CHECK(c.num_tokens() == 6);
}
