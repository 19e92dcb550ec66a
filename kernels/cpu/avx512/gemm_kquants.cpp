// AVX-512 prompt GEMM of the super-block types Q2_K..Q6_K (panels: avx2/kquant_panel.h, 16 rows; tokens:
// gemm_tokens.h's Q8_K tiles). Per 16 values h, four VPDPBUSD of the levels against a token's broadcast bytes give
// (q . qx)_h in every row's lane; one VPMULLD by sc_h adds it to the super-block's integer sum. The mins take eight
// VPDPWSSD of the (mn, mn) pairs against the token's bsum pairs. Two conversions and two FMAs per super-block
// finish it, so a row's value never depends on the tile or the panel place.
#include <immintrin.h>

#include "../gemm_tokens.h"
#include "../kernels.h"
#include "../widths.h"
#include "../avx2/kquant_panel.h"

namespace hearth::cpu {
namespace {

constexpr int rows = 16;
constexpr int tile_max = 8;

template <int W>
void kq_tile(int64_t nsb, const uint8_t *panel, const uint8_t *tile, __mmask16 m, float *y, size_t ys) {
  __m512 acc[W];
  for (int j = 0; j < W; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b, panel += kq_block_bytes<rows>, tile += 292 * W) {
    const kq_tile_block<W> t(tile);
    const kq_panel_block<rows> p(panel);
    const int32_t *bs = t.bs, *qx = t.qx, *sc = p.sc, *mn = p.mn;
    const uint8_t *q = p.q;
    __m512i a[W];
    for (int j = 0; j < W; ++j) a[j] = _mm512_setzero_si512();
    for (int h = 0; h < 16; ++h) {
      __m512i s[W];
      for (int j = 0; j < W; ++j) s[j] = _mm512_setzero_si512();
      for (int g = 4 * h; g < 4 * h + 4; ++g) {
        const __m512i w = _mm512_loadu_si512(q + g * 64);
        for (int j = 0; j < W; ++j) s[j] = _mm512_dpbusd_epi32(s[j], w, _mm512_set1_epi32(qx[g * W + j]));
      }
      const __m512i scale = _mm512_loadu_si512(sc + h * rows);
      for (int j = 0; j < W; ++j) a[j] = _mm512_add_epi32(a[j], _mm512_mullo_epi32(s[j], scale));
    }
    __m512i mins[W];
    for (int j = 0; j < W; ++j) mins[j] = _mm512_setzero_si512();
    for (int k = 0; k < 8; ++k) {
      const __m512i pair = _mm512_loadu_si512(mn + k * rows);
      for (int j = 0; j < W; ++j) mins[j] = _mm512_dpwssd_epi32(mins[j], pair, _mm512_set1_epi32(bs[k * W + j]));
    }
    const __m512 vd = _mm512_loadu_ps(p.D), vm = _mm512_loadu_ps(p.M);
    for (int j = 0; j < W; ++j) {
      const __m512 d = _mm512_set1_ps(t.dy[j]);
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[j]), _mm512_mul_ps(vd, d), acc[j]);
      acc[j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins[j]), _mm512_mul_ps(vm, d), acc[j]);
    }
  }
  for (int j = 0; j < W; ++j) _mm512_mask_storeu_ps(y + j * ys, m, acc[j]);
}

void run_kq(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t ys) {
  const int64_t nsb = n / qk_k;
  const __mmask16 m = (__mmask16)((1u << nrows) - 1u);
  hearth_for_each_tile(ntok, tile_max, [&](int64_t t0, int w) {
    const uint8_t *tile = (const uint8_t *)tokens + t0 * hearth_q8k_token_bytes(nsb);
    float *yt = y + t0 * ys;
    hearth_with_width<8, 4, 2, 1>(w, [&](auto tw) { kq_tile<decltype(tw)::value>(nsb, (const uint8_t *)panel, tile, m, yt, ys); });
  });
}

void pack_tokens_kq(int64_t n, const void *x, size_t xs, const q8_aux *, int64_t ntok, void *tokens) {
  hearth_pack_tokens_q8k(n, x, xs, ntok, tokens, tile_max);
}

template <class T>
gemm_kernels kq_gemm() {
  return {rows, kq_panel_bytes<rows>, pack_kq<T, rows, false>, hearth_q8k_tokens_bytes, pack_tokens_kq, run_kq};
}

}  // namespace

void add_avx512_kquant_gemm_kernels(kernel_table &t) {
  set_kquant_gemms(t, [](auto view) { return kq_gemm<decltype(view)>(); });
}

}  // namespace hearth::cpu
