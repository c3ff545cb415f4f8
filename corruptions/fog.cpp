// fog (standard, weather): x + strength · plasma fractal (diamond-square, the same map on all channels),
// rescaled by max/(max + strength) with the image's global max. The map is the reference's plasma_fractal:
// side 256 (ImageNet-C), 64 (Tiny), 32 (CIFAR) — other sizes use the next power of two >= max(H, W) —
// toroidal, noise amplitude wibble² (wibble = 100, divided by `decay` per level), normalised to [0,1];
// only its top-left H x W is used. The uniform draws of each level come from the image's own stream.
#include "corruptions/ops.h"

#include <limits>

namespace questbench::corruption {
namespace {

int64_t plasma_draws(int64_t mapsize) {
  int64_t draws = 0;
  for (int64_t s = mapsize; s >= 2; s /= 2) draws += 3 * (mapsize / s) * (mapsize / s);
  return draws;
}

torch::Tensor plasma_fractal(int64_t mapsize, double decay, const torch::Tensor& uniform) {
  const int64_t n = uniform.size(0);
  auto map = torch::zeros({n, mapsize, mapsize}, f64().device(uniform.device()));
  int64_t used = 0;
  double wibble = 100;
  auto noise = [&](int64_t cells) {
    auto u = uniform.narrow(1, used, cells * cells).view({n, cells, cells});
    used += cells * cells;
    return wibble * (u * (2 * wibble) - wibble);
  };
  auto grid = [&](int64_t r0, int64_t c0, int64_t s) { return map.slice(1, r0, mapsize, s).slice(2, c0, mapsize, s); };
  for (int64_t s = mapsize; s >= 2; s /= 2) {
    const int64_t half = s / 2, cells = mapsize / s;
    auto corners = grid(0, 0, s);
    auto squares = corners + torch::roll(corners, -1, 1);
    squares = squares + torch::roll(squares, -1, 2);
    grid(half, half, s).copy_(squares / 4 + noise(cells));
    auto dr = grid(half, half, s), ul = grid(0, 0, s);
    auto left = dr + torch::roll(dr, 1, 1) + ul + torch::roll(ul, -1, 2);
    auto top = dr + torch::roll(dr, 1, 2) + ul + torch::roll(ul, -1, 1);
    grid(0, half, s).copy_(left / 4 + noise(cells));
    grid(half, 0, s).copy_(top / 4 + noise(cells));
    wibble /= decay;
  }
  map = map - std::get<0>(map.flatten(1).min(1)).view({n, 1, 1});
  return map / std::get<0>(map.flatten(1).max(1)).view({n, 1, 1});
}

// The same diamond-square steps and fog blend for one image, as loops (m: mapsize² scratch).
void fog_cpu_one(const double* u, int64_t mapsize, double decay, double strength, const double* x, double* out, int64_t h, int64_t w,
                 double* m) {
  const int64_t ms = mapsize;
  std::fill(m, m + ms * ms, 0.0);
  double wibble = 100;
  auto at = [&](int64_t r, int64_t c) -> double& { return m[r * ms + c]; };
  for (int64_t s = ms; s >= 2; s /= 2) {
    const int64_t half = s / 2, cells = ms / s;
    auto noise = [&](int64_t k) { return wibble * (u[k] * (2 * wibble) - wibble); };
    for (int64_t i = 0; i < cells; ++i)
      for (int64_t j = 0; j < cells; ++j) {
        const int64_t i1 = (i + 1) % cells, j1 = (j + 1) % cells;
        const double sq = (at(i * s, j * s) + at(i1 * s, j * s)) + (at(i * s, j1 * s) + at(i1 * s, j1 * s));
        at(half + i * s, half + j * s) = sq / 4 + noise(i * cells + j);
      }
    u += cells * cells;
    for (int64_t i = 0; i < cells; ++i)
      for (int64_t j = 0; j < cells; ++j) {
        const int64_t im = (i + cells - 1) % cells, j1 = (j + 1) % cells;
        const double left = ((at(half + i * s, half + j * s) + at(half + im * s, half + j * s)) + at(i * s, j * s)) + at(i * s, j1 * s);
        at(i * s, half + j * s) = left / 4 + noise(i * cells + j);
      }
    u += cells * cells;
    for (int64_t i = 0; i < cells; ++i)
      for (int64_t j = 0; j < cells; ++j) {
        const int64_t jm = (j + cells - 1) % cells, i1 = (i + 1) % cells;
        const double top = ((at(half + i * s, half + j * s) + at(half + i * s, half + jm * s)) + at(i * s, j * s)) + at(i1 * s, j * s);
        at(half + i * s, j * s) = top / 4 + noise(i * cells + j);
      }
    u += cells * cells;
    wibble /= decay;
  }
  double lo = m[0];
  for (int64_t p = 1; p < ms * ms; ++p) lo = std::min(lo, m[p]);
  double hi = -std::numeric_limits<double>::infinity();
  for (int64_t p = 0; p < ms * ms; ++p) hi = std::max(hi, m[p] = m[p] - lo);
  double peak = -std::numeric_limits<double>::infinity();
  for (int64_t p = 0; p < 3 * h * w; ++p) peak = std::max(peak, x[p]);
  const double denominator = peak + strength;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t q = 0; q < w; ++q) {
        const int64_t p = (c * h + r) * w + q;
        out[p] = (x[p] + strength * (m[r * ms + q] / hi)) * peak / denominator;
      }
}

}  // namespace

torch::Tensor fog(const torch::Tensor& x, const Call& call) {
  static const double strength_imagenet[5] = {1.5, 2, 2.5, 2.5, 3}, decay_imagenet[5] = {2, 2, 1.7, 1.5, 1.4};
  static const double strength_tiny[5] = {.4, .7, 1, 1.5, 2}, decay_tiny[5] = {3, 3, 2.5, 2, 1.75};
  static const double strength_cifar[5] = {.2, .5, 0.75, 1, 1.5}, decay_cifar[5] = {3, 3, 2.5, 2, 1.75};
  const double strength = pick(call, strength_imagenet, strength_tiny, strength_cifar);
  const double decay = pick(call, decay_imagenet, decay_tiny, decay_cifar);
  const int64_t h = x.size(2), w = x.size(3), native = table_side(call.table);
  int64_t mapsize = native == 224 ? 256 : native;
  if (h != native || w != native) {
    mapsize = 1;
    while (mapsize < std::max(h, w)) mapsize *= 2;
  }
  auto uniform = per_image_fill(
      call.rng_seeds, {plasma_draws(mapsize)}, torch::kDouble, [](at::Generator& g, torch::Tensor& out) { out.uniform_(0, 1, g); },
      cpu_kernels(x, call) ? torch::Device(torch::kCPU) : x.device());
  if (cpu_kernels(x, call)) {
    auto in = x.contiguous();
    auto out = torch::empty_like(in);
    parallel_images(in.size(0), [&](int64_t first, int64_t last) {
      std::vector<double> m(static_cast<size_t>(mapsize * mapsize));
      for (int64_t i = first; i < last; ++i)
        fog_cpu_one(uniform[i].data_ptr<double>(), mapsize, decay, strength, in[i].data_ptr<double>(), out[i].data_ptr<double>(), h, w,
                    m.data());
    });
    return out;
  }
  auto map = plasma_fractal(mapsize, decay, uniform).slice(1, 0, h).slice(2, 0, w).unsqueeze(1);
  auto peak = std::get<0>(x.flatten(1).max(1)).view({-1, 1, 1, 1});
  return (x + strength * map) * peak / (peak + strength);
}

}  // namespace questbench::corruption
