// Per-image random draws: ATen generators per image, the fast streams (DrawStream), Poisson samplers and
// alias tables; see streams.h.
#include "corruptions/streams.h"

#include "common/random.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

namespace questbench::corruption {

torch::Tensor per_image_random(const std::vector<uint64_t>& rng_seeds, const std::function<torch::Tensor(at::Generator&)>& fn,
                               torch::Device device) {
  std::vector<torch::Tensor> draws(rng_seeds.size());
  parallel_images(static_cast<int64_t>(rng_seeds.size()), [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(rng_seeds[static_cast<size_t>(i)]);
      draws[static_cast<size_t>(i)] = fn(gen);
    }
  });
  return torch::stack(draws).to(device);
}

torch::Tensor per_image_fill(const std::vector<uint64_t>& rng_seeds, at::IntArrayRef shape, torch::ScalarType dtype,
                             const std::function<void(at::Generator&, torch::Tensor&)>& fill, torch::Device device) {
  std::vector<int64_t> sizes = {static_cast<int64_t>(rng_seeds.size())};
  sizes.insert(sizes.end(), shape.begin(), shape.end());
  auto out = torch::empty(sizes, torch::TensorOptions().dtype(dtype));
  parallel_images(static_cast<int64_t>(rng_seeds.size()), [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(rng_seeds[static_cast<size_t>(i)]);
      auto slice = out[i];
      fill(gen, slice);
    }
  });
  return out.to(device);
}

