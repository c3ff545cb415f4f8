// gaussian_blur (extra, blur): skimage gaussian(sigma) = scipy gaussian_filter, radius int(4σ + 0.5),
// 'nearest' (replicate) borders, rows then columns.
#include "corruptions/filters.h"

namespace questbench::corruption {

torch::Tensor gaussian_blur(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {1, 2, 3, 4, 6}, tiny[5] = {.5, .75, 1, 1.25, 1.5}, cifar[5] = {.4, .6, 0.7, .8, 1};
  return gaussian_filter(x, pick(call, imagenet, tiny, cifar), Border::Replicate, 4.0, TapRounding::TwoRoundings,
                         execution_for(x, call));
}

}  // namespace questbench::corruption
