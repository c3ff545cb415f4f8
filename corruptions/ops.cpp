// Shared helpers of the corruption files; see ops.h.
#include "corruptions/ops.h"

#include "common/error.h"
#include "common/random.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

namespace questbench::corruption {

int64_t table_side(CorruptionTable table) {
  switch (table) {
    case CorruptionTable::Cifar32: return 32;
    case CorruptionTable::Tiny64: return 64;
    default: return 224;
  }
}

torch::TensorOptions f64() { return torch::TensorOptions().dtype(torch::kDouble); }

bool cpu_kernels(const torch::Tensor& x, const Call& call) { return x.is_cpu() && call.options.cpu_kernels; }

torch::Tensor div_exact(const torch::Tensor& t, double d) {
  if (t.is_cpu()) return t / d;
  return t / torch::scalar_tensor(d, t.options());
}

void parallel_images(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 1) {
    if (n == 1) fn(0, 1);
    return;
  }
  const bool inference = c10::InferenceMode::is_enabled();
  at::parallel_for(0, n, 1, [&](int64_t first, int64_t last) {
    c10::InferenceMode guard(inference);
    fn(first, last);
  });
}

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

}  // namespace

namespace {

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

}  // namespace

namespace {

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

torch::Tensor levels_round_trip_cpu(const torch::Tensor& x, const std::function<void(uint8_t* levels)>& fn) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), per_image = in[0].numel();
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  const double* values = level_table<double>();
  parallel_images(n, [&](int64_t first, int64_t last) {
    std::vector<uint8_t> levels(static_cast<size_t>(per_image));
    for (int64_t i = first; i < last; ++i) {
      const double* s = src + i * per_image;
      for (int64_t k = 0; k < per_image; ++k) levels[static_cast<size_t>(k)] = static_cast<uint8_t>(rint_nonneg((s[k] < 0.0 ? 0.0 : (s[k] > 1.0 ? 1.0 : s[k])) * 255.0));
      fn(levels.data());
      double* d = dst + i * per_image;
      for (int64_t k = 0; k < per_image; ++k) d[k] = values[levels[static_cast<size_t>(k)]];
    }
  });
  return out;
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

template <typename T>
const T* level_table() {
  static const auto table = [] {
    std::array<T, 256> t{};
    for (int k = 0; k < 256; ++k) t[static_cast<size_t>(k)] = static_cast<T>(k / 255.0);
    return t;
  }();
  return table.data();
}
template const float* level_table<float>();
template const double* level_table<double>();

torch::Tensor border_index(int64_t n, int64_t before, int64_t after, Border border, torch::Device device) {
  std::vector<int64_t> idx;
  idx.reserve(static_cast<size_t>(n + before + after));
  for (int64_t p = -before; p < n + after; ++p) {
    int64_t q = p;
    if (border == Border::Replicate || n == 1) {
      q = std::min(std::max(p, int64_t{0}), n - 1);
    } else if (border == Border::Reflect101) {
      const int64_t period = 2 * n - 2;
      q = ((p % period) + period) % period;
      if (q >= n) q = period - q;
    } else {
      const int64_t period = 2 * n;
      q = ((p % period) + period) % period;
      if (q >= n) q = period - 1 - q;
    }
    idx.push_back(q);
  }
  return torch::tensor(idx, torch::kLong).to(device);
}

torch::Tensor pad2d(const torch::Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right, Border border) {
  auto y = x;
  if (top || bottom) y = y.index_select(2, border_index(x.size(2), top, bottom, border, x.device()));
  if (left || right) y = y.index_select(3, border_index(x.size(3), left, right, border, x.device()));
  return y;
}

torch::Tensor filter1d(const torch::Tensor& x, const torch::Tensor& weights, int64_t dim, Border border) {
  const int64_t taps = weights.size(0), r = taps / 2, n = x.size(dim);
  auto w = weights.to(torch::kCPU).to(torch::kDouble).contiguous();
  const double* wp = w.data_ptr<double>();
  if (taps == 1) return x * wp[0];
  if (taps > 31 || taps > n) {
    // Wide kernels (e.g. elastic's sigma 170 at 224): fold the bordered kernel into a dense n x n matrix.
    auto src = border_index(n, r, r, border, torch::kCPU);
    auto m = torch::zeros({n, n}, f64());
    auto ma = m.accessor<double, 2>();
    auto sa = src.accessor<int64_t, 1>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < taps; ++k) ma[i][sa[i + k]] += wp[k];
    m = m.to(x.device()).to(x.scalar_type());
    return dim == 3 ? torch::matmul(x, m.t()) : torch::matmul(m, x);
  }
  auto padded = dim == 2 ? pad2d(x, r, r, 0, 0, border) : pad2d(x, 0, 0, r, r, border);
  auto out = padded.narrow(dim, 0, n) * wp[0];
  for (int64_t k = 1; k < taps; ++k) out.add_(padded.narrow(dim, k, n), wp[k]);
  return out;
}

torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel, Border border) {
  const int64_t kh = kernel.size(0), kw = kernel.size(1), h = x.size(2), w = x.size(3);
  auto k = kernel.to(torch::kCPU).to(torch::kDouble).contiguous();
  auto ka = k.accessor<double, 2>();
  auto padded = pad2d(x, kh / 2, kh / 2, kw / 2, kw / 2, border);
  torch::Tensor out;
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j) {
      if (ka[i][j] == 0) continue;
      auto term = padded.narrow(2, i, h).narrow(3, j, w);
      if (!out.defined())
        out = term * ka[i][j];
      else
        out.add_(term, ka[i][j]);
    }
  return out.defined() ? out : torch::zeros_like(x);
}

QB_WITH_AVX2_CLONE void unit_to_levels(const float* in, uint8_t* out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<uint8_t>(static_cast<int32_t>(rint_nonneg(static_cast<double>(in[k]) * 255.0)));
}

QB_WITH_AVX2_CLONE void levels_to_unit(const uint8_t* in, float* out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<float>(in[k]) / 255.0f;
}

QB_WITH_AVX2_CLONE void interleave_rgb(const uint8_t* __restrict planar, uint8_t* __restrict interleaved, int64_t plane) {
  for (int64_t p = 0; p < plane; ++p)
    interleaved[3 * p] = planar[p], interleaved[3 * p + 1] = planar[plane + p], interleaved[3 * p + 2] = planar[2 * plane + p];
}

QB_WITH_AVX2_CLONE void planar_rgb(const uint8_t* __restrict interleaved, uint8_t* __restrict planar, int64_t plane) {
  for (int64_t p = 0; p < plane; ++p)
    planar[p] = interleaved[3 * p], planar[plane + p] = interleaved[3 * p + 1], planar[2 * plane + p] = interleaved[3 * p + 2];
}

QB_WITH_AVX2_CLONE void finish_levels(const double* values, float* out, int64_t n, bool quantize) {
  const Vec4 zero = {0, 0, 0, 0}, one = {1, 1, 1, 1};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    Vec4 v = QB_LOAD4(values + i);
    v = v < zero ? zero : v;  // a NaN lane fails both tests and stays NaN
    v = v > one ? one : v;
    Vec4f r = __builtin_convertvector(v, Vec4f);
    if (quantize) {
      const Vec4f level = __builtin_convertvector(__builtin_convertvector(v * 255.0, Vec4i), Vec4f) / 255.0f;
      const Vec4i is_nan = __builtin_convertvector(static_cast<Vec4l>(v != v), Vec4i);
      r = is_nan ? r : level;
    }
    std::memcpy(out + i, &r, sizeof r);
  }
  const float* levels = level_table<float>();
  for (; i < n; ++i) out[i] = finish_level(values[i], quantize, levels);
}

