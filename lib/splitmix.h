// SplitMix64's mixing step: a fast, well-spread 64-bit hash of a counter. Seeded streams (x, x + 1, ...) and
// hashes of (seed, position) from it are reproducible on every machine and thread count.
#pragma once
#include <cstdint>

namespace hearth {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace hearth
