// Projections FAB steps with: the minimal Linf / L2 perturbation d that puts a point onto a hyperplane while the
// perturbed point stays in the box [0,1]^D (Croce & Hein 2020, the box-constrained projection of their
// Proposition 2). Rows are independent problems.
//
//   auto d = fab_project_linf(points, w, b);   // points, w float [M, D]; b float [M] -> d float [M, D]
//
// The hyperplane of row i is {z : <w_i, z> = b_i}. Rows whose hyperplane cannot be reached inside the box get the
// box corner (or the boundary point) that gets closest to it, as in the original. Both follow the original
// implementation's operation order (fab_projections.py of fra31/auto-attack), so on the same LibTorch build the
// results are bit-identical to it.
#pragma once

#include <torch/types.h>

namespace questbench {

torch::Tensor fab_project_linf(const torch::Tensor& points, const torch::Tensor& w, const torch::Tensor& b);
torch::Tensor fab_project_l2(const torch::Tensor& points, const torch::Tensor& w, const torch::Tensor& b);

}  // namespace questbench
