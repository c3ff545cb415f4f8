// snow (standard, weather): a snow layer N(loc, scale) -> clipped zoom -> values below `threshold` set to 0
// -> truncated to 8 bits -> ImageMagick motion blur (radius, sigma, angle ~ U(-135, -45)) -> /255; the
// image is whitened, mix·x + (1-mix)·max(x, 1.5·gray(x) + 0.5) (gray = 0.299 R + 0.587 G + 0.114 B), and
// the layer is added twice, once rotated by 180°. Image arithmetic in float32 like the reference.
#include "corruptions/geometry.h"
#include "corruptions/streams.h"

namespace questbench::corruption {
namespace {

// The CPU kernels: per image, the field drawn, zoomed, thresholded and truncated to 8 bits in one pass over a
// buffer of the image's own (the same operations as the tensor ops below, row then column like clipped_zoom),
// then the motion blur of all layers, then the float32 blend as one loop: x·mix + (1-mix)·max(x, 1.5·gray + 0.5)
// + layer + layer rotated by 180°.
torch::Tensor snow_cpu(const torch::Tensor& x, const Call& call, double loc, double scale, double zoom, double threshold,
                       double radius, double sigma, double mix_weight) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), hw = h * w;
  const ZoomAxis ra = zoom_axis(h, zoom), ca = zoom_axis(w, zoom);
  auto layer = torch::empty({n, 1, h, w}, f64());
  std::vector<double> angles(static_cast<size_t>(n));
  double* lp = layer.data_ptr<double>();
  parallel_images(n, [&](int64_t first, int64_t last) {
    std::vector<double> field(static_cast<size_t>(hw)), row(static_cast<size_t>(w));
    for (int64_t i = first; i < last; ++i) {
      DrawStream stream(call.rng_seeds[static_cast<size_t>(i)]);  // loc + scale·N(0, 1) for the field, then U(-135, -45)
      stream.fill(Draw::StandardNormal, scale, field.data(), hw);
      for (int64_t p = 0; p < hw; ++p) field[static_cast<size_t>(p)] += loc;
      double angle;
      stream.fill(Draw::Uniform01, 90.0, &angle, 1);
      angles[static_cast<size_t>(i)] = angle - 135.0;
      double* out = lp + i * hw;
      const int64_t c0 = ca.lo.front(), c1 = ca.hi.back();
      for (int64_t o = 0; o < h; ++o) {
        const double* lo = field.data() + ra.lo[static_cast<size_t>(o)] * w;
        const double* hi = field.data() + ra.hi[static_cast<size_t>(o)] * w;
        const double ty = ra.t[static_cast<size_t>(o)];
        for (int64_t c = c0; c <= c1; ++c) row[static_cast<size_t>(c)] = lo[c] + ty * (hi[c] - lo[c]);
        for (int64_t c = 0; c < w; ++c) {
          const double left = row[static_cast<size_t>(ca.lo[static_cast<size_t>(c)])];
          double v = left + ca.t[static_cast<size_t>(c)] * (row[static_cast<size_t>(ca.hi[static_cast<size_t>(c)])] - left);
          v = v < threshold ? 0.0 : v;
          v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
          out[o * w + c] = floor_exact(v * 255.0);
        }
      }
    }
  });
  auto levels = motion_blur_levels(layer, radius, sigma, angles, Execution::CpuLoops).contiguous();
  auto in = x.contiguous();
  auto out = torch::empty_like(in);
  const float mix = static_cast<float>(mix_weight), rest = static_cast<float>(1 - mix_weight);
  parallel_images(n, [&](int64_t first, int64_t last) {
    std::vector<float> layer32(static_cast<size_t>(hw));
    for (int64_t i = first; i < last; ++i) {
      const double* lev = levels.data_ptr<double>() + i * hw;
      for (int64_t p = 0; p < hw; ++p) layer32[static_cast<size_t>(p)] = static_cast<float>(lev[p] / 255.0);
      const double* xi = in.data_ptr<double>() + i * 3 * hw;
      double* o = out.data_ptr<double>() + i * 3 * hw;
      for (int64_t p = 0; p < hw; ++p) {
        const float r = static_cast<float>(xi[p]), g = static_cast<float>(xi[hw + p]), b = static_cast<float>(xi[2 * hw + p]);
        const float gray = (r * 0.299f + g * 0.587f) + b * 0.114f;
        const float bright = gray * 1.5f + 0.5f;
        const float add = layer32[static_cast<size_t>(p)], flipped = layer32[static_cast<size_t>(hw - 1 - p)];
        const float v[3] = {r, g, b};
        for (int ch = 0; ch < 3; ++ch) {
          const float whitened = mix * v[ch] + rest * std::max(v[ch], bright);
          o[ch * hw + p] = static_cast<double>((whitened + add) + flipped);
        }
      }
    }
  });
  return out;
}

}  // namespace

