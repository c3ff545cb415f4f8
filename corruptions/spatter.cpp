// spatter (extra, weather): a liquid layer N(loc, scale) smoothed by gaussian(sigma) (replicate borders),
// values below `threshold` set to 0. Water (severities with mode 0): the 8-bit layer's Canny edges (50,
// 150) -> L2 5x5 chamfer distance transform, truncated at 20 -> 3x3 box blur -> 8 bits -> histogram
// equalisation -> emboss filter (8-bit, saturating) -> 3x3 box blur; m = layer8 · that, normalised by its
// max, times intensity, tints the image pale turquoise (175, 238, 238). Mud (mode 1): the mask
// layer > threshold, blurred by sigma2, values below 0.8 set to 0, blends in brown (63, 42, 20).
// OpenCV's Canny, distanceTransform, equalizeHist, filter2D and blur are re-expressed as tensor ops.
#include "corruptions/filters.h"
#include "corruptions/streams.h"

#include <algorithm>
#include <limits>

namespace questbench::corruption {
namespace {

// cv2.filter2D with a 3x3 kernel on the tensor path. The data are integers or float32 distances and the weights
// small integers, so every product is exact and the tap rounding changes nothing.
torch::Tensor filter3x3(const torch::Tensor& x, const double (&kernel)[3][3], Border border) {
  return filter2d(x, torch::from_blob(const_cast<double*>(&kernel[0][0]), {3, 3}, f64()), border, TapRounding::Fused, Execution::Tensor);
}

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
  auto gx = filter3x3(image8, sx, Border::Replicate), gy = filter3x3(image8, sy, Border::Replicate);
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

const double kOnes[3][3] = {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}};

torch::Tensor box3_levels(const torch::Tensor& x) {  // cv2.blur(3x3) on 8-bit images: rounded mean, REFLECT_101
  return torch::round(div_exact(filter3x3(x, kOnes, Border::Reflect101), 9.0));
}

// ---- CPU kernels: the water branch after the smoothed liquid, per image, the same operations as above ----

template <typename T>
T* scratch(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Reflect101 / Replicate index of p in [0, n).
inline int64_t reflect101(int64_t p, int64_t n) {
  if (n == 1) return 0;
  if (p < 0) return -p;
  if (p >= n) return 2 * n - 2 - p;
  return p;
}
inline int64_t replicate(int64_t p, int64_t n) { return p < 0 ? 0 : (p >= n ? n - 1 : p); }

// canny() on one image of integer levels: edges (0/1).
void canny_cpu(const double* level, int64_t h, int64_t w, double low, double high, double* mag, uint8_t* dir, uint8_t* edges,
               std::vector<int64_t>& stack) {
  for (int64_t y = 0; y < h; ++y) {
    const double* up = level + replicate(y - 1, h) * w;
    const double* mid = level + y * w;
    const double* down = level + replicate(y + 1, h) * w;
    for (int64_t x = 0; x < w; ++x) {
      const int64_t l = replicate(x - 1, w), r = replicate(x + 1, w);
      const double gx = (up[r] - up[l]) + 2 * (mid[r] - mid[l]) + (down[r] - down[l]);
      const double gy = (down[l] + 2 * down[x] + down[r]) - (up[l] + 2 * up[x] + up[r]);
      const double ax = std::abs(gx), ay = std::abs(gy) * 32768.0;
      const double tg22 = ax * 13573.0, tg67 = tg22 + ax * 65536.0;
      mag[y * w + x] = ax + std::abs(gy);
      dir[y * w + x] = ay < tg22 ? 0 : (ay > tg67 ? 1 : (gx * gy < 0 ? 2 : 3));
    }
  }
  auto m = [&](int64_t y, int64_t x) { return y < 0 || y >= h || x < 0 || x >= w ? 0.0 : mag[y * w + x]; };
  stack.clear();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const double v = mag[y * w + x];
      bool keep;
      switch (dir[y * w + x]) {
        case 0: keep = v > m(y, x - 1) && v >= m(y, x + 1); break;
        case 1: keep = v > m(y - 1, x) && v >= m(y + 1, x); break;
        case 2: keep = v > m(y - 1, x + 1) && v > m(y + 1, x - 1); break;
        default: keep = v > m(y - 1, x - 1) && v > m(y + 1, x + 1); break;
      }
      const bool candidate = keep && v > low;
      edges[y * w + x] = candidate ? 1 : 0;  // 1 = candidate, 2 = edge
      if (candidate && v > high) {
        edges[y * w + x] = 2;
        stack.push_back(y * w + x);
      }
    }
  // Hysteresis: every candidate 8-connected (through candidates) to a strong edge.
  while (!stack.empty()) {
    const int64_t p = stack.back();
    stack.pop_back();
    const int64_t y = p / w, x = p % w;
    for (int64_t dy = -1; dy <= 1; ++dy)
      for (int64_t dx = -1; dx <= 1; ++dx) {
        const int64_t yy = y + dy, xx = x + dx;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w || edges[yy * w + xx] != 1) continue;
        edges[yy * w + xx] = 2;
        stack.push_back(yy * w + xx);
      }
  }
  for (int64_t p = 0; p < h * w; ++p) edges[p] = edges[p] == 2;
}

