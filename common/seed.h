// Every seeded stream in questbench gets its seed here, so that a result depends only on the run seed, the
// sample's index in the data set and what is being computed, never on batching, sharding or run order.
//
//   sample_seed(run_seed, i)                  the seed of sample i under a run seed
//   derive_seed(run_seed, i, "pgd", eps)      sample i's seed for one computation (keys hashed in order)
//   keyed_seed(seed, "fog", uint8_t{3})       a seed for a sub-stream of an existing seed
//
// Keys are hashed as raw bytes with 64-bit FNV-1a, starting from the offset basis xor the seed (strings by
// their characters, uint8_t as one byte, other integers and doubles as their 8 native bytes), then mixed by
// a shift-multiply-shift finalizer, since FNV's low bits depend weakly on the last bytes and the generators
// seeded from these values use every bit. A change here changes every stochastic result, so the values are
// pinned by a test.
#pragma once

#include "common/random.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace questbench {

constexpr uint64_t kFnvOffsetBasis = 1469598103934665603ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

// FNV-1a over bytes, continuing from `state`.
inline uint64_t fnv1a(const void* data, size_t size, uint64_t state = kFnvOffsetBasis) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) state = (state ^ bytes[i]) * kFnvPrime;
  return state;
}

namespace seed_detail {
inline uint64_t add(uint64_t h, const std::string& key) { return fnv1a(key.data(), key.size(), h); }
inline uint64_t add(uint64_t h, const char* key) { return fnv1a(key, std::strlen(key), h); }
inline uint64_t add(uint64_t h, uint8_t key) { return fnv1a(&key, 1, h); }
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T> && sizeof(T) == 8>>
inline uint64_t add(uint64_t h, T key) {
  return fnv1a(&key, sizeof key, h);
}
}  // namespace seed_detail

// A seed for the sub-stream named by `keys` of `seed`.
template <typename... Keys>
uint64_t keyed_seed(uint64_t seed, const Keys&... keys) {
  uint64_t h = kFnvOffsetBasis ^ seed;
  ((h = seed_detail::add(h, keys)), ...);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

// The seed of sample `sample` (its index in the data set) under `run_seed`.
inline uint64_t sample_seed(uint64_t run_seed, int64_t sample) {
  return splitmix64(splitmix64(run_seed) ^ static_cast<uint64_t>(sample));
}

// Sample `sample`'s seed for the computation named by `keys`.
template <typename... Keys>
uint64_t derive_seed(uint64_t run_seed, int64_t sample, const Keys&... keys) {
  return keyed_seed(sample_seed(run_seed, sample), keys...);
}

// The training loop's per-epoch shuffle seed. It stays the linear formula the shipped checkpoints were trained
// with, so that scripts/train-defaults keeps reproducing them.
inline uint64_t epoch_seed(uint64_t seed, int epoch) {
  return seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) * 7919ULL + 1;
}

}  // namespace questbench
