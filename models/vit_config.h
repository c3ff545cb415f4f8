// ViTConfig: the hyper-parameters of a timm-style VisionTransformer, with timm's argument names,
// plus the attention variant and the preprocessing that travels with the weights.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace questbench {

// Attention variants (see models/attention.h for the formulas and the inits).
enum class AttentionKind { Standard, Quest, QKNorm, QNorm };

AttentionKind parse_attention_kind(const std::string& name);  // throws UsageError listing valid names
std::string attention_kind_name(AttentionKind kind);           // "standard" | "quest" | "qknorm" | "qnorm"
const std::vector<std::string>& attention_kind_names();

struct ViTConfig {
  int64_t img_height = 28, img_width = 28;  // timm img_size (int or [H, W])
  int64_t patch_size = 7;
  int64_t in_chans = 1;
  int64_t num_classes = 10;
  int64_t embed_dim = 64;
  int64_t depth = 4;
  int64_t num_heads = 4;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  bool class_token = true;
  std::string global_pool = "token";  // "token" (class token, final `norm`) or "avg" (mean of patch tokens, `fc_norm`)
  AttentionKind attention = AttentionKind::Standard;
  // Preprocessing: x_normalized = (x01 - mean) / std per channel. Empty means identity (mean 0, std 1).
  std::vector<double> mean, std;
  std::vector<std::string> class_names;  // empty: "0".."num_classes-1"

  int64_t head_dim() const { return embed_dim / num_heads; }
  int64_t grid_h() const { return img_height / patch_size; }
  int64_t grid_w() const { return img_width / patch_size; }
  int64_t num_patches() const { return grid_h() * grid_w(); }
  int64_t num_tokens() const { return num_patches() + (class_token ? 1 : 0); }
  int64_t mlp_hidden() const { return static_cast<int64_t>(embed_dim * mlp_ratio); }
};

// Throws questbench::Error naming the field when the config is inconsistent
// (embed_dim not divisible by num_heads, image not divisible by patch, token pool without class token, ...).
void validate(const ViTConfig& config);

// JSON text in timm's argument names (+ attention, mean, std, class_names) <-> ViTConfig.
// Unknown keys are ignored with no error (timm configs carry many); wrong types are errors.
ViTConfig vit_config_from_json(const std::string& json_text, const std::string& what);
std::string vit_config_to_json(const ViTConfig& config);

}  // namespace questbench
