// contrast (standard, digital): (x - mean) · c + mean with the per-image, per-channel spatial mean.
#include "corruptions/finish.h"

namespace questbench::corruption {
namespace {

double contrast_factor(const Call& call) {
  static const double imagenet[5] = {0.4, .3, .2, .1, .05}, tiny[5] = {.4, .3, .2, .1, 0.05}, cifar[5] = {.75, .5, .4, .3, 0.15};
  return pick(call, imagenet, tiny, cifar);
}

}  // namespace

torch::Tensor contrast(const torch::Tensor& x, const Call& call) {
  const double c = contrast_factor(call);
  auto means = x.mean({2, 3}, /*keepdim=*/true);
  return (x - means) * c + means;
}

// The channel sums are accumulated in float64 (eight interleaved partial sums). For 8-bit levels (and any floats that are
// multiples of 2^-31, such as torch::rand's) every partial sum is exact, so the mean is the tensor path's
// sum / count to the bit; for other inputs it may differ from ATen's summation order in the last bit.
void contrast_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t image, const Call& call) {
  const int64_t plane = height * width;
  const double c = contrast_factor(call);
  for (int64_t ch = 0; ch < 3; ++ch) {
    const float* s = in + ch * plane;
    float* d = out + ch * plane;
    double partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // eight interleaved sums, then added in order
    int64_t p = 0;
    for (; p + 8 <= plane; p += 8)
      for (int j = 0; j < 8; ++j) partial[j] += s[p + j];
    double total = 0;
    for (double v : partial) total += v;
    for (; p < plane; ++p) total += s[p];
    const double mean = total / static_cast<double>(plane);
    finish_in_chunks(d, plane, call.options.quantize, [&](int64_t first, int64_t n, double* v) {
      for (int64_t k = 0; k < n; ++k) v[k] = (static_cast<double>(s[first + k]) - mean) * c + mean;
    });
  }
}

}  // namespace questbench::corruption
