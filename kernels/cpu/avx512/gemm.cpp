// AVX-512 prompt GEMM (see gemm_kernels in kernels.h): one weight row per vector lane, many tokens per panel.
//
// Quantized panels (Q4_0, Q8_0) hold 16 rows. Per 32-element block: the 16 rows' scales as floats, then eight
// 64-byte groups, group g holding bytes 4g..4g+3 of each row's block as unsigned bytes (Q4_0's nibble q, Q8_0's
// w + 128). One VPDPBUSD of a group against the token's four activation bytes, broadcast, adds those four
// products to all 16 rows at once, so a block's integer sum per row needs no horizontal reduction; the offset
// comes back through a correction, -offset times the activation block's sum, packed with the tokens
// (gemm_tokens.h), which starts the accumulator. Float panels (F32, F16, BF16) hold 32 rows as F32, element k
// of the rows at 32 k, and take each token's element k as an FMA's broadcast operand. The tokens are packed in
// tiles so that those broadcast loads sit at fixed offsets from one pointer.
#include <immintrin.h>

#include <cstring>

#include "../fp16.h"
#include "../gemm_tokens.h"
#include "../kernels.h"
#include "../widths.h"
#include "../x86_common.h"

namespace hearth::cpu {
namespace {

// ---- quantized panels --------------------------------------------------------------------------------------

constexpr int q_rows = 16;
constexpr size_t q_block_bytes = 64 + 8 * 64;  // 16 float scales, 8 groups of 16 rows x 4 bytes

size_t q_panel_bytes(int64_t n) { return (size_t)(n / 32) * q_block_bytes; }

// The 32 unsigned bytes of one row's block, in element order.
template <bool Q4>
inline __m256i block_bytes(const void *row, int64_t b) {
  if constexpr (Q4) return hearth_nibbles(((const block_q4_0 *)row)[b].qs);
  else return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)((const block_q8_0 *)row)[b].qs), _mm256_set1_epi8((char)0x80));
}

// Each half of the panel's rows is an 8 x 8 transpose of 32-bit groups: row r's eight groups of four bytes
// become group g's eight rows.
template <bool Q4>
void pack_q(int64_t n, const void *const *rows, int nrows, void *panel) {
  const int64_t nb = n / 32;
  constexpr size_t bsize = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  uint8_t *p = (uint8_t *)panel;
  for (int64_t b = 0; b < nb; ++b, p += q_block_bytes) {
    float *scale = (float *)p;
    for (int h = 0; h < 2; ++h) {
      __m256 v[8];
      for (int i = 0; i < 8; ++i) {
        const int r = 8 * h + i;
        if (r >= nrows) {
          scale[r] = 0.0f;
          v[i] = _mm256_setzero_ps();
          continue;
        }
        uint16_t d;
        std::memcpy(&d, (const uint8_t *)rows[r] + b * bsize, 2);
        scale[r] = hearth_fp16_to_f32(d);
        v[i] = _mm256_castsi256_ps(block_bytes<Q4>(rows[r], b));
      }
      hearth_transpose8(v);
      for (int g = 0; g < 8; ++g) _mm256_storeu_ps((float *)(p + 64 + g * 64 + 32 * h), v[g]);
    }
  }
}

// The tokens: tiles of up to 8 (gemm_tokens.h; 12 measured no faster).
constexpr int q_tile_max = 8;

template <int Shift>
void pack_tokens_q(int64_t n, const void *x, size_t xs, const q8_aux *aux, int64_t ntok, void *tokens) {
  hearth_pack_tokens_q8(n, x, xs, aux, ntok, tokens, q_tile_max, Shift);
}

template <int W>
void q_tile(int64_t nb, const uint8_t *panel, const uint8_t *tile, __mmask16 m, float *y, size_t ys) {
  __m512 acc[W];
  for (int j = 0; j < W; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, panel += q_block_bytes, tile += 40 * W) {
    const float *dx = (const float *)tile;
    const int32_t *corr = (const int32_t *)(tile + 4 * W), *q = (const int32_t *)(tile + 8 * W);
    __m512i ai[W];
    for (int j = 0; j < W; ++j) ai[j] = _mm512_set1_epi32(corr[j]);
    for (int g = 0; g < 8; ++g) {
      const __m512i w = _mm512_loadu_si512(panel + 64 + g * 64);
      for (int j = 0; j < W; ++j) ai[j] = _mm512_dpbusd_epi32(ai[j], w, _mm512_set1_epi32(q[g * W + j]));
    }
    const __m512 dw = _mm512_loadu_ps((const float *)panel);
    for (int j = 0; j < W; ++j) acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[j]), _mm512_mul_ps(dw, _mm512_set1_ps(dx[j])), acc[j]);
  }
  for (int j = 0; j < W; ++j) _mm512_mask_storeu_ps(y + j * ys, m, acc[j]);
}

