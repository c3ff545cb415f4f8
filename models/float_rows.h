// Small float32 row kernels shared by the CPU inference path and the fused training kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace questbench {

// softmax over one row of n floats, in place (max subtracted first, sums in float, as ATen's CPU softmax).
inline void softmax_row_in_place(float* row, int64_t n) {
  float m = row[0];
  for (int64_t j = 1; j < n; ++j) m = std::max(m, row[j]);
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    row[j] = std::exp(row[j] - m);
    sum += row[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
}

}  // namespace questbench
