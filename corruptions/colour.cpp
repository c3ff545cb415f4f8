// scikit-image's HSV round trip as tensor ops and as one vectorised per-pixel loop; see colour.h.
#include "corruptions/colour.h"

#include "corruptions/finish.h"

#include <algorithm>

namespace questbench::corruption {

Hsv rgb_to_hsv(const torch::Tensor& x) {
  auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  auto v = torch::max(torch::max(r, g), b);
  auto delta = v - torch::min(torch::min(r, g), b);
  auto safe_delta = torch::where(delta == 0, torch::ones_like(delta), delta);
  auto s = torch::where(delta == 0, torch::zeros_like(v), delta / torch::where(v == 0, torch::ones_like(v), v));
  // skimage assigns the hue formula of the channel holding the max, with b overriding g overriding r.
  auto h = torch::where(b == v, 4.0 + (r - g) / safe_delta, torch::where(g == v, 2.0 + (b - r) / safe_delta, (g - b) / safe_delta));
  h = torch::remainder(div_exact(h, 6.0), 1.0);
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

namespace {

// The HSV round trip with one channel changed (skimage's rgb2hsv / hsv2rgb operations) on four pixels, as
// selects of unconditional vector operations (no branch). For r, g, b in [0, 1] (corrupt() checks the range) the
// hue before the wrap is in [-1/6, 5/6], so ATen's remainder(h, 1) is h + 1 for h < 0 and h otherwise, and h·6
// is in [0, 6], so the int32 truncation is its floor (up to the sign of a zero, which changes no result) and
// the sector remainder(floor(h·6), 6) is 0 for 6 and the floor itself otherwise.
__attribute__((always_inline)) inline void hsv_adjust4(Vec4 r, Vec4 g, Vec4 bl, bool value, double a, double b, Vec4& rr,
                                                       Vec4& gg, Vec4& bb) {
  const Vec4 zero = {0, 0, 0, 0}, one = {1, 1, 1, 1}, two = {2, 2, 2, 2}, four = {4, 4, 4, 4}, six = {6, 6, 6, 6};
  // rgb_to_hsv (x < y ? y : x is std::max(x, y), y < x ? y : x is std::min(x, y), lane by lane)
  const Vec4 max_rg = r < g ? g : r, min_rg = g < r ? g : r;
  Vec4 v = max_rg < bl ? bl : max_rg;
  const Vec4 delta = v - (bl < min_rg ? bl : min_rg);
  const Vec4l flat = delta == zero;
  const Vec4 safe_delta = flat ? one : delta;
  Vec4 s = flat ? zero : delta / (v == zero ? one : v);
  const Vec4l blue_max = bl == v, green_max = g == v;
  const Vec4 numerator = blue_max ? r - g : (green_max ? bl - r : g - bl);
  const Vec4 offset = blue_max ? four : (green_max ? two : zero);
  const Vec4 unwrapped = (offset + numerator / safe_delta) / 6.0;
  const Vec4 h = flat ? zero : (unwrapped < zero ? unwrapped + 1.0 : unwrapped);
  const Vec4 adjusted = value ? v + a : s * a + b;
  const Vec4 raised = adjusted < zero ? zero : adjusted, clipped = one < raised ? one : raised;  // clip to [0, 1]
  (value ? v : s) = clipped;
  // hsv_to_rgb
  const Vec4 h6 = h * 6.0;
  const Vec4 hi = __builtin_convertvector(__builtin_convertvector(h6, Vec4i), Vec4);
  const Vec4 f = h6 - hi;
  const Vec4 pp = v * (1.0 - s), q = v * (1.0 - f * s), t = v * (1.0 - (1.0 - f) * s);
  const Vec4 sector = hi == six ? zero : hi;
  const Vec4l s0 = sector == 0.0, s1 = sector == 1.0, s2 = sector == 2.0, s3 = sector == 3.0, s4 = sector == 4.0,
              s5 = sector == 5.0;
  rr = s0 | s5 ? v : (s1 ? q : (s4 ? t : pp));
  gg = s1 | s2 ? v : (s0 ? t : (s3 ? q : pp));
  bb = s3 | s4 ? v : (s2 ? t : (s5 ? q : pp));
}

QB_WITH_AVX2_CLONE
void hsv_adjust_run(const double* red, const double* green, const double* blue, int64_t n, HsvChannel channel, double a,
                    double b, double* out_red, double* out_green, double* out_blue) {
  const bool value = channel == HsvChannel::Value;
  int64_t k = 0;
  Vec4 rr, gg, bb;
  for (; k + 4 <= n; k += 4) {
    hsv_adjust4(QB_LOAD4(red + k), QB_LOAD4(green + k), QB_LOAD4(blue + k), value, a, b, rr, gg, bb);
    QB_STORE4(out_red + k, rr);
    QB_STORE4(out_green + k, gg);
    QB_STORE4(out_blue + k, bb);
  }
  if (k == n) return;
  Vec4 r = {0, 0, 0, 0}, g = r, bl = r;  // the last 1-3 pixels in zero-padded lanes
  for (int64_t j = 0; k + j < n; ++j) r[j] = red[k + j], g[j] = green[k + j], bl[j] = blue[k + j];
  hsv_adjust4(r, g, bl, value, a, b, rr, gg, bb);
  for (int64_t j = 0; k + j < n; ++j) out_red[k + j] = rr[j], out_green[k + j] = gg[j], out_blue[k + j] = bb[j];
}

}  // namespace

torch::Tensor hsv_adjust_cpu(const torch::Tensor& x, HsvChannel channel, double a, double b) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), plane = in.size(2) * in.size(3);
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  parallel_images(n, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      const double* s3 = src + i * 3 * plane;
      double* d3 = dst + i * 3 * plane;
      hsv_adjust_run(s3, s3 + plane, s3 + 2 * plane, plane, channel, a, b, d3, d3 + plane, d3 + 2 * plane);
    }
  });
  return out;
}

void hsv_adjust_planes(const float* in, float* out, int64_t plane, HsvChannel channel, double a, double b, bool quantize) {
  constexpr int64_t kChunk = 1024;
  double rgb[3][kChunk], adjusted[3][kChunk];
  for (int64_t first = 0; first < plane; first += kChunk) {
    const int64_t n = std::min(kChunk, plane - first);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t k = 0; k < n; ++k) rgb[c][k] = static_cast<double>(in[c * plane + first + k]);
    hsv_adjust_run(rgb[0], rgb[1], rgb[2], n, channel, a, b, adjusted[0], adjusted[1], adjusted[2]);
    for (int64_t c = 0; c < 3; ++c) finish_levels(adjusted[c], out + c * plane + first, n, quantize);
  }
}

}  // namespace questbench::corruption
