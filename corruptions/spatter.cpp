// spatter (extra, weather): a liquid layer N(loc, scale) smoothed by gaussian(sigma) (replicate borders),
// values below `threshold` set to 0. Water (severities with mode 0): the 8-bit layer's Canny edges (50,
// 150) -> L2 5x5 chamfer distance transform, truncated at 20 -> 3x3 box blur -> 8 bits -> histogram
// equalisation -> emboss filter (8-bit, saturating) -> 3x3 box blur; m = layer8 · that, normalised by its
// max, times intensity, tints the image pale turquoise (175, 238, 238). Mud (mode 1): the mask
// layer > threshold, blurred by sigma2, values below 0.8 set to 0, blends in brown (63, 42, 20).
// OpenCV's Canny, distanceTransform, equalizeHist, filter2D and blur are re-expressed as tensor ops.
#include "corruptions/ops.h"

namespace questbench::corruption {
namespace {

// 3x3 neighbourhood shift of [N, 1, H, W] with zero (or `fill`) outside.
torch::Tensor shifted(const torch::Tensor& x, int64_t dy, int64_t dx, double fill) {
  namespace F = torch::nn::functional;
  const int64_t h = x.size(2), w = x.size(3), r = std::max(std::abs(dy), std::abs(dx));
  auto p = F::pad(x, F::PadFuncOptions({r, r, r, r}).value(fill));
  return p.narrow(2, r + dy, h).narrow(3, r + dx, w);
}

// cv2.Canny(image8, low, high) with aperture 3 and the L1 gradient: Sobel with replicated borders,
// non-maximum suppression with OpenCV's fixed-point direction test and tie rules, hysteresis over
// 8-connected neighbours. Returns a bool edge map.
torch::Tensor canny(const torch::Tensor& image8, double low, double high) {
  static const double sx[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}}, sy[3][3] = {{-1, -2, -1}, {0, 0, 0}, {1, 2, 1}};
  auto gx = filter2d(image8, torch::from_blob(const_cast<double*>(&sx[0][0]), {3, 3}, f64()), Border::Replicate);
  auto gy = filter2d(image8, torch::from_blob(const_cast<double*>(&sy[0][0]), {3, 3}, f64()), Border::Replicate);
  auto mag = gx.abs() + gy.abs();
  auto ax = gx.abs(), ay = gy.abs() * 32768.0;
  auto tg22 = ax * 13573.0, tg67 = tg22 + ax * 65536.0;
  auto horizontal = ay < tg22, vertical = ay > tg67;
  auto diag_sign_neg = (gx * gy) < 0;  // s = -1
  auto m = [&](int64_t dy, int64_t dx) { return shifted(mag, dy, dx, 0.0); };
  auto keep_h = (mag > m(0, -1)) & (mag >= m(0, 1));
  auto keep_v = (mag > m(-1, 0)) & (mag >= m(1, 0));
  auto keep_d = torch::where(diag_sign_neg, (mag > m(-1, 1)) & (mag > m(1, -1)), (mag > m(-1, -1)) & (mag > m(1, 1)));
  auto nms = torch::where(horizontal, keep_h, torch::where(vertical, keep_v, keep_d));
  auto candidate = nms & (mag > low);
  auto edges = candidate & (mag > high);
  namespace F = torch::nn::functional;
  while (true) {
    auto grown = edges;
    for (int k = 0; k < 8; ++k)
      grown = candidate & F::max_pool2d(grown.to(torch::kFloat), F::MaxPool2dFuncOptions(3).stride(1).padding(1)).to(torch::kBool);
    if (torch::equal(grown, edges)) break;
    edges = grown;
  }
  return edges;
}

// cv2.distanceTransform(src, DIST_L2, 5): 5x5 chamfer distances (1, 1.4, 2.1969) to the nearest zero pixel,
// exact up to `limit` (enough iterations for every path shorter than it); larger values are only bounded.
torch::Tensor chamfer_distance(const torch::Tensor& is_zero, double limit) {
  const double big = 1e6;
  auto d = torch::where(is_zero, torch::zeros(is_zero.sizes(), f64().device(is_zero.device())),
                        torch::full(is_zero.sizes(), big, f64().device(is_zero.device())));
  struct Step {
    int dy, dx;
    double cost;
  };
  std::vector<Step> steps;
  for (int dy = -2; dy <= 2; ++dy)
    for (int dx = -2; dx <= 2; ++dx) {
      const int ady = std::abs(dy), adx = std::abs(dx);
      if (ady + adx == 1) steps.push_back({dy, dx, 1.0});
      if (ady == 1 && adx == 1) steps.push_back({dy, dx, 1.4});
      if ((ady == 1 && adx == 2) || (ady == 2 && adx == 1)) steps.push_back({dy, dx, 2.1969});
    }
  for (int it = 0; it <= static_cast<int>(limit) + 1; ++it) {
    auto next = d;
    for (const auto& s : steps) next = torch::minimum(next, shifted(d, s.dy, s.dx, big) + s.cost);
    if (torch::equal(next, d)) break;
    d = next;
  }
  return d;
}

// cv2.equalizeHist on 8-bit levels [N, 1, H, W] (float64 integers), per image.
torch::Tensor equalize_hist(const torch::Tensor& levels) {
  const int64_t n = levels.size(0), count = levels[0].numel();
  auto idx = levels.reshape({n, -1}).to(torch::kLong);
  auto hist = torch::zeros({n, 256}, f64().device(levels.device())).scatter_add_(1, idx, torch::ones(idx.sizes(), f64().device(levels.device())));
  auto cum = hist.cumsum(1);
  auto first = (hist > 0).to(torch::kLong).argmax(1, /*keepdim=*/true);
  auto first_count = hist.gather(1, first), first_cum = cum.gather(1, first);
  auto scale = 255.0 / (static_cast<double>(count) - first_count);
  auto lut = torch::round((cum - first_cum) * scale).clamp(0, 255);
  // One distinct level: OpenCV fills the image with that level.
  lut = torch::where(first_count == static_cast<double>(count), first.to(torch::kDouble).expand({n, 256}), lut);
  return lut.gather(1, idx).view(levels.sizes());
}

torch::Tensor box3_levels(const torch::Tensor& x) {  // cv2.blur(3x3) on 8-bit images: rounded mean, REFLECT_101
  return torch::round(filter2d(x, torch::ones({3, 3}, f64()), Border::Reflect101) / 9.0);
}

}  // namespace

