// AVX2 prompt GEMM (see gemm_kernels in kernels.h): one weight row per vector lane, many tokens per panel.
//
// Quantized panels hold 8 rows. Per 32-element block: the 8 rows' scales as floats, then eight 32-byte groups,
// group g holding bytes 4g..4g+3 of each row's block. A token's four activation bytes of group g, broadcast,
// meet all 8 rows in one VPMADDUBSW. Q4_0 stores the nibble q (0..15): a pair of products is at most
// 2 * 15 * 127, so the eight groups of a block sum in int16 without saturating and widen once per block; the
// offset comes back through the correction packed with the tokens (gemm_tokens.h). Q8_0 stores w itself:
// VPMADDUBSW takes |w| and x with w's sign, whose pairs (up to 2 * 127 * 127) widen at once. Float panels hold
// 16 rows as F32, element k of the rows at 16 k. The tokens are packed in tiles so that the broadcast loads sit
// at fixed offsets from one pointer.
#include <immintrin.h>

#include <cstring>

#include "../fp16.h"
#include "../gemm_tokens.h"
#include "../kernels.h"
#include "../widths.h"
#include "../x86_common.h"

namespace hearth::cpu {
namespace {

constexpr int q_rows = 8;

// Lanes i < nrows - first of eight (all ones where they hold a row).
inline __m256i row_lanes(int nrows, int first) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows - first), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

constexpr size_t q_block_bytes = 32 + 8 * 32;

size_t q_panel_bytes(int64_t n) { return (size_t)(n / 32) * q_block_bytes; }

// An 8 x 8 transpose of 32-bit groups: row r's eight groups of four bytes become group g's eight rows.
template <bool Q4>
void pack_q(int64_t n, const void *const *rows, int nrows, void *panel) {
  const int64_t nb = n / 32;
  constexpr size_t bsize = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  uint8_t *p = (uint8_t *)panel;
  for (int64_t b = 0; b < nb; ++b, p += q_block_bytes) {
    float *scale = (float *)p;
    __m256 v[8];
    for (int r = 0; r < q_rows; ++r) {
      if (r >= nrows) {
        scale[r] = 0.0f;
        v[r] = _mm256_setzero_ps();
        continue;
      }
      const uint8_t *blk = (const uint8_t *)rows[r] + b * bsize;
      uint16_t d;
      std::memcpy(&d, blk, 2);
      scale[r] = hearth_fp16_to_f32(d);
      v[r] = _mm256_castsi256_ps(Q4 ? hearth_nibbles(blk + 2) : _mm256_loadu_si256((const __m256i *)(blk + 2)));
    }
    hearth_transpose8(v);
    for (int g = 0; g < 8; ++g) _mm256_storeu_ps((float *)(p + 32 + g * 32), v[g]);
  }
}

// The tokens: tiles of up to 4 (gemm_tokens.h).
constexpr int q_tile_max = 4;

void pack_tokens_q(int64_t n, const void *x, size_t xs, const q8_aux *aux, int64_t ntok, void *tokens) {
  hearth_pack_tokens_q8(n, x, xs, aux, ntok, tokens, q_tile_max, 3);  // Q8_0's kernel ignores the correction
}

template <int W, bool Q4>
void q_tile(int64_t nb, const uint8_t *panel, const uint8_t *tile, __m256i m, float *y, size_t ys) {
  __m256 acc[W];
  for (int j = 0; j < W; ++j) acc[j] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b, panel += q_block_bytes, tile += 40 * W) {
    const float *dx = (const float *)tile;
    const int32_t *corr = (const int32_t *)(tile + 4 * W), *q = (const int32_t *)(tile + 8 * W);
    __m256i s[W];
    for (int j = 0; j < W; ++j) s[j] = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g) {
      const __m256i w = _mm256_loadu_si256((const __m256i *)(panel + 32 + g * 32));
      const __m256i u = Q4 ? w : _mm256_sign_epi8(w, w);
      for (int j = 0; j < W; ++j) {
        const __m256i v = _mm256_set1_epi32(q[g * W + j]);
        if constexpr (Q4) s[j] = _mm256_add_epi16(s[j], _mm256_maddubs_epi16(u, v));
        else s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(v, w)), ones));
      }
    }
    const __m256 dw = _mm256_loadu_ps((const float *)panel);
    for (int j = 0; j < W; ++j) {
      __m256i i = s[j];
      if constexpr (Q4) i = _mm256_add_epi32(_mm256_madd_epi16(i, ones), _mm256_set1_epi32(corr[j]));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(dw, _mm256_set1_ps(dx[j])), acc[j]);
    }
  }
  for (int j = 0; j < W; ++j) _mm256_maskstore_ps(y + j * ys, m, acc[j]);
}

