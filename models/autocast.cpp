#include "models/autocast.h"

#include "common/error.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

// LibTorch 2.4 replaced the per-device autocast functions by ones that take the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define QUESTBENCH_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define QUESTBENCH_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace questbench {
namespace {

bool autocast_enabled(bool cuda) {
#if QUESTBENCH_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void set_autocast_enabled(bool cuda, bool enabled) {
#if QUESTBENCH_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, enabled);
#else
  if (cuda) at::autocast::set_enabled(enabled);
  else at::autocast::set_cpu_enabled(enabled);
#endif
}

c10::ScalarType autocast_dtype(bool cuda) {
#if QUESTBENCH_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast_dtype(bool cuda, c10::ScalarType dtype) {
#if QUESTBENCH_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dtype);
#else
  if (cuda) at::autocast::set_autocast_gpu_dtype(dtype);
  else at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

}  // namespace

Autocast parse_autocast(const std::string& text) {
  if (text == "none") return Autocast::None;
  if (text == "bf16") return Autocast::BFloat16;
  if (text == "fp16") return Autocast::Float16;
  throw UsageError("--autocast '" + text + "': expected none, bf16 or fp16");
}

std::string autocast_name(Autocast mode) {
  switch (mode) {
    case Autocast::BFloat16: return "bf16";
    case Autocast::Float16: return "fp16";
    default: return "none";
  }
}

void check_autocast(Autocast mode, torch::Device device) {
  QB_USAGE_CHECK(device.is_cpu() || device.is_cuda(), "--autocast: unsupported device " << device);
  QB_USAGE_CHECK(mode != Autocast::Float16 || device.is_cuda(),
                 "--autocast fp16 needs a CUDA device (LibTorch's CPU autocast runs bf16 only)");
}

AutocastScope::AutocastScope(Autocast mode, torch::Device device) {
  if (mode == Autocast::None) return;
  check_autocast(mode, device);
  active_ = true;
  cuda_ = device.is_cuda();
  was_enabled_ = autocast_enabled(cuda_);
  previous_dtype_ = autocast_dtype(cuda_);
  set_autocast_dtype(cuda_, mode == Autocast::BFloat16 ? c10::ScalarType::BFloat16 : c10::ScalarType::Half);
  set_autocast_enabled(cuda_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Like torch.autocast's __exit__: the cache of casted weights lives as long as the outermost region.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(cuda_, was_enabled_);
  set_autocast_dtype(cuda_, previous_dtype_);
}

}  // namespace questbench