void run_q(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t ys) {
  const int64_t nb = n / 32;
  const __mmask16 m = (__mmask16)((1u << nrows) - 1u);
  const uint8_t *p = (const uint8_t *)panel;
  hearth_for_each_tile(ntok, q_tile_max, [&](int64_t t0, int w) {
    const uint8_t *tile = (const uint8_t *)tokens + t0 * hearth_q_token_bytes(nb);
    float *yt = y + t0 * ys;
    hearth_with_width<8, 4, 2, 1>(w, [&](auto tw) { q_tile<decltype(tw)::value>(nb, p, tile, m, yt, ys); });
  });
}

// ---- float panels ------------------------------------------------------------------------------------------

constexpr int f_rows = 32;
constexpr int f_tile_max = 12;
constexpr int64_t f_chunk = 512;  // elements per pass over the tokens: a 64 KiB slice of the panel

size_t f_panel_bytes(int64_t n) { return (size_t)n * f_rows * sizeof(float); }

// The tokens: tiles of up to 12 (gemm_tokens.h).

void pack_tokens_f(int64_t n, const void *x, size_t xs, const q8_aux *, int64_t ntok, void *tokens) {
  hearth_pack_tokens_f32(n, x, xs, ntok, tokens, f_tile_max);
}

// W tokens over elements k0..k1 of the panel, adding to y (which the first chunk starts at zero).
template <int W>
void f_tile(const float *panel, int64_t k0, int64_t k1, const float *tile, __mmask16 m0, __mmask16 m1, float *y,
            size_t ys) {
  __m512 a0[W], a1[W];
  for (int j = 0; j < W; ++j) {
    a0[j] = k0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + j * ys);
    a1[j] = k0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + j * ys + 16);
  }
  for (int64_t k = k0; k < k1; ++k) {
    const __m512 w0 = _mm512_loadu_ps(panel + k * f_rows), w1 = _mm512_loadu_ps(panel + k * f_rows + 16);
    const float *xk = tile + k * W;
    for (int j = 0; j < W; ++j) {
      const __m512 v = _mm512_set1_ps(xk[j]);
      a0[j] = _mm512_fmadd_ps(w0, v, a0[j]);
      a1[j] = _mm512_fmadd_ps(w1, v, a1[j]);
    }
  }
  for (int j = 0; j < W; ++j) {
    _mm512_mask_storeu_ps(y + j * ys, m0, a0[j]);
    _mm512_mask_storeu_ps(y + j * ys + 16, m1, a1[j]);
  }
}

void run_f(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t ys) {
  const __mmask16 m0 = (__mmask16)(nrows >= 16 ? 0xffffu : (1u << nrows) - 1u);
  const __mmask16 m1 = (__mmask16)(nrows >= 32 ? 0xffffu : nrows <= 16 ? 0u : (1u << (nrows - 16)) - 1u);
  const float *p = (const float *)panel;
  for (int64_t k0 = 0; k0 < n; k0 += f_chunk) {
    const int64_t k1 = k0 + f_chunk < n ? k0 + f_chunk : n;
    hearth_for_each_tile(ntok, f_tile_max, [&](int64_t t0, int w) {
      const float *tile = (const float *)tokens + t0 * n;
      float *yt = y + t0 * ys;
      hearth_with_width<12, 8, 4, 2, 1>(w, [&](auto tw) { f_tile<decltype(tw)::value>(p, k0, k1, tile, m0, m1, yt, ys); });
    });
  }
}

}  // namespace

void add_avx512_gemm_kernels(kernel_table &t) {
  t.types[(uint32_t)dtype::q4_0].gemm = {q_rows, q_panel_bytes, pack_q<true>, hearth_q_tokens_bytes, pack_tokens_q<3>, run_q};
  t.types[(uint32_t)dtype::q8_0].gemm = {q_rows, q_panel_bytes, pack_q<false>, hearth_q_tokens_bytes, pack_tokens_q<7>, run_q};
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
