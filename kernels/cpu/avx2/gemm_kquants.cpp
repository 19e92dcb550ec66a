// AVX2 prompt GEMM of the super-block types Q2_K..Q6_K (panels: kquant_panel.h, 8 rows with (sc, sc) int16
// pairs; tokens: gemm_tokens.h's Q8_K tiles). Per 16 values h, VPMADDUBSW of the levels against a token's
// broadcast bytes gives pair sums in int16; as many groups as int16 holds without saturating (kq_max_level) add up
// there, and one VPMADDWD by the (sc_h, sc_h) pair widens them into the super-block's int32 sum. The mins take
// eight VPMADDWD of the (mn, mn) pairs against the token's bsum pairs; two conversions and two FMAs per
// super-block finish it, so a row's value never depends on the tile or the panel place.
#include <immintrin.h>

#include "../gemm_tokens.h"
#include "../kernels.h"
#include "../widths.h"
#include "kquant_panel.h"

namespace hearth::cpu {
namespace {

constexpr int rows = 8;
constexpr int tile_max = 4;

template <class T, int W>
void kq_tile(int64_t nsb, const uint8_t *panel, const uint8_t *tile, __m256i m, float *y, size_t ys) {
  // groups of four levels whose pair sums (each at most 2 * qmax * 127) int16 holds together
  constexpr int per16 = 32767 / (2 * kq_max_level<T> * 127) >= 4 ? 4 : 32767 / (2 * kq_max_level<T> * 127);
  static_assert(per16 == 1 || per16 == 2 || per16 == 4);
  __m256 acc[W];
  for (int j = 0; j < W; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b, panel += kq_block_bytes<rows>, tile += 292 * W) {
    const kq_tile_block<W> t(tile);
    const kq_panel_block<rows> p(panel);
    const int32_t *bs = t.bs, *qx = t.qx, *sc = p.sc, *mn = p.mn;
    const uint8_t *q = p.q;
    __m256i a[W];
    for (int j = 0; j < W; ++j) a[j] = _mm256_setzero_si256();
    for (int h = 0; h < 16; ++h) {
      const __m256i scale = _mm256_loadu_si256((const __m256i *)(sc + h * rows));
      for (int g0 = 4 * h; g0 < 4 * h + 4; g0 += per16) {
        __m256i s[W];
        for (int g = g0; g < g0 + per16; ++g) {
          const __m256i w = _mm256_loadu_si256((const __m256i *)(q + g * 32));
          for (int j = 0; j < W; ++j) {
            const __m256i p = _mm256_maddubs_epi16(w, _mm256_set1_epi32(qx[g * W + j]));
            s[j] = g == g0 ? p : _mm256_add_epi16(s[j], p);
          }
        }
        for (int j = 0; j < W; ++j) a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(s[j], scale));
      }
    }
    __m256i mins[W];
    for (int j = 0; j < W; ++j) mins[j] = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
      const __m256i pair = _mm256_loadu_si256((const __m256i *)(mn + k * rows));
      for (int j = 0; j < W; ++j) mins[j] = _mm256_add_epi32(mins[j], _mm256_madd_epi16(pair, _mm256_set1_epi32(bs[k * W + j])));
    }
    const __m256 vd = _mm256_loadu_ps(p.D), vm = _mm256_loadu_ps(p.M);
    for (int j = 0; j < W; ++j) {
      const __m256 d = _mm256_set1_ps(t.dy[j]);
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[j]), _mm256_mul_ps(vd, d), acc[j]);
      acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins[j]), _mm256_mul_ps(vm, d), acc[j]);
    }
  }
  for (int j = 0; j < W; ++j) _mm256_maskstore_ps(y + j * ys, m, acc[j]);
}

template <class T>
void run_kq(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t ys) {
  const int64_t nsb = n / qk_k;
  const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  hearth_for_each_tile(ntok, tile_max, [&](int64_t t0, int w) {
    const uint8_t *tile = (const uint8_t *)tokens + t0 * hearth_q8k_token_bytes(nsb);
    float *yt = y + t0 * ys;
    hearth_with_width<4, 2, 1>(w, [&](auto tw) { kq_tile<T, decltype(tw)::value>(nsb, (const uint8_t *)panel, tile, m, yt, ys); });
  });
}

void pack_tokens_kq(int64_t n, const void *x, size_t xs, const q8_aux *, int64_t ntok, void *tokens) {
  hearth_pack_tokens_q8k(n, x, xs, ntok, tokens, tile_max);
}

template <class T>
gemm_kernels kq_gemm() {
  return {rows, kq_panel_bytes<rows>, pack_kq<T, rows, true>, hearth_q8k_tokens_bytes, pack_tokens_kq, run_kq<T>};
}

}  // namespace

void add_avx2_kquant_gemm_kernels(kernel_table &t) {
  set_kquant_gemms(t, [](auto view) { return kq_gemm<decltype(view)>(); });
}

}  // namespace hearth::cpu