namespace {

// The uniforms of one 64-bit word, from its top 53 bits.
inline double uniform_of(uint64_t word) { return static_cast<double>(word >> 11) * 0x1.0p-53; }             // [0, 1)
inline double uniform_open_of(uint64_t word) { return static_cast<double>((word >> 11) + 1) * 0x1.0p-53; }  // (0, 1]

// xoshiro256++ (common/random.h) with the draws the samplers take from it.
struct Xoshiro256pp : Xoshiro256 {
  using Xoshiro256::Xoshiro256;
  uint64_t next() { return next_plus_plus(); }
  double uniform() { return uniform_of(next()); }
  double uniform_open() { return uniform_open_of(next()); }
};

// Ziggurat tables for the standard normal, 128 layers (Marsaglia & Tsang 2000): r = 3.442619855899 is the
// base layer's right edge, v = 9.91256303526217e-3 each layer's area.
struct Ziggurat {
  uint32_t k[128];
  double w[128], f[128];
  double k_double[128];  // k as doubles, for the vector test |hz| < k
};
constexpr double kZigR = 3.442619855899;

const Ziggurat& ziggurat() {
  static const Ziggurat table = [] {
    Ziggurat z{};
    const double m = 2147483648.0, v = 9.91256303526217e-3;
    double d = kZigR, t = d;
    const double q = v / std::exp(-0.5 * d * d);
    z.k[0] = static_cast<uint32_t>((d / q) * m);
    z.k[1] = 0;
    z.w[0] = q / m;
    z.w[127] = d / m;
    z.f[0] = 1.0;
    z.f[127] = std::exp(-0.5 * d * d);
    for (int i = 126; i >= 1; --i) {
      d = std::sqrt(-2.0 * std::log(v / d + std::exp(-0.5 * d * d)));
      z.k[i + 1] = static_cast<uint32_t>((d / t) * m);
      t = d;
      z.f[i] = std::exp(-0.5 * d * d);
      z.w[i] = d / m;
    }
    for (int i = 0; i < 128; ++i) z.k_double[i] = static_cast<double>(z.k[i]);
    return z;
  }();
  return table;
}

// A standard normal whose first 64-bit draw is u; rejections draw on from rng.
inline double standard_normal_from(uint64_t u, Xoshiro256pp& rng, const Ziggurat& z) {
  for (;; u = rng.next()) {
    const int layer = static_cast<int>(u & 127);
    const int32_t hz = static_cast<int32_t>(static_cast<uint32_t>(u >> 32));
    const uint32_t magnitude = hz < 0 ? 0u - static_cast<uint32_t>(hz) : static_cast<uint32_t>(hz);
    const double x = static_cast<double>(hz) * z.w[layer];
    if (magnitude < z.k[layer]) return x;  // inside the layer's rectangle: ~98.8 % of draws
    if (layer == 0) {                      // the tail beyond r
      double tail, y;
      do {
        tail = -std::log(rng.uniform_open()) / kZigR;
        y = -std::log(rng.uniform_open());
      } while (y + y < tail * tail);
      return hz > 0 ? kZigR + tail : -(kZigR + tail);
    }
    if (z.f[layer] + rng.uniform() * (z.f[layer - 1] - z.f[layer]) < std::exp(-0.5 * x * x)) return x;
  }
}

// Per-rate constants of the Poisson samplers; images hold few distinct rates (8-bit levels times a scale), so
// fill_poisson keeps them in a small direct-mapped cache.
struct PoissonSetup {
  double rate = -1;
  double limit = 0;                                             // rate < 10: exp(-rate)
  double log_rate = 0, a = 0, b = 0, log_inv_alpha = 0, v_r = 0;  // rate >= 10: PTRS
};

PoissonSetup poisson_setup(double rate) {
  PoissonSetup p;
  p.rate = rate;
  if (rate < 10) {
    p.limit = std::exp(-rate);
    return p;
  }
  p.log_rate = std::log(rate);
  p.b = 0.931 + 2.53 * std::sqrt(rate);
  p.a = -0.059 + 0.02483 * p.b;
  p.log_inv_alpha = std::log(1.1239 + 1.1328 / (p.b - 3.4));
  p.v_r = 0.9277 - 3.6224 / (p.b - 2);
  return p;
}

template <typename Rng>  // Xoshiro256pp or a view of one (uniform, uniform_open)
double poisson(Rng& rng, const PoissonSetup& p) {
  if (!(p.rate > 0)) return 0;
  if (p.rate < 10) {  // count uniforms until their product drops below exp(-rate)
    double product = rng.uniform_open();
    int64_t k = 0;
    while (product > p.limit) product *= rng.uniform_open(), ++k;
    return static_cast<double>(k);
  }
  // PTRS (Hörmann 1993, "The transformed rejection method for generating Poisson random variables").
  for (;;) {
    const double u = rng.uniform() - 0.5, v = rng.uniform_open(), us = 0.5 - std::abs(u);
    const double k = floor_exact((2 * p.a / us + p.b) * u + p.rate + 0.43);
    if (us >= 0.07 && v <= p.v_r) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + p.log_inv_alpha - std::log(p.a / (us * us) + p.b) <= -p.rate + k * p.log_rate - std::lgamma(k + 1)) return k;
  }
}

// DrawStream's lanes: four xoshiro256++ generators; value k of the stream is drawn from lane k mod 4 (its first
// 64-bit word is that lane's next output, any further words come from the same lane), so four values at once
// are one step of the four generators as vectors (AVX2 where the CPU has it), with the same numbers as one value
// at a time.
typedef uint64_t Vec4u __attribute__((vector_size(32)));

struct Lanes {
  Xoshiro256pp g[4] = {Xoshiro256pp(0), Xoshiro256pp(0), Xoshiro256pp(0), Xoshiro256pp(0)};
  Vec4u s[4];  // word w of the four lanes, while stepping them as vectors

  explicit Lanes(const uint64_t (*state)[4]) {
    for (int l = 0; l < 4; ++l) std::memcpy(g[l].s, state[l], sizeof g[l].s);
  }
  void save(uint64_t (*state)[4]) const {
    for (int l = 0; l < 4; ++l) std::memcpy(state[l], g[l].s, sizeof g[l].s);
  }
  void to_vectors() {
    for (int w = 0; w < 4; ++w)
      for (int l = 0; l < 4; ++l) s[w][l] = g[l].s[w];
  }
  void from_vectors() {
    for (int w = 0; w < 4; ++w)
      for (int l = 0; l < 4; ++l) g[l].s[w] = s[w][l];
  }
  // The next output of all four lanes (common/random.h's xoshiro256++ on vectors: lane by lane the same).
  __attribute__((always_inline)) void step(Vec4u& out) { xoshiro256_plus_plus(s[0], s[1], s[2], s[3], out); }
};

