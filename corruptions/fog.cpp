// fog (standard, weather): x + strength · plasma fractal (diamond-square, the same map on all channels),
// rescaled by max/(max + strength) with the image's global max. The map is the reference's plasma_fractal:
// side 256 (ImageNet-C), 64 (Tiny), 32 (CIFAR) — other sizes use the next power of two >= max(H, W) —
// toroidal, noise amplitude wibble² (wibble = 100, divided by `decay` per level), normalised to [0,1];
// only its top-left H x W is used. The uniform draws of each level come from the image's fast stream.
#include "corruptions/finish.h"
#include "corruptions/streams.h"

#include <algorithm>
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

// The same diamond-square steps for one image, as loops: m (mapsize² scratch) ends up holding map - min;
// returns its max (the normaliser).
double plasma_cpu(const double* u, int64_t mapsize, double decay, double* m) {
  const int64_t ms = mapsize;
  std::fill(m, m + ms * ms, 0.0);
  double wibble = 100;
  auto at = [&](int64_t r, int64_t c) -> double& { return m[r * ms + c]; };
  for (int64_t s = ms; s >= 2; s /= 2) {
    const int64_t half = s / 2, cells = ms / s;
    auto noise = [&](int64_t k) { return wibble * (u[k] * (2 * wibble) - wibble); };
    auto next = [&](int64_t i) { return i + 1 == cells ? 0 : i + 1; };
    auto previous = [&](int64_t i) { return i == 0 ? cells - 1 : i - 1; };
    for (int64_t i = 0; i < cells; ++i)
      for (int64_t j = 0; j < cells; ++j) {
        const int64_t i1 = next(i), j1 = next(j);
        const double sq = (at(i * s, j * s) + at(i1 * s, j * s)) + (at(i * s, j1 * s) + at(i1 * s, j1 * s));
        at(half + i * s, half + j * s) = sq / 4 + noise(i * cells + j);
      }
    u += cells * cells;
    for (int64_t i = 0; i < cells; ++i)
      for (int64_t j = 0; j < cells; ++j) {
        const int64_t im = previous(i), j1 = next(j);
        const double left = ((at(half + i * s, half + j * s) + at(half + im * s, half + j * s)) + at(i * s, j * s)) + at(i * s, j1 * s);
        at(i * s, half + j * s) = left / 4 + noise(i * cells + j);
      }
    u += cells * cells;
    for (int64_t i = 0; i < cells; ++i)
      for (int64_t j = 0; j < cells; ++j) {
        const int64_t jm = previous(j), i1 = next(i);
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
  return hi;
}

struct FogParams {
  double strength, decay;
  int64_t mapsize;
};

FogParams fog_params(const Call& call, int64_t h, int64_t w) {
  static const double strength_imagenet[5] = {1.5, 2, 2.5, 2.5, 3}, decay_imagenet[5] = {2, 2, 1.7, 1.5, 1.4};
  static const double strength_tiny[5] = {.4, .7, 1, 1.5, 2}, decay_tiny[5] = {3, 3, 2.5, 2, 1.75};
  static const double strength_cifar[5] = {.2, .5, 0.75, 1, 1.5}, decay_cifar[5] = {3, 3, 2.5, 2, 1.75};
  const int64_t native = table_side(call.table);
  int64_t mapsize = native == 224 ? 256 : native;
  if (h != native || w != native) {
    mapsize = 1;
    while (mapsize < std::max(h, w)) mapsize *= 2;
  }
  return {pick(call, strength_imagenet, strength_tiny, strength_cifar), pick(call, decay_imagenet, decay_tiny, decay_cifar), mapsize};
}

// The image's global max (float or double input; eight running maxima, exact in any order).
template <typename T>
double image_peak(const T* x, int64_t count) {
  T part[8];
  for (auto& v : part) v = -std::numeric_limits<T>::infinity();
  int64_t p = 0;
  for (; p + 8 <= count; p += 8)
    for (int j = 0; j < 8; ++j) part[j] = std::max(part[j], x[p + j]);
  T peak = -std::numeric_limits<T>::infinity();
  for (T v : part) peak = std::max(peak, v);
  for (; p < count; ++p) peak = std::max(peak, x[p]);
  return static_cast<double>(peak);
}

// The used h x w corner of the map, divided by its max in place (once for the three channels).
QB_WITH_AVX2_CLONE void normalise_map(double* m, int64_t mapsize, double hi, int64_t h, int64_t w) {
  for (int64_t r = 0; r < h; ++r)
    for (int64_t q = 0; q < w; ++q) m[r * mapsize + q] = m[r * mapsize + q] / hi;
}

// (x + strength · map) · peak / (peak + strength) for n values of one row (normalised map row m_row); the
// division per value makes this the blend's cost, hence the AVX2 versions.
template <typename T>
inline void fog_row_of(const T* x, const double* m_row, double strength, double peak, double* out, int64_t n) {
  const double denominator = peak + strength;
  for (int64_t q = 0; q < n; ++q) out[q] = (static_cast<double>(x[q]) + strength * m_row[q]) * peak / denominator;
}
QB_WITH_AVX2_CLONE void fog_row(const float* x, const double* m_row, double strength, double peak, double* out, int64_t n) {
  fog_row_of(x, m_row, strength, peak, out, n);
}
QB_WITH_AVX2_CLONE void fog_row(const double* x, const double* m_row, double strength, double peak, double* out, int64_t n) {
  fog_row_of(x, m_row, strength, peak, out, n);
}

}  // namespace

torch::Tensor fog(const torch::Tensor& x, const Call& call) {
  const int64_t h = x.size(2), w = x.size(3);
  const auto [strength, decay, mapsize] = fog_params(call, h, w);
  const bool cpu = cpu_kernels(x, call);
  auto uniform = per_image_draws(call.rng_seeds, {plasma_draws(mapsize)}, Draw::Uniform01, 1.0, cpu ? torch::Device(torch::kCPU) : x.device());
  if (cpu) {
    auto in = x.contiguous();
    auto out = torch::empty_like(in);
    parallel_images(in.size(0), [&](int64_t first, int64_t last) {
      std::vector<double> m(static_cast<size_t>(mapsize * mapsize));
      for (int64_t i = first; i < last; ++i) {
        const double hi = plasma_cpu(uniform[i].data_ptr<double>(), mapsize, decay, m.data());
        const double* xi = in[i].data_ptr<double>();
        double* o = out[i].data_ptr<double>();
        const double peak = image_peak(xi, 3 * h * w);
        normalise_map(m.data(), mapsize, hi, h, w);
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t r = 0; r < h; ++r) fog_row(xi + (c * h + r) * w, m.data() + r * mapsize, strength, peak, o + (c * h + r) * w, w);
      }
    });
    return out;
  }
  auto map = plasma_fractal(mapsize, decay, uniform).slice(1, 0, h).slice(2, 0, w).unsqueeze(1);
  auto peak = std::get<0>(x.flatten(1).max(1)).view({-1, 1, 1, 1});
  return (x + strength * map) * peak / (peak + strength);
}

void fog_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t image, const Call& call) {
  const auto [strength, decay, mapsize] = fog_params(call, height, width);
  thread_local std::vector<double> uniform, m;
  uniform.resize(static_cast<size_t>(plasma_draws(mapsize)));
  m.resize(static_cast<size_t>(mapsize * mapsize));
  DrawStream(call.rng_seeds[static_cast<size_t>(image)]).fill(Draw::Uniform01, 1.0, uniform.data(), static_cast<int64_t>(uniform.size()));
  const double hi = plasma_cpu(uniform.data(), mapsize, decay, m.data());
  const double peak = image_peak(in, 3 * height * width);
  normalise_map(m.data(), mapsize, hi, height, width);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < height; ++r) {
      const int64_t row = (c * height + r) * width;
      finish_in_chunks(out + row, width, call.options.quantize, [&](int64_t first, int64_t n, double* v) {
        fog_row(in + row + first, m.data() + r * mapsize + first, strength, peak, v, n);
      });
    }
}

}  // namespace questbench::corruption