torch::Tensor snow(const torch::Tensor& x, const Call& call) {
  struct P {
    double loc, scale, zoom, threshold, radius, sigma, mix;
  };
  static const P imagenet[5] = {{0.1, 0.3, 3, 0.5, 10, 4, 0.8},
                                {0.2, 0.3, 2, 0.5, 12, 4, 0.7},
                                {0.55, 0.3, 4, 0.9, 12, 8, 0.7},
                                {0.55, 0.3, 4.5, 0.85, 12, 8, 0.65},
                                {0.55, 0.3, 2.5, 0.85, 12, 12, 0.55}};
  static const P tiny[5] = {{0.1, 0.2, 1, 0.6, 8, 3, 0.8},
                            {0.1, 0.2, 1, 0.5, 10, 4, 0.8},
                            {0.15, 0.3, 1.75, 0.55, 10, 4, 0.7},
                            {0.25, 0.3, 2.25, 0.6, 12, 6, 0.65},
                            {0.3, 0.3, 1.25, 0.65, 14, 12, 0.6}};
  static const P cifar[5] = {{0.1, 0.2, 1, 0.6, 8, 3, 0.95},
                             {0.1, 0.2, 1, 0.5, 10, 4, 0.9},
                             {0.15, 0.3, 1.75, 0.55, 10, 4, 0.9},
                             {0.25, 0.3, 2.25, 0.6, 12, 6, 0.85},
                             {0.3, 0.3, 1.25, 0.65, 14, 12, 0.8}};
  const P c = pick(call, imagenet, tiny, cifar);
  const int64_t h = x.size(2), w = x.size(3);
  // Per image: the H x W normal field, then the blur angle.
  const bool cpu = cpu_kernels(x, call);
  if (cpu) return snow_cpu(x, call, c.loc, c.scale, c.zoom, c.threshold, c.radius, c.sigma, c.mix);
  auto draws = per_image_streams(
      call.rng_seeds, {h * w + 1},
      [&](DrawStream& stream, double* out) {  // loc + scale·N(0, 1) for the field, then U(-135, -45)
        stream.fill(Draw::StandardNormal, c.scale, out, h * w);
        for (int64_t p = 0; p < h * w; ++p) out[p] += c.loc;
        stream.fill(Draw::Uniform01, 90.0, out + h * w, 1);
        out[h * w] -= 135.0;
      },
      x.device());
  auto angles_t = draws.select(1, h * w).to(torch::kCPU).contiguous();
  std::vector<double> angles(angles_t.data_ptr<double>(), angles_t.data_ptr<double>() + angles_t.numel());
  auto layer = clipped_zoom(draws.narrow(1, 0, h * w).view({-1, 1, h, w}), c.zoom);
  layer = torch::where(layer < c.threshold, torch::zeros_like(layer), layer);
  layer = torch::floor(layer.clamp(0, 1) * 255.0);
  layer = div_exact(motion_blur_levels(layer, c.radius, c.sigma, angles, Execution::Tensor), 255.0).to(torch::kFloat);

  auto x32 = x.to(torch::kFloat);
  auto gray = (x32.select(1, 0) * 0.299f + x32.select(1, 1) * 0.587f + x32.select(1, 2) * 0.114f).unsqueeze(1);
  auto whitened = static_cast<float>(c.mix) * x32 + static_cast<float>(1 - c.mix) * torch::max(x32, gray * 1.5f + 0.5f);
  return (whitened + layer + layer.flip({2, 3})).to(torch::kDouble);
}

}  // namespace questbench::corruption
