// AVX2 one-token product over row groups (kernels.h): a group's 16 rows' words are two 256-bit loads (rows 0-7,
// 8-15), multiplied by a broadcast activation word with VPMADDUBSW, so every row's partial sum stays in its lane.
#include <immintrin.h>

#include <type_traits>

#include "../gemv_groups.h"
#include "../kernels.h"

namespace hearth::cpu {
namespace {

// As the AVX-512 tier: each of the four streams (hearth_walk_groups) requests its data 1 KiB ahead into L1.
constexpr int k_ahead = 1024;

// Eight rows' (one half's) integer products of one block: Q4_0 as nibbles 0..15, whose eight VPMADDUBSW pair
// sums (each within +-3840) add up in int16 without saturating and widen once; Q8_0's bytes (stored +128) go back
// to signed and take the sign trick (|w| times x with w's sign), each pair sum widened on its own.
template <bool Q4>
inline __m256i half_block(const uint8_t (*qs)[16][4], int half, const __m256i *xw, __m256i bias) {
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (Q4) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i s = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      const __m256i v = _mm256_loadu_si256((const __m256i *)qs[k][8 * half]);
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(v, low), xw[k]));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low), xw[k + 4]));
    }
    return _mm256_add_epi32(bias, _mm256_madd_epi16(s, ones));
  } else {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m256i s0 = bias, s1 = _mm256_setzero_si256();
    for (int k = 0; k < 8; k += 2) {
      const __m256i w0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)qs[k][8 * half]), flip);
      const __m256i w1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)qs[k + 1][8 * half]), flip);
      s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(xw[k], w0)), ones));
      s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(xw[k + 1], w1)), ones));
    }
    return _mm256_add_epi32(s0, s1);
  }
}

template <bool Q4, int G>
void run_groups(int64_t nb, const uint8_t *w, size_t group_bytes, const block_q8_0 *x, const q8_aux *aux,
                const int32_t *bias, float *y, int64_t nrows) {
  using group_block = std::conditional_t<Q4, block_q4_0x16, block_q8_0x16>;
  __m256 acc[G][2];
  for (int i = 0; i < G; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i xw[8];
    for (int k = 0; k < 8; ++k) xw[k] = _mm256_set1_epi32(hearth_word(x[b].qs + 4 * k));
    // Q4_0's bias is added per block; Q8_0 takes the signed bytes, so none
    const __m256i b0 = Q4 ? _mm256_set1_epi32(bias[b]) : _mm256_setzero_si256();
    const __m256 dx = _mm256_set1_ps(aux->scale[b]);
    for (int i = 0; i < G; ++i) {
      const group_block &blk = ((const group_block *)(w + i * group_bytes))[b];
      for (size_t off = 0; off < sizeof(group_block); off += 64) _mm_prefetch((const char *)&blk + k_ahead + off, _MM_HINT_T0);
      for (int h = 0; h < 2; ++h) {
        const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk.d + 8 * h))), dx);
        acc[i][h] = _mm256_add_ps(acc[i][h], _mm256_mul_ps(_mm256_cvtepi32_ps(half_block<Q4>(blk.qs, h, xw, b0)), d));
      }
    }
  }
  for (int i = 0; i < G; ++i)
    for (int h = 0; h < 2; ++h) {
      const int64_t first = i * k_group_rows + 8 * h, left = nrows - first;
      if (left >= 8) {
        _mm256_storeu_ps(y + first, acc[i][h]);
      } else if (left > 0) {
        alignas(32) float v[8];
        _mm256_store_ps(v, acc[i][h]);
        for (int64_t r = 0; r < left; ++r) y[first + r] = v[r];
      }
    }
}

template <bool Q4>
void gemv_groups(int64_t n, const void *groups, int64_t nrows, const void *x, const q8_aux *aux, float *y) {
  const int64_t nb = n / 32;
  const int32_t *bias = Q4 ? aux->block_bias : nullptr;
  hearth_walk_groups<Q4>(n, groups, nrows, y, [&](auto G, const uint8_t *w, size_t group_bytes, float *yg, int64_t left) {
    run_groups<Q4, decltype(G)::value>(nb, w, group_bytes, (const block_q8_0 *)x, aux, bias, yg, left);
  });
}

}  // namespace

void add_avx2_gemv_kernels(kernel_table &t) {
  t.types[(uint32_t)dtype::q4_0].gemv_groups = gemv_groups<true>;
  t.types[(uint32_t)dtype::q8_0].gemv_groups = gemv_groups<false>;
}

}  // namespace hearth::cpu
