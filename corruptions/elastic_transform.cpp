// elastic_transform (standard, digital): the reference's modified Simard elastic distortion.
//  1. random affine: the points c+s, (c0+s, c1-s), c-s (c = (H//2, W//2), s = min(H,W)//3) move by
//     U(-affine, affine); cv2.warpAffine, bilinear, BORDER_REFLECT_101;
//  2. displacements dx, dy = gaussian(U(-1,1) field, sigma, scipy 'reflect', truncate 3) · alpha;
//  3. map_coordinates(order 1, scipy 'reflect') at (row + dy, col + dx), same field for all channels.
// Bilinear sampling via grid_sample: align_corners=True with reflection padding is REFLECT_101 about pixel
// centres; align_corners=False with reflection padding is scipy's half-sample 'reflect'. Constants are the
// reference's (224 table written as 244·(...)): alpha, sigma, affine in pixels.
#include "corruptions/ops.h"

namespace questbench::corruption {
namespace {

// Solves the 2x3 affine map taking src[k] to dst[k] (k = 0..2), points as (first, second) coordinates
// like cv2.getAffineTransform.
void affine_from_points(const double src[3][2], const double dst[3][2], double m[2][3]) {
  const double a = src[0][0], b = src[0][1], c = src[1][0], d = src[1][1], e = src[2][0], f = src[2][1];
  const double det = a * (d - f) - b * (c - e) + (c * f - d * e);
  for (int r = 0; r < 2; ++r) {
    const double u = dst[0][r], v = dst[1][r], t = dst[2][r];
    // Cramer's rule on [[a b 1][c d 1][e f 1]] · (m0 m1 m2) = (u v t).
    m[r][0] = (u * (d - f) - b * (v - t) + (v * f - d * t)) / det;
    m[r][1] = (a * (v - t) - u * (c - e) + (c * t - v * e)) / det;
    m[r][2] = (a * (d * t - v * f) - b * (c * t - v * e) + u * (c * f - d * e)) / det;
  }
}

}  // namespace

torch::Tensor elastic_transform(const torch::Tensor& x, const Call& call) {
  struct P {
    double alpha, sigma, affine;
  };
  static const P imagenet[5] = {{244 * 2, 244 * 0.7, 244 * 0.1},
                                {244 * 2, 244 * 0.08, 244 * 0.2},
                                {244 * 0.05, 244 * 0.01, 244 * 0.02},
                                {244 * 0.07, 244 * 0.01, 244 * 0.02},
                                {244 * 0.12, 244 * 0.01, 244 * 0.02}};
  static const P tiny[5] = {{64 * 0, 64 * 0, 64 * 0.08},
                            {64 * 0.05, 64 * 0.3, 64 * 0.06},
                            {64 * 0.1, 64 * 0.08, 64 * 0.06},
                            {64 * 0.1, 64 * 0.03, 64 * 0.03},
                            {64 * 0.16, 64 * 0.03, 64 * 0.02}};
  static const P cifar[5] = {{32 * 0, 32 * 0, 32 * 0.08},
                             {32 * 0.05, 32 * 0.2, 32 * 0.07},
                             {32 * 0.08, 32 * 0.06, 32 * 0.06},
                             {32 * 0.1, 32 * 0.04, 32 * 0.05},
                             {32 * 0.1, 32 * 0.03, 32 * 0.03}};
  P c = pick(call, imagenet, tiny, cifar);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const auto dev = x.device();
  // Per image: 6 affine jitters, then the dx field, then the dy field.
  auto draws = per_image_random(call.rng_seeds, [&](at::Generator& g) { return torch::rand({6 + 2 * h * w}, g, f64()); }, dev);
  auto jitter = ((draws.narrow(1, 0, 6) * 2 - 1) * c.affine).to(torch::kFloat).to(torch::kDouble).to(torch::kCPU).contiguous();
  auto fields = (draws.narrow(1, 6, 2 * h * w) * 2 - 1).view({n, 2, h, w});
  auto disp = (gaussian_filter(fields, c.sigma, Border::Symmetric, 3.0, cpu_kernels(x, call)) * c.alpha).to(torch::kFloat).to(torch::kDouble);

  // Affine part: source coordinates of every output pixel under the inverse map, per image.
  const double c0 = static_cast<double>(h / 2), c1 = static_cast<double>(w / 2), s = static_cast<double>(std::min(h, w) / 3);
  const double src[3][2] = {{c0 + s, c1 + s}, {c0 + s, c1 - s}, {c0 - s, c1 - s}};
  auto ja = jitter.accessor<double, 2>();
  std::vector<double> inverse(static_cast<size_t>(n) * 6);
  for (int64_t i = 0; i < n; ++i) {
    double dst[3][2], m[2][3];
    for (int k = 0; k < 3; ++k)
      for (int j = 0; j < 2; ++j) dst[k][j] = static_cast<double>(static_cast<float>(src[k][j] + ja[i][2 * k + j]));
    affine_from_points(src, dst, m);
    const double det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    double* inv = &inverse[static_cast<size_t>(i) * 6];
    inv[0] = m[1][1] / det, inv[1] = -m[0][1] / det, inv[3] = -m[1][0] / det, inv[4] = m[0][0] / det;
    inv[2] = -(inv[0] * m[0][2] + inv[1] * m[1][2]), inv[5] = -(inv[3] * m[0][2] + inv[4] * m[1][2]);
  }
  auto inv = torch::tensor(inverse, f64()).view({n, 2, 3}).to(dev);
  auto ys = torch::arange(h, f64().device(dev)).view({1, h, 1}).expand({n, h, w});
  auto xs = torch::arange(w, f64().device(dev)).view({1, 1, w}).expand({n, h, w});
  auto col = [&](int64_t r, int64_t k) { return inv.select(1, r).select(1, k).view({n, 1, 1}); };
  auto sx = col(0, 0) * xs + col(0, 1) * ys + col(0, 2);  // OpenCV x = column
  auto sy = col(1, 0) * xs + col(1, 1) * ys + col(1, 2);
  namespace F = torch::nn::functional;
  auto grid = torch::stack({sx / std::max<int64_t>(w - 1, 1) * 2 - 1, sy / std::max<int64_t>(h - 1, 1) * 2 - 1}, -1);
  auto warped = F::grid_sample(x.to(torch::kFloat).to(torch::kDouble), grid,
                               F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kReflection).align_corners(true));
  warped = warped.to(torch::kFloat).to(torch::kDouble);

  // Elastic part: sample at (row + dy, col + dx) with scipy's half-sample reflection.
  auto px = xs + disp.select(1, 0), py = ys + disp.select(1, 1);
  auto grid2 = torch::stack({(2 * px + 1) / w - 1, (2 * py + 1) / h - 1}, -1);
  return F::grid_sample(warped, grid2,
                        F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kReflection).align_corners(false));
}

}  // namespace questbench::corruption