QB_WITH_AVX2_CLONE void weighted_taps(const double* s, const int64_t* offsets, const double* weights, int64_t taps, double* out,
                                      int64_t n) {
  int64_t c = 0;
  for (; c + 32 <= n; c += 32) {  // eight accumulators: the add latency is hidden, loads bound the loop
    const double* p = s + offsets[0] + c;
    const double w0 = weights[0];
    Vec4 a[8];
    for (int j = 0; j < 8; ++j) a[j] = QB_LOAD4(p + 4 * j) * w0;
    for (int64_t t = 1; t < taps; ++t) {
      const double* q = s + offsets[t] + c;
      const double wt = weights[t];
      for (int j = 0; j < 8; ++j) a[j] = a[j] + QB_LOAD4(q + 4 * j) * wt;
    }
    for (int j = 0; j < 8; ++j) QB_STORE4(out + c + 4 * j, a[j]);
  }
  for (; c + 16 <= n; c += 16) {
    const double* p = s + offsets[0] + c;
    const double w0 = weights[0];
    Vec4 a0 = QB_LOAD4(p) * w0, a1 = QB_LOAD4(p + 4) * w0, a2 = QB_LOAD4(p + 8) * w0, a3 = QB_LOAD4(p + 12) * w0;
    for (int64_t t = 1; t < taps; ++t) {
      const double* q = s + offsets[t] + c;
      const double wt = weights[t];
      a0 = a0 + QB_LOAD4(q) * wt;
      a1 = a1 + QB_LOAD4(q + 4) * wt;
      a2 = a2 + QB_LOAD4(q + 8) * wt;
      a3 = a3 + QB_LOAD4(q + 12) * wt;
    }
    QB_STORE4(out + c, a0);
    QB_STORE4(out + c + 4, a1);
    QB_STORE4(out + c + 8, a2);
    QB_STORE4(out + c + 12, a3);
  }
  for (; c + 4 <= n; c += 4) {
    Vec4 a = QB_LOAD4(s + offsets[0] + c) * weights[0];
    for (int64_t t = 1; t < taps; ++t) a = a + QB_LOAD4(s + offsets[t] + c) * weights[t];
    QB_STORE4(out + c, a);
  }
  for (; c < n; ++c) {
    double a = s[offsets[0] + c] * weights[0];
    for (int64_t t = 1; t < taps; ++t) a = a + s[offsets[t] + c] * weights[t];
    out[c] = a;
  }
}

std::vector<int64_t> border_vector(int64_t n, int64_t before, int64_t after, Border border) {
  auto t = border_index(n, before, after, border, torch::kCPU);
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

namespace {

// Kernels wider than this (elastic_transform's sigma 20-170 fields) or than the axis fold into a dense
// matrix product; narrower ones sum taps (gaussian_blur's widest, sigma 6, has 49).
bool wide_pass(int64_t taps, int64_t n) { return taps > 63 || taps > n; }

// filter1d's shifted-add path on every [h, w] plane of a contiguous CPU tensor.
torch::Tensor filter1d_cpu(const torch::Tensor& x, const double* wp, int64_t taps, int64_t dim, Border border) {
  auto in = x.contiguous();
  const int64_t h = in.size(2), w = in.size(3), planes = in.numel() / (h * w), r = taps / 2;
  const auto idx = border_vector(dim == 2 ? h : w, r, r, border);
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  parallel_images(planes, [&](int64_t first, int64_t last) {
    std::vector<double> pad(static_cast<size_t>(w + 2 * r));
    std::vector<int64_t> offsets(static_cast<size_t>(taps));
    if (dim == 3)
      for (int64_t k = 0; k < taps; ++k) offsets[static_cast<size_t>(k)] = k;
    for (int64_t pl = first; pl < last; ++pl) {
      const double* s = src + pl * h * w;
      double* d = dst + pl * h * w;
      for (int64_t y = 0; y < h; ++y) {
        if (dim == 3) {
          const double* row = s + y * w;
          for (int64_t j = 0; j < w + 2 * r; ++j) pad[static_cast<size_t>(j)] = row[idx[static_cast<size_t>(j)]];
          weighted_taps(pad.data(), offsets.data(), wp, taps, d + y * w, w);
        } else {
          for (int64_t k = 0; k < taps; ++k) offsets[static_cast<size_t>(k)] = idx[static_cast<size_t>(y + k)] * w;
          weighted_taps(s, offsets.data(), wp, taps, d + y * w, w);
        }
      }
    }
  });
  return out;
}

}  // namespace

torch::Tensor filter1d(const torch::Tensor& x, const torch::Tensor& weights, int64_t dim, Border border, bool cpu) {
  const int64_t taps = weights.size(0), r = taps / 2, n = x.size(dim);
  auto w = weights.to(torch::kCPU).to(torch::kDouble).contiguous();
  const double* wp = w.data_ptr<double>();
  if (taps == 1 || wide_pass(taps, n)) return filter1d(x, weights, dim, border);  // x·w0 or the dense matrix: no tap sums
  if (cpu && x.is_cpu() && x.scalar_type() == torch::kDouble) return filter1d_cpu(x, wp, taps, dim, border);
  auto padded = dim == 2 ? pad2d(x, r, r, 0, 0, border) : pad2d(x, 0, 0, r, r, border);
  auto out = padded.narrow(dim, 0, n) * wp[0];
  for (int64_t k = 1; k < taps; ++k) out.add_(padded.narrow(dim, k, n) * wp[k]);
  return out;
}

namespace {

struct Tap {  // kernel row i, column j, weight k
  int64_t i, j;
  double k;
};

}  // namespace

torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel, Border border, bool cpu) {
  const int64_t kh = kernel.size(0), kw = kernel.size(1), h = x.size(2), w = x.size(3);
  auto k = kernel.to(torch::kCPU).to(torch::kDouble).contiguous();
  auto ka = k.accessor<double, 2>();
  std::vector<Tap> taps;
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j)
      if (ka[i][j] != 0) taps.push_back({i, j, ka[i][j]});
  if (taps.empty()) return torch::zeros_like(x);
  if (cpu && x.is_cpu() && x.scalar_type() == torch::kDouble) {
    auto in = x.contiguous();
    const int64_t planes = in.numel() / (h * w), ph = h + kh - 1, pw = w + kw - 1;
    const auto rows = border_vector(h, kh / 2, kh / 2, border), cols = border_vector(w, kw / 2, kw / 2, border);
    auto out = torch::empty_like(in);
    const double* src = in.data_ptr<double>();
    double* dst = out.data_ptr<double>();
    const int64_t count = static_cast<int64_t>(taps.size());
    std::vector<int64_t> offsets;
    std::vector<double> weights;
    for (const auto& t : taps) offsets.push_back(t.i * pw + t.j), weights.push_back(t.k);
    parallel_images(planes, [&](int64_t first, int64_t last) {
      std::vector<double> pad(static_cast<size_t>(ph * pw));
      for (int64_t pl = first; pl < last; ++pl) {
        const double* s = src + pl * h * w;
        for (int64_t y = 0; y < ph; ++y)
          for (int64_t c = 0; c < pw; ++c) pad[static_cast<size_t>(y * pw + c)] = s[rows[static_cast<size_t>(y)] * w + cols[static_cast<size_t>(c)]];
        double* d = dst + pl * h * w;
        for (int64_t y = 0; y < h; ++y) weighted_taps(pad.data() + y * pw, offsets.data(), weights.data(), count, d + y * w, w);
      }
    });
    return out;
  }
  auto padded = pad2d(x, kh / 2, kh / 2, kw / 2, kw / 2, border);
  torch::Tensor out;
  for (const auto& t : taps) {
    auto term = padded.narrow(2, t.i, h).narrow(3, t.j, w);
    if (!out.defined())
      out = term * t.k;
    else
      out.add_(term * t.k);
  }
  return out;
}

