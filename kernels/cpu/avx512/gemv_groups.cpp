// AVX-512 VNNI one-token product over row groups (kernels.h): one 512-bit load holds a group's 16 rows' words,
// so VPDPBUSD against a broadcast activation word gives every row's partial sum in its own lane.
#include <immintrin.h>

#include <type_traits>

#include "../gemv_groups.h"
#include "../kernels.h"

namespace hearth::cpu {
namespace {

// Each of the four streams (hearth_walk_groups) requests its data 1 KiB ahead into L1.
constexpr int k_ahead = 1024;

template <bool Q4, int G>
void run_groups(int64_t nb, const uint8_t *w, size_t group_bytes, const block_q8_0 *x, const q8_aux *aux,
                const int32_t *bias, float *y, int64_t nrows) {
  using group_block = std::conditional_t<Q4, block_q4_0x16, block_q8_0x16>;
  const __m512i low = _mm512_set1_epi8(0x0f);
  __m512 acc[G];
  for (int i = 0; i < G; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i xw[8];  // the activation's eight 4-byte words, each in every lane
    for (int k = 0; k < 8; ++k) xw[k] = _mm512_set1_epi32(hearth_word(x[b].qs + 4 * k));
    const __m512i b0 = _mm512_set1_epi32(Q4 ? bias[b] : 16 * bias[b]);
    const __m512 dx = _mm512_set1_ps(aux->scale[b]);
    for (int i = 0; i < G; ++i) {
      const group_block &blk = ((const group_block *)(w + i * group_bytes))[b];
      for (size_t off = 0; off < sizeof(group_block); off += 64) _mm_prefetch((const char *)&blk + k_ahead + off, _MM_HINT_T0);
      // two chains (low and high nibbles, or even and odd words) halve the dependent VPDPBUSDs
      __m512i s0 = b0, s1 = _mm512_setzero_si512();
      if constexpr (Q4) {
        for (int k = 0; k < 4; ++k) {
          const __m512i v = _mm512_loadu_si512(blk.qs[k]);
          s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(v, low), xw[k]);
          s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(v, 4), low), xw[k + 4]);
        }
      } else {
        for (int k = 0; k < 8; k += 2) {
          s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(blk.qs[k]), xw[k]);
          s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(blk.qs[k + 1]), xw[k + 1]);
        }
      }
      const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk.d)), dx);
      acc[i] = _mm512_add_ps(acc[i], _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), d));  // as the reference: no FMA
    }
  }
  for (int i = 0; i < G; ++i) {
    const int64_t left = nrows - i * k_group_rows;
    if (left >= k_group_rows) _mm512_storeu_ps(y + i * k_group_rows, acc[i]);
    else if (left > 0) _mm512_mask_storeu_ps(y + i * k_group_rows, (__mmask16)((1u << left) - 1u), acc[i]);
  }
}

template <bool Q4>
void gemv_groups(int64_t n, const void *groups, int64_t nrows, const void *x, const q8_aux *aux, float *y) {
  const int64_t nb = n / 32;
  const int32_t *bias = aux->block_bias;
  hearth_walk_groups<Q4>(n, groups, nrows, y, [&](auto G, const uint8_t *w, size_t group_bytes, float *yg, int64_t left) {
    run_groups<Q4, decltype(G)::value>(nb, w, group_bytes, (const block_q8_0 *)x, aux, bias, yg, left);
  });
}

}  // namespace

void add_avx512_gemv_kernels(kernel_table &t) {
  t.types[(uint32_t)dtype::q4_0].gemv_groups = gemv_groups<true>;
  t.types[(uint32_t)dtype::q8_0].gemv_groups = gemv_groups<false>;
}

}  // namespace hearth::cpu
