// fog (standard, weather): x + strength · plasma fractal (diamond-square, the same map on all channels),
// rescaled by max/(max + strength) with the image's global max. The map is the reference's plasma_fractal:
// side 256 (ImageNet-C), 64 (Tiny), 32 (CIFAR) — other sizes use the next power of two >= max(H, W) —
// toroidal, noise amplitude wibble² (wibble = 100, divided by `decay` per level), normalised to [0,1];
// only its top-left H x W is used. The uniform draws of each level come from the image's own stream.
#include "corruptions/ops.h"

namespace questbench::corruption {
namespace {

torch::Tensor plasma_fractal(int64_t mapsize, double decay, const Call& call, torch::Device device) {
  const int64_t n = static_cast<int64_t>(call.rng_seeds.size());
  int64_t draws = 0;
  for (int64_t s = mapsize; s >= 2; s /= 2) draws += 3 * (mapsize / s) * (mapsize / s);
  auto uniform = per_image_random(call.rng_seeds, [&](at::Generator& g) { return torch::rand({draws}, g, f64()); }, device);
  auto map = torch::zeros({n, mapsize, mapsize}, f64().device(device));
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
  auto map = plasma_fractal(mapsize, decay, call, x.device()).slice(1, 0, h).slice(2, 0, w).unsqueeze(1);
  auto peak = std::get<0>(x.flatten(1).max(1)).view({-1, 1, 1, 1});
  return (x + strength * map) * peak / (peak + strength);
}

}  // namespace questbench::corruption