torch::Tensor gaussian_weights(double sigma, double truncate) {
  if (sigma <= 0) return torch::ones({1}, f64());
  const int64_t radius = static_cast<int64_t>(truncate * sigma + 0.5);
  auto t = torch::arange(-radius, radius + 1, f64());
  auto w = torch::exp(-0.5 / (sigma * sigma) * t * t);
  return w / w.sum();
}

torch::Tensor gaussian_filter(const torch::Tensor& x, double sigma, Border border, double truncate) {
  auto w = gaussian_weights(sigma, truncate);
  return filter1d(filter1d(x, w, 2, border), w, 3, border);
}

torch::Tensor gaussian_filter(const torch::Tensor& x, double sigma, Border border, double truncate, bool cpu) {
  auto w = gaussian_weights(sigma, truncate);
  return filter1d(filter1d(x, w, 2, border, cpu), w, 3, border, cpu);
}

ZoomAxis zoom_axis(int64_t side, double z) {
  const int64_t span = static_cast<int64_t>(std::ceil(side / z));
  const int64_t top = (side - span) / 2;
  const int64_t out = static_cast<int64_t>(std::llround(span * z));
  const int64_t trim = (out - side) / 2;
  ZoomAxis a;
  a.lo.resize(static_cast<size_t>(side));
  a.hi.resize(static_cast<size_t>(side));
  a.t.resize(static_cast<size_t>(side));
  const double step = out > 1 ? static_cast<double>(span - 1) / static_cast<double>(out - 1) : 0.0;
  for (int64_t o = 0; o < side; ++o) {
    const double coord = static_cast<double>(o + trim) * step;
    int64_t l = static_cast<int64_t>(std::floor(coord));
    l = std::min(std::max(l, int64_t{0}), span - 1);
    a.lo[static_cast<size_t>(o)] = l + top;
    a.hi[static_cast<size_t>(o)] = std::min(l + 1, span - 1) + top;
    a.t[static_cast<size_t>(o)] = coord - static_cast<double>(l);
  }
  return a;
}