// chamfer_distance() on one image: the fixed point of d = min(d, d[neighbour] + cost) (which the tensor
// iteration reaches for every value <= limit), by forward/backward raster sweeps until nothing changes.
void chamfer_cpu(const uint8_t* is_zero, int64_t h, int64_t w, double* d) {
  struct Step {
    int64_t dy, dx;
    double cost;
  };
  // Forward half (neighbours before the pixel in raster order); the backward half mirrors it.
  static const Step forward[8] = {{-2, -1, 2.1969}, {-2, 1, 2.1969}, {-1, -2, 2.1969}, {-1, -1, 1.4},
                                  {-1, 0, 1.0},     {-1, 1, 1.4},    {-1, 2, 2.1969},  {0, -1, 1.0}};
  for (int64_t p = 0; p < h * w; ++p) d[p] = is_zero[p] ? 0.0 : 1e6;
  for (bool changed = true; changed;) {
    changed = false;
    for (int pass = 0; pass < 2; ++pass) {
      const int64_t sign = pass == 0 ? 1 : -1;
      for (int64_t i = 0; i < h; ++i) {
        const int64_t y = pass == 0 ? i : h - 1 - i;
        const bool inner_row = y >= 2 && y < h - 2;
        for (int64_t j = 0; j < w; ++j) {
          const int64_t x = pass == 0 ? j : w - 1 - j;
          double best = d[y * w + x];
          if (inner_row && x >= 2 && x < w - 2) {  // all eight neighbours inside: no bounds tests
            for (const auto& s : forward) {
              const double v = d[(y + sign * s.dy) * w + x + sign * s.dx] + s.cost;
              if (v < best) best = v;
            }
          } else {
            for (const auto& s : forward) {
              const int64_t yy = y + sign * s.dy, xx = x + sign * s.dx;
              if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
              const double v = d[yy * w + xx] + s.cost;
              if (v < best) best = v;
            }
          }
          if (best < d[y * w + x]) {
            d[y * w + x] = best;
            changed = true;
          }
        }
      }
    }
  }
}

// Correlation of one image with a 3x3 kernel (row-major taps, exact here: integer-valued or float32 sums),
// Reflect101 borders.
// Per output row: its three source rows padded by one column each side, then the nonzero taps in row-major
// order through weighted_taps (first product, then each rounded product added).
void correlate3(const double* in, int64_t h, int64_t w, const double (&k)[3][3], double* out) {
  int64_t offsets[9];
  double weights[9];
  int64_t taps = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (k[i][j] != 0) offsets[taps] = i * (w + 2) + j, weights[taps++] = k[i][j];
  thread_local std::vector<double> rows;
  rows.resize(static_cast<size_t>(3 * (w + 2)));
  for (int64_t y = 0; y < h; ++y) {
    for (int i = 0; i < 3; ++i) {
      const double* src = in + reflect101(y + i - 1, h) * w;
      double* r = rows.data() + i * (w + 2);
      r[0] = src[reflect101(-1, w)];
      std::copy(src, src + w, r + 1);
      r[w + 1] = src[reflect101(w, w)];
    }
    weighted_taps(rows.data(), offsets, weights, taps, out + y * w, w);
  }
}