// Exact float64 of integers below 2^52, four at a time (the exponent trick: no 64-bit conversion in AVX2).
__attribute__((always_inline)) inline void small_to_double(Vec4u v, Vec4& out) {
  const Vec4u magic = {0x4330000000000000ULL, 0x4330000000000000ULL, 0x4330000000000000ULL, 0x4330000000000000ULL};
  out = (Vec4)(v | magic) - 4503599627370496.0;  // 2^52
}

// uniform_of() of four words: (u >> 11) · 2^-53, the 53-bit integer converted in two exact halves.
__attribute__((always_inline)) inline void uniform4(Vec4u u, Vec4& out) {
  const Vec4u bits = u >> 11;
  Vec4 high, low;
  small_to_double(bits >> 26, high);
  small_to_double(bits & ((1ULL << 26) - 1), low);
  out = (high * 67108864.0 + low) * 0x1.0p-53;  // 2^26: every step exact
}

QB_WITH_AVX2_CLONE
void fill_lanes(uint64_t (*state)[4], int& lane, Draw draw, double scale, double* out, int64_t count) {
  Lanes lanes(state);
  const Ziggurat& z = ziggurat();
  const bool normal = draw == Draw::StandardNormal;
  const auto one = [&](Xoshiro256pp& g) { return scale * (normal ? standard_normal_from(g.next(), g, z) : g.uniform()); };
  int64_t i = 0;
  for (; i < count && lane != 0; ++i, lane = (lane + 1) & 3) out[i] = one(lanes.g[lane]);
  if (count - i >= 4) {
    lanes.to_vectors();
    for (; i + 4 <= count; i += 4) {
      Vec4u u;
      lanes.step(u);
      Vec4 v;
      if (!normal) {
        uniform4(u, v);
        v = scale * v;
        QB_STORE4(out + i, v);
        continue;
      }
      // The ziggurat's rectangle test on four draws: hz = the high 32 bits as int32, x = hz · w[layer], kept
      // when |hz| < k[layer]; the rest (~1.2 % of values) go on one by one on their own lanes.
      Vec4 hz;
      small_to_double(u >> 32, hz);
      hz = hz >= 2147483648.0 ? hz - 4294967296.0 : hz;
      Vec4 w, k;
      for (int j = 0; j < 4; ++j) w[j] = z.w[u[j] & 127], k[j] = z.k_double[u[j] & 127];
      const Vec4 x = hz * w, magnitude = hz < 0.0 ? -hz : hz;
      const Vec4l inside = magnitude < k;
      if (inside[0] & inside[1] & inside[2] & inside[3]) {
        v = scale * x;
        QB_STORE4(out + i, v);
        continue;
      }
      lanes.from_vectors();
      for (int j = 0; j < 4; ++j) out[i + j] = inside[j] ? scale * x[j] : scale * standard_normal_from(u[j], lanes.g[j], z);
      lanes.to_vectors();
    }
    lanes.from_vectors();
  }
  for (; i < count; ++i, lane = (lane + 1) & 3) out[i] = one(lanes.g[lane]);
  lanes.save(state);
}

}  // namespace

DrawStream::DrawStream(uint64_t seed) {
  for (auto& words : state_)
    for (auto& word : words) word = splitmix64_next(seed);
}

void DrawStream::fill(Draw draw, double scale, double* out, int64_t count) { fill_lanes(state_, lane_, draw, scale, out, count); }

void fill_draws(uint64_t seed, Draw draw, double scale, double* out, int64_t count) { DrawStream(seed).fill(draw, scale, out, count); }

