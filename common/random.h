// The two small generators the project's seeded streams are built from (header-only, no state of their own):
// splitmix64 (Steele, Lea & Flood 2014), which also seeds, and the xoshiro256 state transition (Blackman &
// Vigna 2018) with its ++ and ** outputs. reports/stats.h's StatsRng uses xoshiro256**, the corruptions'
// DrawStream xoshiro256++; common/seed.h derives every seed (sample seeds through splitmix64).
#pragma once

#include <cstdint>

namespace questbench {

// One splitmix64 step: advances `state` by the golden-ratio increment and returns the mix of the new state.
inline uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// splitmix64 as a hash of one value (the step from state z).
inline uint64_t splitmix64(uint64_t z) { return splitmix64_next(z); }

// The xoshiro256 state transition and its ++ output on words W: uint64_t, or a GCC vector of uint64_t that steps
// several independent generators at once (the corruptions' four-lane streams).
template <typename W>
__attribute__((always_inline)) inline void xoshiro256_advance(W& s0, W& s1, W& s2, W& s3) {
  const W t = s1 << 17;
  s2 ^= s0;
  s3 ^= s1;
  s1 ^= s2;
  s0 ^= s3;
  s2 ^= t;
  s3 = (s3 << 45) | (s3 >> 19);
}
template <typename W>
__attribute__((always_inline)) inline void xoshiro256_plus_plus(W& s0, W& s1, W& s2, W& s3, W& out) {
  const W sum = s0 + s3;
  out = ((sum << 23) | (sum >> 41)) + s0;
  xoshiro256_advance(s0, s1, s2, s3);
}

// xoshiro256 state, seeded with four splitmix64 steps from the seed.
struct Xoshiro256 {
  uint64_t s[4];

  explicit Xoshiro256(uint64_t seed) {
    for (auto& word : s) word = splitmix64_next(seed);
  }
  uint64_t next_plus_plus() {
    uint64_t result;
    xoshiro256_plus_plus(s[0], s[1], s[2], s[3], result);
    return result;
  }
  uint64_t next_star_star() {
    const uint64_t scaled = s[1] * 5;
    const uint64_t result = ((scaled << 7) | (scaled >> 57)) * 9;
    xoshiro256_advance(s[0], s[1], s[2], s[3]);
    return result;
  }
};

}  // namespace questbench
