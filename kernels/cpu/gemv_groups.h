// What the row-group kernels of every tier share (kernels/cpu/{avx2,avx512,neon}/gemv_groups.cpp): reading
// activation words and the walk over a matrix's groups, four at a time. static inline: each tier's translation
// unit compiles its own copy with its own ISA flags.
#pragma once
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels.h"
#include "widths.h"

// Four activation bytes as one 32-bit word (a Q8_0 block's quants start 2 bytes in: never 4-byte aligned).
static inline int32_t hearth_word(const int8_t *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
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