namespace {

// Alias tables (Walker, built by Vose's method) of the Poisson pmfs of the rates level·scale for the 256
// levels of a float32 image: count n is drawn with probability p_n (the tail beyond 1e-18 is cut) by one
// uniform u: column i = floor(u·K), kept if the rest of u·K is below prob[i], else alias[i].
constexpr double kMaxTableRate = 700;  // exp(-rate) stays a normal double

struct LevelPoisson {
  std::vector<double> prob[256];  // empty: not tabulated (PTRS)
  std::vector<int32_t> alias[256];
};

std::unique_ptr<LevelPoisson> build_level_poisson(double scale) {
  auto t = std::make_unique<LevelPoisson>();
  const float* levels = level_table<float>();
  for (int k = 0; k < 256; ++k) {
    const double rate = static_cast<double>(levels[k]) * scale;
    if (!(rate >= 0 && rate <= kMaxTableRate)) continue;
    std::vector<double> pmf;
    double p = std::exp(-rate), total = 0;
    for (int64_t n = 0;; ++n) {
      if (n > 0) p *= rate / static_cast<double>(n);
      if (n > rate && p < 1e-18) break;
      pmf.push_back(p);
      total += p;
    }
    const int64_t columns = static_cast<int64_t>(pmf.size());
    auto& prob = t->prob[k];
    auto& alias = t->alias[k];
    prob.assign(static_cast<size_t>(columns), 1.0);
    alias.resize(static_cast<size_t>(columns));
    std::vector<double> q(static_cast<size_t>(columns));
    std::vector<int32_t> small, large;
    for (int32_t n = 0; n < columns; ++n) {
      q[static_cast<size_t>(n)] = pmf[static_cast<size_t>(n)] * static_cast<double>(columns) / total;
      alias[static_cast<size_t>(n)] = n;
      (q[static_cast<size_t>(n)] < 1.0 ? small : large).push_back(n);
    }
    while (!small.empty() && !large.empty()) {
      const int32_t s = small.back(), l = large.back();
      small.pop_back();
      prob[static_cast<size_t>(s)] = q[static_cast<size_t>(s)];
      alias[static_cast<size_t>(s)] = l;
      q[static_cast<size_t>(l)] = (q[static_cast<size_t>(l)] + q[static_cast<size_t>(s)]) - 1.0;
      if (q[static_cast<size_t>(l)] < 1.0) large.pop_back(), small.push_back(l);
    }
  }
  return t;
}

const LevelPoisson& level_poisson(double scale) {
  static std::mutex mutex;
  static std::vector<std::pair<double, std::unique_ptr<LevelPoisson>>> built;  // a few scales per process
  std::lock_guard<std::mutex> lock(mutex);
  for (const auto& [s, t] : built)
    if (s == scale) return *t;
  built.emplace_back(scale, build_level_poisson(scale));
  return *built.back().second;
}

// The 8-bit level of v when v is one (float(k/255)) and its rate is tabulated, else -1.
inline int tabulated_level(double v, const LevelPoisson& table, const float* levels) {
  const double t = v * 255.0;
  const int k = t >= 0.0 && t <= 255.0 ? static_cast<int>(rint_nonneg(t)) : 0;
  return v == static_cast<double>(levels[k]) && !table.prob[k].empty() ? k : -1;
}

// Poisson(v·scale) for the value v of level k (>= 0: the alias table, from the uniform of the word u) or not
// (k < 0: the samplers, the first draw being the word u, the rest from rng).
inline double poisson_value(double v, int k, uint64_t u, Xoshiro256pp& rng, const LevelPoisson& table, double scale,
                            PoissonSetup& fallback) {
  if (k >= 0) {
    const auto& prob = table.prob[k];
    const double position = uniform_of(u) * static_cast<double>(prob.size());
    const int64_t column = static_cast<int64_t>(position);
    const int64_t other = table.alias[k][static_cast<size_t>(column)];
    const int64_t keep = position - static_cast<double>(column) < prob[static_cast<size_t>(column)];  // a coin: no branch
    return static_cast<double>(other + (column - other) * keep);
  }
  const double rate = v * scale;
  if (fallback.rate != rate) fallback = poisson_setup(rate);
  struct FirstWord {  // rng whose next word is u first
    uint64_t u;
    bool used;
    Xoshiro256pp& rng;
    uint64_t next() { return used ? rng.next() : (used = true, u); }
    double uniform() { return uniform_of(next()); }
    double uniform_open() { return uniform_open_of(next()); }
  } first{u, false, rng};
  return corruption::poisson(first, fallback);
}

QB_WITH_AVX2_CLONE
void poisson_lanes(uint64_t (*state)[4], int& lane, const double* x, double scale, double* out, int64_t count) {
  Lanes lanes(state);
  const LevelPoisson& table = level_poisson(scale);
  const float* levels = level_table<float>();
  PoissonSetup fallback;
  const auto one = [&](int64_t i, Xoshiro256pp& g) {
    return poisson_value(x[i], tabulated_level(x[i], table, levels), g.next(), g, table, scale, fallback);
  };
  int64_t i = 0;
  for (; i < count && lane != 0; ++i, lane = (lane + 1) & 3) out[i] = one(i, lanes.g[lane]);
  if (count - i >= 4) {
    lanes.to_vectors();
    for (; i + 4 <= count; i += 4) {
      Vec4u u;
      lanes.step(u);
      int k[4];
      for (int j = 0; j < 4; ++j) k[j] = tabulated_level(x[i + j], table, levels);
      const bool sampler = (k[0] | k[1] | k[2] | k[3]) < 0;  // a sampler draws on from its lane's scalar state
      if (sampler) lanes.from_vectors();
      for (int j = 0; j < 4; ++j) out[i + j] = poisson_value(x[i + j], k[j], u[j], lanes.g[j], table, scale, fallback);
      if (sampler) lanes.to_vectors();
    }
    lanes.from_vectors();
  }
  for (; i < count; ++i, lane = (lane + 1) & 3) out[i] = one(i, lanes.g[lane]);
  lanes.save(state);
}

}  // namespace

