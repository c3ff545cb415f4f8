// elastic_transform (standard, digital): the reference's modified Simard elastic distortion.
//  1. random affine: the points c+s, (c0+s, c1-s), c-s (c = (H//2, W//2), s = min(H,W)//3) move by
//     U(-affine, affine); cv2.warpAffine, bilinear, BORDER_REFLECT_101;
//  2. displacements dx, dy = gaussian(U(-1,1) field, sigma, scipy 'reflect', truncate 3) · alpha;
//  3. map_coordinates(order 1, scipy 'reflect') at (row + dy, col + dx), same field for all channels.
// Bilinear sampling in pixel coordinates (bilinear_point below), folding coordinates with REFLECT_101 about
// pixel centres for the warp and scipy's half-sample 'reflect' for the map. Constants are the reference's
// (224 table written as 244·(...)): alpha, sigma, affine in pixels.
#include "corruptions/filters.h"
#include "corruptions/streams.h"

#include <algorithm>
#include <cmath>

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

// One coordinate folded into [0, n-1]: Reflect101 mirrors about 0 and n-1 (cv2 BORDER_REFLECT_101 about
// pixel centres), Symmetric about -0.5 and n-0.5 (scipy 'reflect'), then clipped. In-range values take the
// same arithmetic without fmod (fmod(t, period) = t there), so both forms give the same bits.
inline double fold(double u, int64_t n, Border border) {
  const double last = static_cast<double>(n - 1);
  if (n == 1) return 0.0;
  if (border == Border::Reflect101) {
    if (u >= 0 && u <= last) return u;
    double t = std::fmod(std::abs(u), 2 * last);
    return t > last ? 2 * last - t : t;
  }
  const double size = static_cast<double>(n);
  double t = u + 0.5;
  if (!(t >= 0 && t <= size)) {
    t = std::fmod(std::abs(t), 2 * size);
    if (t > size) t = 2 * size - t;
  }
  t = t - 0.5;
  return t < 0 ? 0.0 : (t > last ? last : t);
}

// Bilinear value at (row u, column v) of one plane: a = p00 + fx·(p01 - p00), b likewise one row down,
// a + fy·(b - a).
struct BilinearPoint {
  int64_t i00, i01, i10, i11;
  double fy, fx;
};

inline BilinearPoint bilinear_point(double u, double v, int64_t h, int64_t w, Border border) {
  const double fu = fold(u, h, border), fv = fold(v, w, border);
  const double y0 = floor_exact(fu), x0 = floor_exact(fv);
  const int64_t r0 = static_cast<int64_t>(y0), c0 = static_cast<int64_t>(x0);
  const int64_t r1 = std::min(r0 + 1, h - 1), c1 = std::min(c0 + 1, w - 1);
  return {r0 * w + c0, r0 * w + c1, r1 * w + c0, r1 * w + c1, fu - y0, fv - x0};
}

inline double bilinear_value(const double* plane, const BilinearPoint& p) {
  const double a = plane[p.i00] + p.fx * (plane[p.i01] - plane[p.i00]);
  const double b = plane[p.i10] + p.fx * (plane[p.i11] - plane[p.i10]);
  return a + p.fy * (b - a);
}

// The same as tensor ops: x [N, C, H, W] sampled at rows u, columns v (both [N, H, W]).
torch::Tensor bilinear_tensors(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& v, Border border) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto fold_t = [&](const torch::Tensor& t, int64_t size) {
    const double last = static_cast<double>(size - 1);
    if (size == 1) return torch::zeros_like(t);
    if (border == Border::Reflect101) {
      auto m = torch::fmod(t.abs(), 2 * last);
      auto folded = torch::where(m > last, 2 * last - m, m);
      return torch::where((t >= 0) & (t <= last), t, folded);
    }
    const double s = static_cast<double>(size);
    auto shifted = t + 0.5;
    auto m = torch::fmod(shifted.abs(), 2 * s);
    auto folded = torch::where(m > s, 2 * s - m, m);
    auto inside = torch::where((shifted >= 0) & (shifted <= s), shifted, folded) - 0.5;
    return inside.clamp(0.0, last);
  };
  auto fu = fold_t(u, h), fv = fold_t(v, w);
  auto y0 = fu.floor(), x0 = fv.floor();
  auto fy = (fu - y0).unsqueeze(1), fx = (fv - x0).unsqueeze(1);
  auto r0 = y0.to(torch::kLong), c0 = x0.to(torch::kLong);
  auto r1 = (r0 + 1).clamp_max(h - 1), c1 = (c0 + 1).clamp_max(w - 1);
  auto flat = x.reshape({n, c, h * w});
  auto at = [&](const torch::Tensor& r, const torch::Tensor& col) {
    auto index = (r * w + col).view({n, 1, h * w}).expand({n, c, h * w});
    return flat.gather(2, index).view({n, c, h, w});
  };
  auto p00 = at(r0, c0), p01 = at(r0, c1), p10 = at(r1, c0), p11 = at(r1, c1);
  auto a = p00 + fx * (p01 - p00), b = p10 + fx * (p11 - p10);
  return a + fy * (b - a);
}

