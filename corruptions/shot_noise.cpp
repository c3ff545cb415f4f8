// shot_noise (standard, noise): Poisson(x·c) / c per pixel and channel (c = photon scale; larger = milder).
// Poisson draws run on the CPU from each image's fast stream (DrawStream::poisson: exact inversion tables for
// 8-bit levels), then move to the images' device.
#include "corruptions/finish.h"
#include "corruptions/streams.h"

#include <algorithm>

namespace questbench::corruption {
namespace {

double photon_scale(const Call& call) {
  static const double imagenet[5] = {60, 25, 12, 5, 3}, tiny[5] = {250, 100, 50, 30, 15}, cifar[5] = {500, 250, 100, 75, 50};
  return pick(call, imagenet, tiny, cifar);
}

}  // namespace

torch::Tensor shot_noise(const torch::Tensor& x, const Call& call) {
  const double c = photon_scale(call);
  auto values = x.to(torch::kCPU).contiguous();
  auto out = torch::empty_like(values);
  const int64_t per_image = values[0].numel();
  const double* v = values.data_ptr<double>();
  double* o = out.data_ptr<double>();
  parallel_images(values.size(0), [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) DrawStream(call.rng_seeds[static_cast<size_t>(i)]).poisson(v + i * per_image, c, o + i * per_image, per_image);
  });
  return div_exact(out.to(x.device()), c);
}

void shot_noise_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t image, const Call& call) {
  const int64_t plane = height * width;
  const double c = photon_scale(call);
  DrawStream stream(call.rng_seeds[static_cast<size_t>(image)]);
  finish_in_chunks(out, 3 * plane, call.options.quantize, [&](int64_t first, int64_t n, double* v) {
    for (int64_t k = 0; k < n; ++k) v[k] = in[first + k];
    stream.poisson(v, c, v, n);  // in place: each count replaces its value
    for (int64_t k = 0; k < n; ++k) v[k] = v[k] / c;
  });
}

}  // namespace questbench::corruption