void DrawStream::poisson(const double* x, double scale, double* out, int64_t count) {
  poisson_lanes(state_, lane_, x, scale, out, count);
}

void fill_poisson(uint64_t seed, const double* rates, double* out, int64_t count) {
  Xoshiro256pp rng(seed);
  constexpr size_t kCache = 512;
  std::vector<PoissonSetup> cache(kCache);
  for (int64_t i = 0; i < count; ++i) {
    const double rate = rates[i];
    uint64_t bits;
    std::memcpy(&bits, &rate, sizeof bits);
    PoissonSetup& setup = cache[((bits * 0x9e3779b97f4a7c15ULL) >> 40) & (kCache - 1)];
    if (setup.rate != rate) setup = poisson_setup(rate);
    out[i] = poisson(rng, setup);
  }
}

torch::Tensor per_image_streams(const std::vector<uint64_t>& rng_seeds, at::IntArrayRef shape,
                                const std::function<void(DrawStream& stream, double* out)>& fill, torch::Device device) {
  std::vector<int64_t> sizes = {static_cast<int64_t>(rng_seeds.size())};
  sizes.insert(sizes.end(), shape.begin(), shape.end());
  auto out = torch::empty(sizes, torch::TensorOptions().dtype(torch::kDouble));
  const int64_t per_image = c10::multiply_integers(shape);
  double* data = out.data_ptr<double>();
  parallel_images(static_cast<int64_t>(rng_seeds.size()), [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      DrawStream stream(rng_seeds[static_cast<size_t>(i)]);
      fill(stream, data + i * per_image);
    }
  });
  return out.to(device);
}

torch::Tensor per_image_draws(const std::vector<uint64_t>& rng_seeds, at::IntArrayRef shape, Draw draw, double scale,
                              torch::Device device) {
  const int64_t per_image = c10::multiply_integers(shape);
  return per_image_streams(rng_seeds, shape, [&](DrawStream& stream, double* out) { stream.fill(draw, scale, out, per_image); }, device);
}

}  // namespace questbench::corruption