// Water branch for images [first, last): liquid (the smoothed layer; values below `threshold` count as 0) -> x32 + m·colour.
void spatter_water_cpu(const double* liquid_all, const double* x_all, double* out_all, int64_t first, int64_t last, int64_t h, int64_t w,
                       double threshold, double intensity) {
  static thread_local std::vector<double> level_buf, mag_buf, dist_buf, tmp_buf;
  static thread_local std::vector<uint8_t> dir_buf, edge_buf;
  static thread_local std::vector<int64_t> stack;
  const int64_t hw = h * w;
  double* level = scratch(level_buf, hw);
  double* mag = scratch(mag_buf, hw);
  double* dist = scratch(dist_buf, hw);
  double* tmp = scratch(tmp_buf, hw);
  uint8_t* dir = scratch(dir_buf, hw);
  uint8_t* edges = scratch(edge_buf, hw);
  static const double ones[3][3] = {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
  static const double emboss[3][3] = {{-2, -1, 0}, {-1, 1, 1}, {0, 1, 2}};
  const double color[3] = {175.0 / 255, 238.0 / 255, 238.0 / 255};
  for (int64_t i = first; i < last; ++i) {
    const double* liquid = liquid_all + i * hw;
    for (int64_t p = 0; p < hw; ++p) {
      const double l = floor_exact((liquid[p] < threshold ? 0.0 : liquid[p]) * 255.0);
      level[p] = l < 0.0 ? 0.0 : (l > 255.0 ? 255.0 : l);
    }
    canny_cpu(level, h, w, 50, 150, mag, dir, edges, stack);
    chamfer_cpu(edges, h, w, dist);
    for (int64_t p = 0; p < hw; ++p) dist[p] = std::min(static_cast<double>(static_cast<float>(dist[p])), 20.0);
    correlate3(dist, h, w, ones, tmp);
    for (int64_t p = 0; p < hw; ++p) tmp[p] = floor_exact(tmp[p] / 9.0);
    // equalize_hist
    double hist[256] = {0}, cum[256];
    for (int64_t p = 0; p < hw; ++p) hist[static_cast<int>(tmp[p])] += 1;
    int first_level = 0;
    while (first_level < 255 && hist[first_level] == 0) ++first_level;
    double run = 0;
    for (int l = 0; l < 256; ++l) cum[l] = run += hist[l];
    double lut[256];
    const double count = static_cast<double>(hw);
    if (hist[first_level] == count) {
      for (double& v : lut) v = first_level;
    } else {
      const double scale = 255.0 / (count - hist[first_level]);
      for (int l = 0; l < 256; ++l) {
        const double v = std::rint((cum[l] - cum[first_level]) * scale);
        lut[l] = v < 0.0 ? 0.0 : (v > 255.0 ? 255.0 : v);
      }
    }
    for (int64_t p = 0; p < hw; ++p) dist[p] = lut[static_cast<int>(tmp[p])];
    correlate3(dist, h, w, emboss, tmp);
    for (int64_t p = 0; p < hw; ++p) tmp[p] = tmp[p] < 0.0 ? 0.0 : (tmp[p] > 255.0 ? 255.0 : tmp[p]);
    correlate3(tmp, h, w, ones, dist);
    double peak = -std::numeric_limits<double>::infinity();
    for (int64_t p = 0; p < hw; ++p) {
      dist[p] = level[p] * std::rint(dist[p] / 9.0);  // m = layer8 · box3_levels
      peak = std::max(peak, dist[p]);
    }
    const double* x = x_all + i * 3 * hw;
    double* out = out_all + i * 3 * hw;
    for (int64_t p = 0; p < hw; ++p) {
      const double m = (peak > 0 ? dist[p] / peak : 0.0) * intensity;
      for (int c = 0; c < 3; ++c) out[c * hw + p] = static_cast<double>(static_cast<float>(x[c * hw + p])) + m * color[c];
    }
  }
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
  auto liquid = per_image_streams(
      call.rng_seeds, {1, h, w},
      [&](DrawStream& stream, double* out) {  // loc + scale·N(0, 1)
        stream.fill(Draw::StandardNormal, c.scale, out, h * w);
        for (int64_t p = 0; p < h * w; ++p) out[p] += c.loc;
      },
      x.device());
  liquid = gaussian_filter(liquid, c.sigma, Border::Replicate, 4.0, TapRounding::TwoRoundings, execution_for(x, call));
  if (!c.mud && cpu_kernels(x, call)) {  // the threshold inside the per-image loop
    auto in = x.contiguous();
    liquid = liquid.contiguous();
    auto out = torch::empty_like(in);
    parallel_images(in.size(0), [&](int64_t first, int64_t last) {
      spatter_water_cpu(liquid.data_ptr<double>(), in.data_ptr<double>(), out.data_ptr<double>(), first, last, h, w, c.threshold,
                        c.intensity_or_sigma2);
    });
    return out;
  }
  // Values below the threshold become 0 (for the mud mask, liquid > threshold is the same either way).
  if (!c.mud) liquid = torch::where(liquid < c.threshold, torch::zeros_like(liquid), liquid);
  if (!c.mud) {
    auto x32 = x.to(torch::kFloat).to(torch::kDouble);
    auto layer8 = torch::floor(liquid * 255.0).clamp(0, 255);
    auto dist = chamfer_distance(canny(layer8, 50, 150), 20).to(torch::kFloat).to(torch::kDouble).clamp_max(20);
    // blur, astype(uint8): the 3x3 sum (exact: float32 distances) over 9, like cv2.blur's sum-then-scale
    dist = torch::floor(div_exact(filter3x3(dist, kOnes, Border::Reflect101), 9.0));
    dist = equalize_hist(dist);
    static const double emboss[3][3] = {{-2, -1, 0}, {-1, 1, 1}, {0, 1, 2}};
    dist = filter3x3(dist, emboss, Border::Reflect101).clamp(0, 255);
    dist = box3_levels(dist);
    auto m = layer8 * dist;
    auto peak = std::get<0>(m.flatten(1).max(1)).view({-1, 1, 1, 1});
    m = torch::where(peak > 0, m / torch::where(peak > 0, peak, torch::ones_like(peak)), torch::zeros_like(m)) * c.intensity_or_sigma2;
    auto color = torch::tensor({175.0 / 255, 238.0 / 255, 238.0 / 255}, f64().device(x.device())).view({1, 3, 1, 1});
    return x32 + m * color;
  }
  auto mask = gaussian_filter((liquid > c.threshold).to(torch::kDouble), c.intensity_or_sigma2, Border::Replicate, 4.0,
                              TapRounding::TwoRoundings, execution_for(x, call));
  if (cpu_kernels(x, call)) {
    // The mud blend as one loop: x32·(1 - m) + colour·m with m = mask, or 0 below 0.8.
    auto in = x.contiguous();
    mask = mask.contiguous();
    auto out = torch::empty_like(in);
    const double color[3] = {63.0 / 255, 42.0 / 255, 20.0 / 255};
    const int64_t hw = h * w;
    parallel_images(in.size(0), [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        const double* m = mask.data_ptr<double>() + i * hw;
        const double* xi = in.data_ptr<double>() + i * 3 * hw;
        double* o = out.data_ptr<double>() + i * 3 * hw;
        for (int64_t ch = 0; ch < 3; ++ch)
          for (int64_t p = 0; p < hw; ++p) {
            const double mp = m[p] < 0.8 ? 0.0 : m[p];
            o[ch * hw + p] = static_cast<double>(static_cast<float>(xi[ch * hw + p])) * (1 - mp) + color[ch] * mp;
          }
      }
    });
    return out;
  }
  mask = torch::where(mask < 0.8, torch::zeros_like(mask), mask);
  auto color = torch::tensor({63.0 / 255, 42.0 / 255, 20.0 / 255}, f64().device(x.device())).view({1, 3, 1, 1});
  auto x32 = x.to(torch::kFloat).to(torch::kDouble);
  return x32 * (1 - mask) + color * mask;
}

}  // namespace questbench::corruption