// CPU: per image, the image rounded to float32, its affine warp (Reflect101) of every channel, rounded to
// float32, then the elastic sample (Symmetric) at (row + dy, col + dx) with (dx, dy) = float32(fields · alpha);
// the same operations as the tensor path.
torch::Tensor elastic_cpu(const torch::Tensor& x, const std::vector<double>& inverse, const torch::Tensor& fields, double alpha) {
  const int64_t n = x.size(0), ch = x.size(1), h = x.size(2), w = x.size(3), hw = h * w;
  auto out = torch::empty_like(x);
  const double* src = x.data_ptr<double>();
  const double* d = fields.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  parallel_images(n, [&](int64_t first, int64_t last) {
    std::vector<double> warped(static_cast<size_t>(ch * hw)), rounded(static_cast<size_t>(ch * hw));
    for (int64_t i = first; i < last; ++i) {
      const double* inv = &inverse[static_cast<size_t>(i) * 6];
      // the image as float32 values (the reference's astype(np.float32))
      for (int64_t p = 0; p < ch * hw; ++p) rounded[static_cast<size_t>(p)] = static_cast<double>(static_cast<float>(src[i * ch * hw + p]));
      const double* xi = rounded.data();
      for (int64_t r = 0; r < h; ++r)
        for (int64_t c = 0; c < w; ++c) {
          const double cd = static_cast<double>(c), rd = static_cast<double>(r);
          const double sx = inv[0] * cd + inv[1] * rd + inv[2], sy = inv[3] * cd + inv[4] * rd + inv[5];
          const auto p = bilinear_point(sy, sx, h, w, Border::Reflect101);
          for (int64_t k = 0; k < ch; ++k)
            warped[static_cast<size_t>(k * hw + r * w + c)] = static_cast<double>(static_cast<float>(bilinear_value(xi + k * hw, p)));
        }
      const double* dx = d + i * 2 * hw;
      const double* dy = dx + hw;
      double* o = dst + i * ch * hw;
      for (int64_t r = 0; r < h; ++r)
        for (int64_t c = 0; c < w; ++c) {
          // the displacement: the smoothed field times alpha, rounded to float32 (astype(np.float32))
          const double ddy = static_cast<double>(static_cast<float>(dy[r * w + c] * alpha));
          const double ddx = static_cast<double>(static_cast<float>(dx[r * w + c] * alpha));
          const auto p = bilinear_point(static_cast<double>(r) + ddy, static_cast<double>(c) + ddx, h, w, Border::Symmetric);
          for (int64_t k = 0; k < ch; ++k) o[k * hw + r * w + c] = bilinear_value(warped.data() + k * hw, p);
        }
    }
  });
  return out;
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
  // Per image: 6 affine jitters, then the dx field, then the dy field, all u·2 - 1 for uniforms u.
  const bool cpu = cpu_kernels(x, call);
  torch::Tensor jitter, disp;  // CPU: disp holds the smoothed fields, scaled by alpha as elastic_cpu reads them
  if (cpu) {  // the same operations per image, without batch-wide passes
    jitter = torch::empty({n, 6}, f64());
    auto fields = torch::empty({n, 2, h, w}, f64());
    double* jp = jitter.data_ptr<double>();
    double* fp = fields.data_ptr<double>();
    parallel_images(n, [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        DrawStream stream(call.rng_seeds[static_cast<size_t>(i)]);
        stream.fill(Draw::Uniform01, 1.0, jp + i * 6, 6);
        for (int k = 0; k < 6; ++k) jp[i * 6 + k] = static_cast<double>(static_cast<float>((jp[i * 6 + k] * 2 - 1) * c.affine));
        double* f = fp + i * 2 * h * w;
        stream.fill(Draw::Uniform01, 1.0, f, 2 * h * w);
        for (int64_t p = 0; p < 2 * h * w; ++p) f[p] = f[p] * 2 - 1;
      }
    });
    disp = gaussian_filter(fields, c.sigma, Border::Symmetric, 3.0, TapRounding::TwoRoundings, Execution::CpuLoops).contiguous();
  } else {
    auto draws = per_image_draws(call.rng_seeds, {6 + 2 * h * w}, Draw::Uniform01, 1.0, dev);
    jitter = ((draws.narrow(1, 0, 6) * 2 - 1) * c.affine).to(torch::kFloat).to(torch::kDouble).to(torch::kCPU).contiguous();
    auto fields = (draws.narrow(1, 6, 2 * h * w) * 2 - 1).view({n, 2, h, w});
    disp = gaussian_filter(fields, c.sigma, Border::Symmetric, 3.0, TapRounding::TwoRoundings, Execution::Tensor);
    disp = (disp * c.alpha).to(torch::kFloat).to(torch::kDouble);
  }

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
  if (cpu) return elastic_cpu(x.contiguous(), inverse, disp, c.alpha);
  auto x32 = x.to(torch::kFloat).to(torch::kDouble);
  auto inv = torch::tensor(inverse, f64()).view({n, 2, 3}).to(dev);
  auto ys = torch::arange(h, f64().device(dev)).view({1, h, 1}).expand({n, h, w});
  auto xs = torch::arange(w, f64().device(dev)).view({1, 1, w}).expand({n, h, w});
  auto col = [&](int64_t r, int64_t k) { return inv.select(1, r).select(1, k).view({n, 1, 1}); };
  auto sx = col(0, 0) * xs + col(0, 1) * ys + col(0, 2);  // OpenCV x = column
  auto sy = col(1, 0) * xs + col(1, 1) * ys + col(1, 2);
  auto warped = bilinear_tensors(x32, sy, sx, Border::Reflect101).to(torch::kFloat).to(torch::kDouble);
  // Elastic part: sample at (row + dy, col + dx) with scipy's half-sample reflection.
  return bilinear_tensors(warped, ys + disp.select(1, 1), xs + disp.select(1, 0), Border::Symmetric);
}

}  // namespace questbench::corruption