torch::Tensor clipped_zoom(const torch::Tensor& x, double z) {
  const int64_t h = x.size(2), w = x.size(3);
  const auto r = zoom_axis(h, z), c = zoom_axis(w, z);
  const auto dev = x.device();
  auto index = [&](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong).to(dev); };
  auto ty = torch::tensor(r.t, f64()).to(dev).view({1, 1, h, 1}).to(x.scalar_type());
  auto tx = torch::tensor(c.t, f64()).to(dev).view({1, 1, 1, w}).to(x.scalar_type());
  // lo + t·(hi - lo) as three rounded steps (the CPU loops do the same; torch::lerp may fuse them).
  auto lo = x.index_select(2, index(r.lo));
  auto rows = lo + ty * (x.index_select(2, index(r.hi)) - lo);
  auto left = rows.index_select(3, index(c.lo));
  return left + tx * (rows.index_select(3, index(c.hi)) - left);
}

namespace {

struct MotionTaps {
  std::vector<double> kernel;
  std::vector<int64_t> ox, oy;  // per image: width offsets each
};

MotionTaps motion_taps(double radius, double sigma, const std::vector<double>& angles_deg) {
  const int64_t width = 2 * static_cast<int64_t>(std::ceil(radius)) + 1;
  MotionTaps t;
  t.kernel.resize(static_cast<size_t>(width));
  double total = 0;
  for (int64_t i = 0; i < width; ++i) total += t.kernel[static_cast<size_t>(i)] = std::exp(-static_cast<double>(i * i) / (2 * sigma * sigma));
  for (auto& k : t.kernel) k /= total;
  for (double angle : angles_deg) {
    const double a = angle * M_PI / 180.0;
    for (int64_t i = 0; i < width; ++i) {
      t.ox.push_back(static_cast<int64_t>(std::ceil(static_cast<double>(i) * std::cos(a) - 0.5)));
      t.oy.push_back(static_cast<int64_t>(std::ceil(static_cast<double>(i) * std::sin(a) - 0.5)));
    }
  }
  return t;
}

// Per plane: the image padded with its edge pixels as far as this image's taps reach, then every output
// row accumulates the taps in order through weighted_taps (tap 0 = k0·x, then += k_i·x_i, rounded twice per
// tap like the tensor path), then floor(acc + 1e-6) clipped to 0..255.
torch::Tensor motion_blur_levels_cpu(const torch::Tensor& x, const MotionTaps& t) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), ch = in.size(1), h = in.size(2), w = in.size(3);
  const int64_t width = static_cast<int64_t>(t.kernel.size());
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  parallel_images(n * ch, [&](int64_t first, int64_t last) {
    std::vector<double> padded, acc(static_cast<size_t>(w));
    std::vector<int64_t> offsets(static_cast<size_t>(width));
    for (int64_t pl = first; pl < last; ++pl) {
      const int64_t img = pl / ch;
      const int64_t* ox = &t.ox[static_cast<size_t>(img * width)];
      const int64_t* oy = &t.oy[static_cast<size_t>(img * width)];
      int64_t top = 0, bottom = 0, left = 0, right = 0;
      for (int64_t i = 0; i < width; ++i)
        top = std::max(top, -oy[i]), bottom = std::max(bottom, oy[i]), left = std::max(left, -ox[i]), right = std::max(right, ox[i]);
      const int64_t ph = h + top + bottom, pw = w + left + right;
      padded.resize(static_cast<size_t>(ph * pw));
      const double* plane = src + pl * h * w;
      for (int64_t y = 0; y < ph; ++y) {
        const double* row = plane + std::min(std::max(y - top, int64_t{0}), h - 1) * w;
        double* p = padded.data() + y * pw;
        for (int64_t c = 0; c < left; ++c) p[c] = row[0];
        std::copy(row, row + w, p + left);
        for (int64_t c = left + w; c < pw; ++c) p[c] = row[w - 1];
      }
      for (int64_t i = 0; i < width; ++i) offsets[static_cast<size_t>(i)] = (top + oy[i]) * pw + left + ox[i];
      double* out_plane = dst + pl * h * w;
      for (int64_t y = 0; y < h; ++y) {
        weighted_taps(padded.data() + y * pw, offsets.data(), t.kernel.data(), width, acc.data(), w);
        double* o = out_plane + y * w;
        for (int64_t c = 0; c < w; ++c) {
          const double v = floor_exact(acc[static_cast<size_t>(c)] + 1e-6);
          o[c] = v < 0.0 ? 0.0 : (v > 255.0 ? 255.0 : v);
        }
      }
    }
  });
  return out;
}

}  // namespace

