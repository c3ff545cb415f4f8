// Opt-in mixed precision for the model's forward pass, as torch.autocast does it: matrix products run in
// bf16 or fp16, numerically sensitive ops (softmax, layer norm, losses) stay in float32 by autocast's own
// op lists, and Model::logits returns float32, so attack losses and metrics are computed in float32.
#pragma once

#include <torch/types.h>

#include <string>

namespace questbench {

enum class Autocast { None, BFloat16, Float16 };

Autocast parse_autocast(const std::string& text);  // none | bf16 | fp16; UsageError otherwise
std::string autocast_name(Autocast mode);          // "none" | "bf16" | "fp16"
// Throws UsageError when `mode` cannot run on `device` (fp16 autocast needs CUDA).
void check_autocast(Autocast mode, torch::Device device);

// Enables autocast for `device`'s type for its lifetime (nothing when mode is None) and restores the
// previous state after, clearing autocast's weight-cast cache when the outermost scope ends.
class AutocastScope {
 public:
  AutocastScope(Autocast mode, torch::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Undefined;
};

}  // namespace questbench
