// brightness, contrast, saturate: per-pixel colour transforms (deterministic).
// HSV follows scikit-image's rgb2hsv/hsv2rgb (hue in [0,1); ties for the max channel resolved b > g > r).
#include "corruptions/corrupt.h"

#include <torch/torch.h>

namespace questbench {
namespace {

struct Hsv {
  torch::Tensor h, s, v;  // [N, H, W]
};

Hsv rgb_to_hsv(const torch::Tensor& x) {
  auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  auto v = torch::max(torch::max(r, g), b);
  auto delta = v - torch::min(torch::min(r, g), b);
  auto safe_delta = torch::where(delta == 0, torch::ones_like(delta), delta);
  auto s = torch::where(delta == 0, torch::zeros_like(v), delta / torch::where(v == 0, torch::ones_like(v), v));
  auto h = torch::where(b == v, 4.0 + (r - g) / safe_delta,
                        torch::where(g == v, 2.0 + (b - r) / safe_delta, (g - b) / safe_delta));
  h = torch::remainder(h / 6.0, 1.0);
  h = torch::where(delta == 0, torch::zeros_like(h), h);
  return {h, s, v};
}

torch::Tensor hsv_to_rgb(const Hsv& c) {
  auto hi = torch::floor(c.h * 6.0);
  auto f = c.h * 6.0 - hi;
  auto p = c.v * (1.0 - c.s), q = c.v * (1.0 - f * c.s), t = c.v * (1.0 - (1.0 - f) * c.s);
  auto sector = torch::remainder(hi, 6.0);
  auto select = [&](const torch::Tensor* options) {
    auto out = options[5];
    for (int k = 4; k >= 0; --k) out = torch::where(sector == k, options[k], out);
    return out;
  };
  const torch::Tensor r_opts[6] = {c.v, q, p, p, t, c.v};
  const torch::Tensor g_opts[6] = {t, c.v, c.v, q, p, p};
  const torch::Tensor b_opts[6] = {p, p, t, c.v, c.v, q};
  return torch::stack({select(r_opts), select(g_opts), select(b_opts)}, 1);
}

}  // namespace

torch::Tensor brightness(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>&) {
  static const double imagenet[5] = {.1, .2, .3, .4, .5}, tiny[5] = {.1, .2, .3, .4, .5}, cifar[5] = {.05, .1, .15, .2, .3};
  auto hsv = rgb_to_hsv(x);
  hsv.v = torch::clamp(hsv.v + table_value(table, severity, imagenet, tiny, cifar), 0.0, 1.0);
  return hsv_to_rgb(hsv);
}

torch::Tensor contrast(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>&) {
  static const double imagenet[5] = {0.4, .3, .2, .1, .05}, tiny[5] = {.4, .3, .2, .1, 0.05}, cifar[5] = {.75, .5, .4, .3, 0.15};
  const double c = table_value(table, severity, imagenet, tiny, cifar);
  auto means = x.mean({2, 3}, /*keepdim=*/true);
  return (x - means) * c + means;
}

torch::Tensor saturate(const torch::Tensor& x, int severity, CorruptionTable table, const std::vector<uint64_t>&) {
  static const double scale_imagenet[5] = {0.3, 0.1, 2, 5, 20}, scale_tiny[5] = {0.3, 0.1, 2, 5, 30},
                      scale_cifar[5] = {0.3, 0.1, 1.5, 2, 2.5};
  static const double add_imagenet[5] = {0, 0, 0, 0.1, 0.2}, add_tiny[5] = {0, 0, 0, 0.1, 0.2}, add_cifar[5] = {0, 0, 0, 0.1, 0.2};
  auto hsv = rgb_to_hsv(x);
  hsv.s = torch::clamp(hsv.s * table_value(table, severity, scale_imagenet, scale_tiny, scale_cifar) +
                           table_value(table, severity, add_imagenet, add_tiny, add_cifar),
                       0.0, 1.0);
  return hsv_to_rgb(hsv);
}

}  // namespace questbench