torch::Tensor motion_blur_levels(const torch::Tensor& x, double radius, double sigma, const std::vector<double>& angles_deg,
                                 bool cpu) {
  const auto taps = motion_taps(radius, sigma, angles_deg);
  if (cpu && x.is_cpu()) return motion_blur_levels_cpu(x, taps);
  const int64_t width = static_cast<int64_t>(taps.kernel.size());
  const int64_t h = x.size(2), w = x.size(3), p = width - 1;
  auto padded = pad2d(x, p, p, p, p, Border::Replicate);
  auto out = torch::empty_like(x);
  for (int64_t n = 0; n < x.size(0); ++n) {
    auto src = padded[n];
    auto acc = out[n];
    for (int64_t i = 0; i < width; ++i) {
      const int64_t ox = taps.ox[static_cast<size_t>(n * width + i)], oy = taps.oy[static_cast<size_t>(n * width + i)];
      auto term = src.narrow(1, p + oy, h).narrow(2, p + ox, w);
      // mul, then add: two roundings per tap, like the CPU loop (add_ with alpha may fuse them).
      if (i == 0)
        acc.copy_(term * taps.kernel[0]);
      else
        acc.add_(term * taps.kernel[static_cast<size_t>(i)]);
    }
  }
  // ImageMagick's result floors (checked against Wand: exact but for ~0.2 % of pixels off by one); the
  // small epsilon keeps flat regions, whose weighted sum is the level itself up to rounding, on that level.
  return torch::floor(out + 1e-6).clamp(0, 255);
}

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

PilTaps pil_box_taps(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);
  const double support = 0.5 * filterscale;
  PilTaps t;
  t.stride = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.assign(static_cast<size_t>(out), 0);
  t.count.assign(static_cast<size_t>(out), 0);
  t.coeff.assign(static_cast<size_t>(out * t.stride), 0);
  for (int64_t xx = 0; xx < out; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const int64_t xmin = std::max<int64_t>(0, static_cast<int64_t>(center - support + 0.5));
    const int64_t xmax = std::min<int64_t>(in, static_cast<int64_t>(center + support + 0.5));
    std::vector<double> w;
    double total = 0;
    for (int64_t x = xmin; x < xmax; ++x) {
      const double arg = (static_cast<double>(x) - center + 0.5) / filterscale;
      const double v = arg > -0.5 && arg <= 0.5 ? 1.0 : 0.0;
      w.push_back(v);
      total += v;
    }
    QB_CHECK(xmax - xmin <= t.stride, "pixelate: BOX support " << xmax - xmin << " exceeds " << t.stride);
    t.first[xx] = xmin;
    t.count[xx] = xmax - xmin;
    for (int64_t x = xmin; x < xmax; ++x) {
      const double normalized = total != 0 ? w[x - xmin] / total : 0.0;
      t.coeff[xx * t.stride + (x - xmin)] = static_cast<int64_t>(0.5 + normalized * (1 << kPilPrecisionBits));
    }
  }
  return t;
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

namespace {

constexpr int kPrecisionBits = kPilPrecisionBits;

// Pillow's BOX coefficients for `in` -> `out` samples as fixed-point integers in a dense [out, in] matrix.
torch::Tensor box_coefficients(int64_t in, int64_t out) {
  const auto taps = pil_box_taps(in, out);
  auto k = torch::zeros({out, in}, f64());
  auto acc = k.accessor<double, 2>();
  for (int64_t xx = 0; xx < out; ++xx)
    for (int64_t j = 0; j < taps.count[xx]; ++j) acc[xx][taps.first[xx] + j] = static_cast<double>(taps.coeff[xx * taps.stride + j]);
  return k;
}

torch::Tensor resample_last(const torch::Tensor& x, int64_t out) {
  auto k = box_coefficients(x.size(-1), out).to(x.device());
  auto acc = torch::matmul(x, k.t()) + static_cast<double>(1 << (kPrecisionBits - 1));
  return torch::clamp(torch::floor(acc / static_cast<double>(1 << kPrecisionBits)), 0, 255);
}

}  // namespace

torch::Tensor pil_box_resize(const torch::Tensor& levels, int64_t out_h, int64_t out_w) {
  auto y = levels;
  if (out_w != y.size(3)) y = resample_last(y, out_w);
  if (out_h != y.size(2)) y = resample_last(y.transpose(2, 3), out_h).transpose(2, 3);
  return y;
}

}  // namespace questbench::corruption
