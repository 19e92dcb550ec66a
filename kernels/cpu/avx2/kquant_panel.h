// Prompt GEMM panels of the unsigned super-block types (Q2_K..Q6_K), shared by the x86 tiers (gemm_kernels in
// kernels.h; the AVX2 tier's panels hold 8 rows, the AVX-512 tier's 16). Through the chunk views of
// kquant_chunks.h a row's value is D * sc * q - M * mn, q an unsigned level, sc and mn integers per 16 values, so
// against Q8_K activations (x = dy * qx) a row's dot product over one super-block is
//   dy * (D * sum_h sc_h (q . qx)_h - M * sum_h mn_h bsum_h),
// both sums in integers. The panel lays that out per super-block, one row per 32-bit lane:
//   D[R], M[R]                         floats
//   sc[16][R]                          int32, or the pair (sc, sc) of int16 (ScPairs: what VPMADDWD multiplies)
//   mn[8][R]                           the pair (mn_2k, mn_2k+1) of int16, against the tokens' bsum pairs
//   q[64][R]                           group g: levels 4g..4g+3 of each row, four bytes
// Header-only (anonymous namespace), compiled into each tier with its own flags.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kquant_chunks.h"

namespace hearth::cpu {
namespace {

template <int R>
constexpr size_t kq_block_bytes = (size_t)(2 + 16 + 8 + 64) * 4 * R;

template <int R>
size_t kq_panel_bytes(int64_t n) { return (size_t)(n / qk_k) * kq_block_bytes<R>; }

// One super-block of a panel, and of a tile of W tokens (gemm_tokens.h's Q8_K layout), as the kernels read them.
template <int R>
struct kq_panel_block {
  const float *D, *M;
  const int32_t *sc, *mn;
  const uint8_t *q;
  explicit kq_panel_block(const uint8_t *p)
      : D((const float *)p), M(D + R), sc((const int32_t *)(M + R)), mn(sc + 16 * R), q((const uint8_t *)(mn + 8 * R)) {}
};
template <int W>
struct kq_tile_block {
  const float *dy;          // the W scales
  const int32_t *bs, *qx;   // bsum pair k of token j at bs[k W + j]; group g's four bytes at qx[g W + j]
  explicit kq_tile_block(const uint8_t *t) : dy((const float *)t), bs((const int32_t *)(t + 4 * W)), qx(bs + 8 * W) {}
};

template <class T, int R, bool ScPairs>
void pack_kq(int64_t n, const void *const *rows, int nrows, void *panel) {
  static_assert(!T::is_signed && R % 8 == 0, "unsigned levels, whole 8-row transposes");
  using block = typename T::block;
  const int64_t nsb = n / qk_k;
  uint8_t *p = (uint8_t *)panel;
  for (int64_t b = 0; b < nsb; ++b, p += kq_block_bytes<R>) {
    float *D = (float *)p, *M = D + R;
    int32_t *sc = (int32_t *)(M + R), *mn = sc + 16 * R;
    uint8_t *q = (uint8_t *)(mn + 8 * R);
    for (int r = 0; r < R; ++r) {
      if (r >= nrows) {
        D[r] = M[r] = 0.0f;
        for (int h = 0; h < 16; ++h) sc[h * R + r] = 0;
        for (int k = 0; k < 8; ++k) mn[k * R + r] = 0;
        continue;
      }
      const block &blk = ((const block *)rows[r])[b];
      D[r] = T::D(blk);
      M[r] = T::M(blk);
      __m256i vs, vm;
      T::scales(blk, &vs, &vm);
      int16_t s16[16], m16[16];
      _mm256_storeu_si256((__m256i *)s16, vs);
      _mm256_storeu_si256((__m256i *)m16, vm);
      for (int h = 0; h < 16; ++h) {
        if constexpr (ScPairs) {
          const int16_t pair[2] = {s16[h], s16[h]};
          std::memcpy(&sc[h * R + r], pair, 4);
        } else {
          sc[h * R + r] = s16[h];
        }
      }
      for (int k = 0; k < 8; ++k) std::memcpy(&mn[k * R + r], m16 + 2 * k, 4);
    }
    // each chunk of 32 levels is 8 groups: per 8 rows, an 8 x 8 transpose of 32-bit groups
    for (int j = 0; j < qk_k / 32; ++j)
      for (int h = 0; h < R / 8; ++h) {
        __m256 v[8];
        for (int i = 0; i < 8; ++i) {
          const int r = 8 * h + i;
          v[i] = r < nrows ? _mm256_castsi256_ps(T::q(((const block *)rows[r])[b], j)) : _mm256_setzero_ps();
        }
        hearth_transpose8(v);
        for (int g = 0; g < 8; ++g) _mm256_storeu_ps((float *)(q + ((size_t)(8 * j + g) * R + 8 * h) * 4), v[g]);
      }
  }
}

// Sets the GEMM of every type here: make(T{}) gives chunk view T's gemm_kernels.
template <class Make>
void set_kquant_gemms(kernel_table &t, const Make &make) {
  t.types[(uint32_t)dtype::q2_k].gemm = make(q2k{});
  t.types[(uint32_t)dtype::q3_k].gemm = make(q3k{});
  t.types[(uint32_t)dtype::q4_k].gemm = make(q4k{});
  t.types[(uint32_t)dtype::q5_k].gemm = make(q5k{});
  t.types[(uint32_t)dtype::q6_k].gemm = make(q6k{});
}

// The largest level of each type: how many of VPMADDUBSW's pair sums (2 * qmax * 127 each) int16 holds.
template <class T> constexpr int kq_max_level = 0;
template <> constexpr int kq_max_level<q2k> = 3;
template <> constexpr int kq_max_level<q3k> = 7;
template <> constexpr int kq_max_level<q4k> = 15;
template <> constexpr int kq_max_level<q5k> = 31;
template <> constexpr int kq_max_level<q6k> = 63;

}  // namespace
}  // namespace hearth::cpu
