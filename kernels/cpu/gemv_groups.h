// What the AVX2 and AVX-512 row-group kernels share (kernels/cpu/*/gemv_groups.cpp): the per-block activation
// bias and the walk over a matrix's groups, four at a time. static inline: each tier's translation unit compiles
// its own copy with its own ISA flags.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels.h"
#include "widths.h"

// Four activation bytes as one 32-bit word (a Q8_0 block's quants start 2 bytes in: never 4-byte aligned).
static inline int32_t hearth_word(const int8_t *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Sum of each block's q8_aux bias lanes: -8 * the sum of its activation bytes, the correction of Q4_0's unsigned
// nibbles (Q8_0's +128 bytes take 16 times it). In the calling thread's buffer, valid until its next call.
static inline const int32_t *hearth_block_bias(const hearth::cpu::q8_aux *aux, int64_t nb) {
  static thread_local std::vector<int32_t> sums;
  if ((int64_t)sums.size() < nb) sums.resize((size_t)nb);
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(aux->bias + 8 * b));
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i t = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    sums[(size_t)b] = _mm_cvtsi128_si32(_mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1)));
  }
  return sums.data();
}

// Four groups (64 rows, four weight streams) per step: four streams per thread kept the memory system busier than
// one (docs/performance.md), and each activation word is broadcast once for 64 rows. run(G, w, y, nrows) is the
// tier's step over G (1..4) groups from w, writing the first min(nrows, 16 G) of y.
template <bool Q4, class Run>
static inline void hearth_walk_groups(int64_t n, const void *groups, int64_t nrows, float *y, const Run &run) {
  using group_block = std::conditional_t<Q4, hearth::cpu::block_q4_0x16, hearth::cpu::block_q8_0x16>;
  constexpr int64_t R = hearth::cpu::k_group_rows, streams = 4;
  const size_t group_bytes = (size_t)(n / 32) * sizeof(group_block);
  for (int64_t r0 = 0; r0 < nrows; r0 += streams * R) {
    const int g = (int)std::min<int64_t>(streams, (nrows - r0 + R - 1) / R);
    const uint8_t *w = (const uint8_t *)groups + (r0 / R) * group_bytes;
    hearth_with_width<1, 2, 3, 4>(g, [&](auto G) { run(G, w, group_bytes, y + r0, nrows - r0); });
  }
}
