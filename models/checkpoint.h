// Native checkpoints: safetensors in timm layout with the ViTConfig as JSON under __metadata__["config"]
// (timm argument names + attention, mean, std, class_names). timm's own safetensors files load too:
// their config comes from the metadata if present, or from the caller (--config on the command line).
#pragma once

#include "models/vit.h"
#include "models/vit_config.h"

#include <string>

namespace questbench {

// Writes model parameters (timm names) and config; atomic.
void save_vit_checkpoint(const std::string& path, VisionTransformer& model, const ViTConfig& config);

// Reads the config stored in a checkpoint's metadata; throws if the file has none (and says how to pass one).
ViTConfig read_checkpoint_config(const std::string& path);

// Builds a ViT from `config` and loads the tensors of `path` into it by exact name match: a missing or
// unexpected tensor, or a shape mismatch, is an error naming it. Non-F32 tensors are converted to float32.
VisionTransformer load_vit_weights(const std::string& path, const ViTConfig& config);

}  // namespace questbench