template <bool Q4>
void run_q(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t ys) {
  const int64_t nb = n / 32;
  const uint8_t *p = (const uint8_t *)panel;
  const __m256i m = row_lanes(nrows, 0);
  hearth_for_each_tile(ntok, q_tile_max, [&](int64_t t0, int w) {
    const uint8_t *tile = (const uint8_t *)tokens + t0 * hearth_q_token_bytes(nb);
    float *yt = y + t0 * ys;
    hearth_with_width<4, 2, 1>(w, [&](auto tw) { q_tile<decltype(tw)::value, Q4>(nb, p, tile, m, yt, ys); });
  });
}

// ---- float panels ------------------------------------------------------------------------------------------

constexpr int f_rows = 16;
constexpr int f_tile_max = 6;
constexpr int64_t f_chunk = 512;  // elements per pass over the tokens: a 32 KiB slice of the panel

size_t f_panel_bytes(int64_t n) { return (size_t)n * f_rows * sizeof(float); }

// The tokens: tiles of up to 6 (gemm_tokens.h).

void pack_tokens_f(int64_t n, const void *x, size_t xs, const q8_aux *, int64_t ntok, void *tokens) {
  hearth_pack_tokens_f32(n, x, xs, ntok, tokens, f_tile_max);
}

// W tokens over elements k0..k1 of the panel, adding to y (which the first chunk starts at zero); m0, m1: the
// lanes of the panel's two halves that hold rows.
template <int W>
void f_tile(const float *panel, int64_t k0, int64_t k1, const float *tile, __m256i m0, __m256i m1, float *y, size_t ys) {
  __m256 a0[W], a1[W];
  for (int j = 0; j < W; ++j) {
    a0[j] = k0 == 0 ? _mm256_setzero_ps() : _mm256_maskload_ps(y + j * ys, m0);
    a1[j] = k0 == 0 ? _mm256_setzero_ps() : _mm256_maskload_ps(y + j * ys + 8, m1);
  }
  for (int64_t k = k0; k < k1; ++k) {
    const __m256 w0 = _mm256_loadu_ps(panel + k * f_rows), w1 = _mm256_loadu_ps(panel + k * f_rows + 8);
    const float *xk = tile + k * W;
    for (int j = 0; j < W; ++j) {
      const __m256 v = _mm256_set1_ps(xk[j]);
      a0[j] = _mm256_fmadd_ps(w0, v, a0[j]);
      a1[j] = _mm256_fmadd_ps(w1, v, a1[j]);
    }
  }
  for (int j = 0; j < W; ++j) {
    _mm256_maskstore_ps(y + j * ys, m0, a0[j]);
    _mm256_maskstore_ps(y + j * ys + 8, m1, a1[j]);
  }
}

void run_f(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t ys) {
  const float *p = (const float *)panel;
  const __m256i m0 = row_lanes(nrows, 0), m1 = row_lanes(nrows, 8);
  for (int64_t k0 = 0; k0 < n; k0 += f_chunk) {
    const int64_t k1 = k0 + f_chunk < n ? k0 + f_chunk : n;
    hearth_for_each_tile(ntok, f_tile_max, [&](int64_t t0, int w) {
      const float *tile = (const float *)tokens + t0 * n;
      float *yt = y + t0 * ys;
      hearth_with_width<6, 4, 2, 1>(w, [&](auto tw) { f_tile<decltype(tw)::value>(p, k0, k1, tile, m0, m1, yt, ys); });
    });
  }
}

}  // namespace

void add_avx2_gemm_kernels(kernel_table &t) {
  t.types[(uint32_t)dtype::q4_0].gemm = {q_rows, q_panel_bytes, pack_q<true>, hearth_q_tokens_bytes, pack_tokens_q, run_q<true>};
  t.types[(uint32_t)dtype::q8_0].gemm = {q_rows, q_panel_bytes, pack_q<false>, hearth_q_tokens_bytes, pack_tokens_q, run_q<false>};
  t.types[(uint32_t)dtype::f32].gemm = {f_rows, f_panel_bytes, hearth_pack_float_panel<f_rows, dtype::f32>, hearth_f_tokens_bytes, pack_tokens_f, run_f};
  t.types[(uint32_t)dtype::f16].gemm = {f_rows, f_panel_bytes, hearth_pack_float_panel<f_rows, dtype::f16>, hearth_f_tokens_bytes, pack_tokens_f, run_f};
  t.types[(uint32_t)dtype::bf16].gemm = {f_rows, f_panel_bytes, hearth_pack_float_panel<f_rows, dtype::bf16>, hearth_f_tokens_bytes, pack_tokens_f, run_f};
  t.types[(uint32_t)dtype::f32].pack_columns = hearth_pack_columns<f_rows, dtype::f32>;
  t.types[(uint32_t)dtype::f16].pack_columns = hearth_pack_columns<f_rows, dtype::f16>;
  t.types[(uint32_t)dtype::bf16].pack_columns = hearth_pack_columns<f_rows, dtype::bf16>;
  t.types[(uint32_t)dtype::q8_0].pack_columns = hearth_pack_columns<f_rows, dtype::q8_0>;
  t.types[(uint32_t)dtype::q4_0].pack_columns = hearth_pack_columns<f_rows, dtype::q4_0>;
}

}  // namespace hearth::cpu
