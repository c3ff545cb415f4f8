// The two small generators the project's seeded streams are built from (header-only, no state of their own):
// splitmix64 (Steele, Lea & Flood 2014), which also seeds, and the xoshiro256 state transition (Blackman &
// Vigna 2018) with its ++ and ** outputs. reports/stats.h's StatsRng uses xoshiro256**, the corruptions'
// DrawStream xoshiro256++; corrupt()'s image seeds and stats' derive_seed hash with splitmix64.
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

// xoshiro256 state, seeded with four splitmix64 steps from the seed.
struct Xoshiro256 {
  uint64_t s[4];

  explicit Xoshiro256(uint64_t seed) {
    for (auto& word : s) word = splitmix64_next(seed);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next_plus_plus() {
    const uint64_t result = rotl(s[0] + s[3], 23) + s[0];
    advance();
    return result;
  }
  uint64_t next_star_star() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    advance();
    return result;
  }

 private:
  void advance() {
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
  }
};

}  // namespace questbench
