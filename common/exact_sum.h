// Sums that do not depend on how the samples were grouped. A report's means (loss, perturbation norms) are
// sums over samples; a run split into batches, shards or ranks adds them in another order, and floating-point
// addition is not associative. Each per-sample term is rounded to a multiple of 2^-24 first: sums of such
// terms are exact in double while they stay below 2^29 (5e8 nats of loss, or 1.4e6 images at the largest
// L2 norm of a 224x224x3 image), so any grouping gives the same bits. 2^-24 (6e-8) is below float32's
// resolution of the terms near 1, so nothing a float32 model computes is lost.
#pragma once

#include <cmath>

namespace questbench {

inline constexpr double kExactSumUnit = 1.0 / 16777216.0;  // 2^-24

inline double exact_sum_term(double value) { return std::nearbyint(value / kExactSumUnit) * kExactSumUnit; }

}  // namespace questbench
