// A small, portable pseudo-random generator for the sampler: xoshiro256** seeded through
// splitmix64 (both by Blackman and Vigna, public domain), written out here so that a seed
// gives the same stream with every compiler and standard library. <random>'s distributions
// are not specified bit-for-bit and differ between libstdc++ and libc++.
#pragma once

#include <cstdint>

namespace hobbit::runtime::internal {

// Owned by one Sampler; not thread-safe.
class RandomEngine {
 public:
  explicit RandomEngine(uint64_t seed) {
    // splitmix64 spreads any seed, 0 included, over the four words of state; its outputs
    // are never all zero, the one state xoshiro must avoid.
    uint64_t x = seed;
    for (uint64_t& word : state_) {
      x += 0x9E3779B97F4A7C15ull;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      word = z ^ (z >> 31);
    }
  }

  uint64_t Next() {
    const uint64_t result = RotateLeft(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = RotateLeft(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t state_[4];
};

}  // namespace hobbit::runtime::internal
