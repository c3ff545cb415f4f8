#include "models/vit_config.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace questbench {

const std::vector<std::string>& attention_kind_names() {
  static const std::vector<std::string> names = {"standard", "quest", "qknorm", "qnorm"};
  return names;
}

AttentionKind parse_attention_kind(const std::string& name) {
  if (name == "standard") return AttentionKind::Standard;
  if (name == "quest") return AttentionKind::Quest;
  if (name == "qknorm") return AttentionKind::QKNorm;
  if (name == "qnorm") return AttentionKind::QNorm;
  throw UsageError("attention '" + name + "': unknown variant (valid: standard, quest, qknorm, qnorm)");
}

std::string attention_kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::Standard: return "standard";
    case AttentionKind::Quest: return "quest";
    case AttentionKind::QKNorm: return "qknorm";
    case AttentionKind::QNorm: return "qnorm";
  }
  return "standard";
}

void validate(const ViTConfig& c) {
  QB_CHECK(c.img_height > 0 && c.img_width > 0, "config img_size: must be positive, got " << c.img_height << "x" << c.img_width);
  QB_CHECK(c.patch_size > 0, "config patch_size: must be positive, got " << c.patch_size);
  QB_CHECK(c.img_height % c.patch_size == 0 && c.img_width % c.patch_size == 0,
           "config img_size " << c.img_height << "x" << c.img_width << " is not divisible by patch_size " << c.patch_size);
  QB_CHECK(c.in_chans > 0, "config in_chans: must be positive, got " << c.in_chans);
  QB_CHECK(c.num_classes > 0, "config num_classes: must be positive, got " << c.num_classes);
  QB_CHECK(c.embed_dim > 0 && c.num_heads > 0 && c.embed_dim % c.num_heads == 0,
           "config embed_dim " << c.embed_dim << " is not divisible by num_heads " << c.num_heads);
  QB_CHECK(c.depth >= 0, "config depth: must be >= 0, got " << c.depth);
  QB_CHECK(c.mlp_ratio > 0, "config mlp_ratio: must be positive, got " << c.mlp_ratio);
  QB_CHECK(c.global_pool == "token" || c.global_pool == "avg",
           "config global_pool '" << c.global_pool << "': supported values are token and avg");
  QB_CHECK(c.global_pool != "token" || c.class_token, "config global_pool 'token' needs class_token true");
  QB_CHECK(c.mean.empty() || static_cast<int64_t>(c.mean.size()) == c.in_chans,
           "config mean has " << c.mean.size() << " values, in_chans is " << c.in_chans);
  QB_CHECK(c.std.empty() || static_cast<int64_t>(c.std.size()) == c.in_chans,
           "config std has " << c.std.size() << " values, in_chans is " << c.in_chans);
  for (double s : c.std) QB_CHECK(s > 0, "config std: values must be positive, got " << s);
  QB_CHECK(c.class_names.empty() || static_cast<int64_t>(c.class_names.size()) == c.num_classes,
           "config class_names has " << c.class_names.size() << " names, num_classes is " << c.num_classes);
}

namespace vit_config_json {

// An integer field. nlohmann's get<int64_t>() converts any number, a float by a cast that is undefined past
// int64's range (3e32; UBSan aborts) and that silently truncates 4.5 to 4: only integers, or floats that hold
// an integer exactly (3.0, as some writers print them), are taken.
int64_t integer(const nlohmann::json& v, const char* key, const std::string& what) {
  if (v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)))
    return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) return static_cast<int64_t>(d);
  }
  if (!v.is_number()) return v.get<int64_t>();  // throws nlohmann's type_error: reported as a field of the wrong type
  throw Error(what + ": config " + key + " = " + v.dump() + " is not an integer in range");
}

}  // namespace vit_config_json

