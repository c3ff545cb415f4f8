// The shared kernel conventions; see ops.h.
#include "corruptions/ops.h"

#include <ATen/Parallel.h>

#include <array>

namespace questbench::corruption {

int64_t table_side(CorruptionTable table) {
  switch (table) {
    case CorruptionTable::Cifar32: return 32;
    case CorruptionTable::Tiny64: return 64;
    default: return 224;
  }
}

torch::TensorOptions f64() { return torch::TensorOptions().dtype(torch::kDouble); }

bool cpu_kernels(const torch::Tensor& x, const Call& call) { return x.is_cpu() && call.options.cpu_kernels; }

torch::Tensor div_exact(const torch::Tensor& t, double d) {
  if (t.is_cpu()) return t / d;
  return t / torch::scalar_tensor(d, t.options());
}

void parallel_images(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 1) {
    if (n == 1) fn(0, 1);
    return;
  }
  const bool inference = c10::InferenceMode::is_enabled();
  at::parallel_for(0, n, 1, [&](int64_t first, int64_t last) {
    c10::InferenceMode guard(inference);
    fn(first, last);
  });
}

template <typename T>
const T* level_table() {
  static const auto table = [] {
    std::array<T, 256> t{};
    for (int k = 0; k < 256; ++k) t[static_cast<size_t>(k)] = static_cast<T>(k / 255.0);
    return t;
  }();
  return table.data();
}
template const float* level_table<float>();
template const double* level_table<double>();

}  // namespace questbench::corruption
