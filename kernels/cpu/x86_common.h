// Helpers shared by the AVX2 and AVX-512 tiers. static inline: each tier's translation unit compiles its own copy
// with its own ISA flags (no ODR clash between copies built for different instruction sets).
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "fp16.h"
#include "kernels.h"

// A block's fp16 scale (its first two bytes) as a float: one 32-bit load and one conversion. The load also reads
// two quant bytes of the same block, so it never leaves the block.
static inline float hearth_half_scale(const void *blk) {
  int32_t v;
  std::memcpy(&v, blk, 4);
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(v)));
}

// 16 bytes of nibbles as 32 bytes 0..15 in the 32-value block order: the low nibbles, then the high nibbles.
// One broadcast load, then the upper copy shifted by 4 (a per-lane shift): a load and two ALU operations, where
// a load, a shift, an insert and a mask took four.
static inline __m256i hearth_nibbles(const uint8_t *qs) {
  const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
  return _mm256_and_si256(_mm256_srlv_epi64(t, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
}

// Four hadd'ed pairs of blocks' int32 products (t[k] = hadd(block 2k, block 2k + 1)) as one vector of the eight
// blocks' sums, in block order: the quantized dot kernels' one reduction per eight blocks.
static inline __m256i hearth_block_sums8(const __m256i *t) {
  const __m256i u0 = _mm256_hadd_epi32(t[0], t[1]), u1 = _mm256_hadd_epi32(t[2], t[3]);
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

// Transposes an 8 x 8 float block in place: r[i] lane j becomes r[j] lane i.
static inline void hearth_transpose8(__m256 *r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44), u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44), u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Eight consecutive elements of a float-type row (F32, F16, BF16) from element k, as floats; one element.
template <hearth::dtype T>
static inline __m256 hearth_load8_float(const void *row, int64_t k) {
  if constexpr (T == hearth::dtype::f32) return _mm256_loadu_ps((const float *)row + k);
  const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k));
  if constexpr (T == hearth::dtype::f16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
template <hearth::dtype T>
static inline float hearth_load1_float(const void *row, int64_t k) {
  if constexpr (T == hearth::dtype::f32) return ((const float *)row)[k];
  const uint16_t h = ((const uint16_t *)row)[k];
  if constexpr (T == hearth::dtype::f16) return hearth_fp16_to_f32(h);
  return hearth_bf16_to_f32(h);
}

// Eight consecutive decoded elements of a row of any type with a column packer, from element c (a multiple of 8,
// with c + 8 within the row for the block types).
template <hearth::dtype T>
static inline __m256 hearth_load8_any(const void *row, int64_t c) {
  if constexpr (T == hearth::dtype::q8_0 || T == hearth::dtype::q4_0) {
    constexpr int64_t bsize = T == hearth::dtype::q8_0 ? 34 : 18;
    const uint8_t *blk = (const uint8_t *)row + (c / 32) * bsize;
    const int off = (int)(c % 32);
    const __m256 d = _mm256_set1_ps(hearth_half_scale(blk));
    __m256i q;
    if constexpr (T == hearth::dtype::q8_0) {
      q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 2 + off)));
    } else {  // values j < 16 are the low nibbles of qs[j], values j >= 16 the high nibbles of qs[j - 16]
      q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 2 + off % 16)));
      if (off >= 16) q = _mm256_srli_epi32(q, 4);
      q = _mm256_sub_epi32(_mm256_and_si256(q, _mm256_set1_epi32(15)), _mm256_set1_epi32(8));
    }
    return _mm256_mul_ps(_mm256_cvtepi32_ps(q), d);
  } else {
    return hearth_load8_float<T>(row, c);
  }
}

// gemm/type_kernels::pack_columns for a tier whose F32 panels are R rows high: eight columns at a time; a float
// row's last columns one by one.
template <int R, hearth::dtype T>
static inline void hearth_pack_columns(int64_t K, const void *const *rows, int64_t c0, int ncols, void *out) {
  float *panel = (float *)out;
  for (int64_t k = 0; k < K; ++k) {
    float *pk = panel + k * R;
    int r = 0;
    for (; r + 8 <= ncols; r += 8) _mm256_storeu_ps(pk + r, hearth_load8_any<T>(rows[k], c0 + r));
    if constexpr (T == hearth::dtype::f32 || T == hearth::dtype::f16 || T == hearth::dtype::bf16)
      for (; r < ncols; ++r) pk[r] = hearth_load1_float<T>(rows[k], c0 + r);
    for (; r < R; ++r) pk[r] = 0.0f;
  }
}

// Float panels of the GEMM kernels (gemm_kernels::pack for F32, F16, BF16 rows): rows[0..nrows) of n elements
// (R rows at most, R a multiple of 8) into panel, element k of row r at float k * R + r, zero past nrows. Eight
// rows by eight elements go through registers and one transpose.
template <int R, hearth::dtype T>
static inline void hearth_pack_float_panel(int64_t n, const void *const *rows, int nrows, void *out) {
  float *panel = (float *)out;
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int r0 = 0; r0 < R; r0 += 8) {
      __m256 v[8];
      for (int i = 0; i < 8; ++i) v[i] = r0 + i < nrows ? hearth_load8_float<T>(rows[r0 + i], k) : _mm256_setzero_ps();
      hearth_transpose8(v);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(panel + (k + i) * R + r0, v[i]);
    }
  for (; k < n; ++k)
    for (int r = 0; r < R; ++r) panel[k * R + r] = r < nrows ? hearth_load1_float<T>(rows[r], k) : 0.0f;
}

// Sum of the 8 lanes of a 256-bit float vector.
static inline float hearth_hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The activation quantizers' shared steps (Q8_0 and Q8_K encode alike): non-finite lanes as 0 (|v| < inf is false
// for NaN and infinity, as in the reference tier), the largest lane, and four vectors of int32 levels as 32 bytes
// in element order (the packs interleave 128-bit lanes; the permute restores the order).
static inline __m256 hearth_finite256(__m256 v) {
  return _mm256_and_ps(v, _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), _mm256_set1_ps(INFINITY), _CMP_LT_OQ));
}
static inline float hearth_hmax256(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
static inline __m256i hearth_pack_levels32(const __m256i q[4]) {
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// exp(x) lane by lane (Cephes' expf: 2^n times a degree-6 polynomial on [-ln2/2, ln2/2]; about 2 ulp). Inputs
// below -88.38 give 0 (so exp(-inf) = 0, as a softmax's first rescale needs), those above 88.38 infinity.
static inline __m256 hearth_exp256(__m256 x) {
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
  x = _mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}
