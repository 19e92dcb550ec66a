// The walk of the float-row one-token product (kernels.h, gemv_rows_fn), the same in every tier
// (kernels/cpu/{avx2,avx512,neon}/dot.cpp). static inline: each tier's translation unit compiles its own copy with
// its own ISA flags.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

// The rows are cut into four quarters read side by side, each front to back: four long sequential weight streams
// per thread. On one thread of the Xeon VM this read F16 at 14.3 GB/s against 13.3 for four neighbouring rows at
// a time and 11.1-11.4 for one row at a time (docs/performance.md). rows(R, first, stride, out) is the tier's
// dot of R rows (first, first + stride, ...) against the activations, writing out[0..R).
template <class Rows>
static inline void hearth_walk_quarters(const void *w, size_t row_bytes, int64_t nrows, float *y, const Rows &rows) {
  const uint8_t *p = (const uint8_t *)w;
  const int64_t q = nrows / 4;
  for (int64_t j = 0; j < q; ++j) {
    float t[4];
    rows(std::integral_constant<int, 4>{}, p + j * row_bytes, q * row_bytes, t);
    for (int k = 0; k < 4; ++k) y[j + k * q] = t[k];
  }
  for (int64_t r = 4 * q; r < nrows; ++r) rows(std::integral_constant<int, 1>{}, p + r * row_bytes, row_bytes, y + r);
}
