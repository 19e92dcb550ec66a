// Helpers shared by the AVX2 and AVX-512 tiers. static inline: each tier's translation unit compiles its own copy
// with its own ISA flags (no ODR clash between copies built for different instruction sets).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

// A block's fp16 scale (its first two bytes) as a float: one 32-bit load and one conversion. The load also reads
// two quant bytes of the same block, so it never leaves the block.
static inline float hearth_half_scale(const void *blk) {
  int32_t v;
  std::memcpy(&v, blk, 4);
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(v)));
}

// Sum of the 8 lanes of a 256-bit float vector.
static inline float hearth_hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