ViTConfig vit_config_from_json(const std::string& json_text, const std::string& what) {
  using vit_config_json::integer;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const std::exception& e) {
    throw Error(what + ": model config is not valid JSON (" + std::string(e.what()) + ")");
  }
  QB_CHECK(j.is_object(), what << ": model config must be a JSON object");
  ViTConfig c;
  try {
    if (j.contains("img_size")) {
      const auto& s = j["img_size"];
      if (s.is_array()) {
        QB_CHECK(s.size() == 2, what << ": config img_size must be an int or [H, W]");
        c.img_height = integer(s[0], "img_size", what);
        c.img_width = integer(s[1], "img_size", what);
      } else {
        c.img_height = c.img_width = integer(s, "img_size", what);
      }
    }
    if (j.contains("patch_size")) {
      const auto& s = j["patch_size"];
      if (s.is_array()) {
        QB_CHECK(s.size() == 2 && s[0] == s[1], what << ": config patch_size must be square");
        c.patch_size = integer(s[0], "patch_size", what);
      } else {
        c.patch_size = integer(s, "patch_size", what);
      }
    }
    auto get_int = [&](const char* key, int64_t& out) { if (j.contains(key)) out = integer(j[key], key, what); };
    get_int("in_chans", c.in_chans);
    get_int("num_classes", c.num_classes);
    get_int("embed_dim", c.embed_dim);
    get_int("depth", c.depth);
    get_int("num_heads", c.num_heads);
    if (j.contains("mlp_ratio")) c.mlp_ratio = j["mlp_ratio"].get<double>();
    if (j.contains("qkv_bias")) c.qkv_bias = j["qkv_bias"].get<bool>();
    if (j.contains("class_token")) c.class_token = j["class_token"].get<bool>();
    if (j.contains("global_pool")) c.global_pool = j["global_pool"].get<std::string>();
    if (j.contains("attention")) c.attention = parse_attention_kind(j["attention"].get<std::string>());
    if (j.contains("mean") && !j["mean"].is_null()) c.mean = j["mean"].get<std::vector<double>>();
    if (j.contains("std") && !j["std"].is_null()) c.std = j["std"].get<std::vector<double>>();
    if (j.contains("class_names") && !j["class_names"].is_null())
      c.class_names = j["class_names"].get<std::vector<std::string>>();
    // timm options this implementation does not have: refuse rather than compute something else.
    auto must_be = [&](const char* key, const nlohmann::json& expected) {
      QB_CHECK(!j.contains(key) || j[key].is_null() || j[key] == expected,
               what << ": config " << key << " = " << j[key].dump() << " is not supported (only " << expected.dump() << ")");
    };
    must_be("reg_tokens", 0);
    must_be("no_embed_class", false);
    must_be("pre_norm", false);
    must_be("qk_norm", false);
    must_be("init_values", nullptr);
    must_be("fc_norm", nullptr);
    must_be("dynamic_img_size", false);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": model config has a field of the wrong type (" + std::string(e.what()) + ")");
  }
  validate(c);
  return c;
}

std::string vit_config_to_json(const ViTConfig& c) {
  nlohmann::json j;
  if (c.img_height == c.img_width) {
    j["img_size"] = c.img_height;
  } else {
    j["img_size"] = {c.img_height, c.img_width};
  }
  j["patch_size"] = c.patch_size;
  j["in_chans"] = c.in_chans;
  j["num_classes"] = c.num_classes;
  j["embed_dim"] = c.embed_dim;
  j["depth"] = c.depth;
  j["num_heads"] = c.num_heads;
  j["mlp_ratio"] = c.mlp_ratio;
  j["qkv_bias"] = c.qkv_bias;
  j["class_token"] = c.class_token;
  j["global_pool"] = c.global_pool;
  j["attention"] = attention_kind_name(c.attention);
  if (!c.mean.empty()) j["mean"] = c.mean;
  if (!c.std.empty()) j["std"] = c.std;
  if (!c.class_names.empty()) j["class_names"] = c.class_names;
  return j.dump();
}

}  // namespace questbench