torch::Tensor spatter(const torch::Tensor& x, const Call& call) {
  struct P {
    double loc, scale, sigma, threshold, intensity_or_sigma2;
    int mud;
  };
  static const P imagenet[5] = {{0.65, 0.3, 4, 0.69, 0.6, 0},
                                {0.65, 0.3, 3, 0.68, 0.6, 0},
                                {0.65, 0.3, 2, 0.68, 0.5, 0},
                                {0.65, 0.3, 1, 0.65, 1.5, 1},
                                {0.67, 0.4, 1, 0.65, 1.5, 1}};
  static const P tiny[5] = {{0.62, 0.1, 0.7, 0.7, 0.6, 0},
                            {0.65, 0.1, 0.8, 0.7, 0.6, 0},
                            {0.65, 0.3, 1, 0.69, 0.6, 0},
                            {0.65, 0.1, 0.7, 0.68, 0.6, 1},
                            {0.65, 0.1, 0.5, 0.67, 0.6, 1}};
  static const P cifar[5] = {{0.62, 0.1, 0.7, 0.7, 0.5, 0},
                             {0.65, 0.1, 0.8, 0.7, 0.5, 0},
                             {0.65, 0.3, 1, 0.69, 0.5, 0},
                             {0.65, 0.1, 0.7, 0.69, 0.6, 1},
                             {0.65, 0.1, 0.5, 0.68, 0.6, 1}};
  const P c = pick(call, imagenet, tiny, cifar);
  const int64_t h = x.size(2), w = x.size(3);
  auto liquid = per_image_random(
                    call.rng_seeds, [&](at::Generator& g) { return torch::normal(c.loc, c.scale, {1, h, w}, g, f64()); }, x.device());
  liquid = gaussian_filter(liquid, c.sigma, Border::Replicate);
  liquid = torch::where(liquid < c.threshold, torch::zeros_like(liquid), liquid);
  auto x32 = x.to(torch::kFloat).to(torch::kDouble);
  if (!c.mud) {
    auto layer8 = torch::floor(liquid * 255.0).clamp(0, 255);
    auto dist = chamfer_distance(canny(layer8, 50, 150), 20).to(torch::kFloat).to(torch::kDouble).clamp_max(20);
    dist = torch::floor(filter2d(dist, torch::ones({3, 3}, f64()) / 9.0, Border::Reflect101));  // blur, astype(uint8)
    dist = equalize_hist(dist);
    static const double emboss[3][3] = {{-2, -1, 0}, {-1, 1, 1}, {0, 1, 2}};
    dist = filter2d(dist, torch::from_blob(const_cast<double*>(&emboss[0][0]), {3, 3}, f64()), Border::Reflect101).clamp(0, 255);
    dist = box3_levels(dist);
    auto m = layer8 * dist;
    auto peak = std::get<0>(m.flatten(1).max(1)).view({-1, 1, 1, 1});
    m = torch::where(peak > 0, m / torch::where(peak > 0, peak, torch::ones_like(peak)), torch::zeros_like(m)) * c.intensity_or_sigma2;
    auto color = torch::tensor({175.0 / 255, 238.0 / 255, 238.0 / 255}, f64().device(x.device())).view({1, 3, 1, 1});
    return x32 + m * color;
  }
  auto mask = gaussian_filter((liquid > c.threshold).to(torch::kDouble), c.intensity_or_sigma2, Border::Replicate);
  mask = torch::where(mask < 0.8, torch::zeros_like(mask), mask);
  auto color = torch::tensor({63.0 / 255, 42.0 / 255, 20.0 / 255}, f64().device(x.device())).view({1, 3, 1, 1});
  return x32 * (1 - mask) + color * mask;
}

}  // namespace questbench::corruption
