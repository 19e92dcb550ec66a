// NEON prompt GEMM (gemm_kernels in kernels.h): one weight row per vector lane, many tokens per panel, as the x86
// tiers do it. Compiled twice: plain (the "neon" tier) and with +dotprod (neon/gemm_dotprod.cpp, the "dotprod"
// tier), where SDOT multiplies four bytes of four rows by one token's four bytes in one instruction.
//
// Quantized panels hold 8 rows. Per 32-element block: the 8 rows' scales as floats, then eight 32-byte groups,
// group g holding bytes 4g..4g+3 of each row's block as signed bytes (Q4_0: the nibble minus 8, so no correction
// is needed). A token's four bytes of group g are broadcast to the four lanes and meet four rows in each SDOT (or,
// without it, two widening multiplies and two pairwise adds). Float panels hold 16 rows as F32, element k of the
// rows at 16 k. Tokens are packed in tiles (gemm_tokens.h) so their values sit at fixed offsets.
#include "neon_common.h"

#include "../fp16.h"
#include "../gemm_tokens.h"
#include "../widths.h"

namespace hearth::cpu {
namespace {

// Element i of a row of type T as a float (the packers' scalar decode; a panel is packed once per batch).
template <dtype T>
inline float element(const void *row, int64_t i) {
  if constexpr (T == dtype::f32) return ((const float *)row)[i];
  else if constexpr (T == dtype::f16) return hearth_neon_half(((const uint16_t *)row)[i]);
  else if constexpr (T == dtype::bf16) return hearth_bf16_to_f32(((const uint16_t *)row)[i]);
  else if constexpr (T == dtype::q8_0) {
    const block_q8_0 &b = ((const block_q8_0 *)row)[i / 32];
    return hearth_neon_half(b.d) * (float)b.qs[i % 32];
  } else {
    const block_q4_0 &b = ((const block_q4_0 *)row)[i / 32];
    const int j = (int)(i % 32);
    const int q = j < 16 ? (b.qs[j] & 15) : (b.qs[j - 16] >> 4);
    return hearth_neon_half(b.d) * (float)(q - 8);
  }
}

// y[0..nrows) from or to R lanes of vectors, leaving y past nrows untouched.
template <int R>
inline void load_rows(const float *y, int nrows, float32x4_t v[R / 4]) {
  if (nrows == R) {
    for (int i = 0; i < R / 4; ++i) v[i] = vld1q_f32(y + 4 * i);
    return;
  }
  float t[R] = {};
  for (int r = 0; r < nrows; ++r) t[r] = y[r];
  for (int i = 0; i < R / 4; ++i) v[i] = vld1q_f32(t + 4 * i);
}
template <int R>
inline void store_rows(float *y, int nrows, const float32x4_t v[R / 4]) {
  if (nrows == R) {
    for (int i = 0; i < R / 4; ++i) vst1q_f32(y + 4 * i, v[i]);
    return;
  }
  float t[R];
  for (int i = 0; i < R / 4; ++i) vst1q_f32(t + 4 * i, v[i]);
  for (int r = 0; r < nrows; ++r) y[r] = t[r];
}

// ---- quantized panels --------------------------------------------------------------------------------------

constexpr int q_rows = 8;
constexpr size_t q_block_bytes = 32 + 8 * 32;
constexpr int q_tile_max = 4;

size_t q_panel_bytes(int64_t n) { return (size_t)(n / 32) * q_block_bytes; }

template <class B>
void pack_q(int64_t n, const void *const *rows, int nrows, void *panel) {
  uint8_t *p = (uint8_t *)panel;
  for (int64_t b = 0; b < n / 32; ++b, p += q_block_bytes) {
    float *scale = (float *)p;
    int8_t *groups = (int8_t *)(p + 32);
    for (int r = 0; r < q_rows; ++r) {
      int8_t v[32] = {};
      scale[r] = 0.0f;
      if (r < nrows) {
        const B &blk = ((const B *)rows[r])[b];
        int8x16_t lo, hi;
        if constexpr (sizeof(B) == sizeof(block_q8_0)) hearth_neon_block_q8_0(blk, lo, hi);
        else hearth_neon_block_q4_0(blk, lo, hi);
        vst1q_s8(v, lo), vst1q_s8(v + 16, hi);
        scale[r] = hearth_neon_half(blk.d);
      }
      for (int g = 0; g < 8; ++g) std::memcpy(groups + 32 * g + 4 * r, v + 4 * g, 4);
    }
  }
}

void pack_tokens_q(int64_t n, const void *x, size_t xs, const q8_aux *aux, int64_t ntok, void *tokens) {
  hearth_pack_tokens_q8(n, x, xs, aux, ntok, tokens, q_tile_max, 3);  // signed bytes: the correction is not read
}

// Four rows' four-byte groups times one token's four bytes (broadcast to every lane), added to s.
inline int32x4_t group_dot(int32x4_t s, int8x16_t w, int8x16_t x) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(s, w, x);
#else
  const int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(x)));
  const int32x4_t hi = vpaddlq_s16(vmull_high_s8(w, x));
  return vaddq_s32(s, vpaddq_s32(lo, hi));
#endif
}

template <int W>
void q_tile(int64_t nb, const uint8_t *panel, const uint8_t *tile, int nrows, float *y, size_t ys) {
  float32x4_t acc[W][2];
  for (int j = 0; j < W; ++j) acc[j][0] = acc[j][1] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b, panel += q_block_bytes, tile += 40 * W) {
    const float *dx = (const float *)tile;
    const int32_t *q = (const int32_t *)(tile + 8 * W);
    int32x4_t s[W][2];
    for (int j = 0; j < W; ++j) s[j][0] = s[j][1] = vdupq_n_s32(0);
    for (int g = 0; g < 8; ++g) {
      const int8x16_t w0 = vld1q_s8((const int8_t *)panel + 32 + 32 * g), w1 = vld1q_s8((const int8_t *)panel + 48 + 32 * g);
      for (int j = 0; j < W; ++j) {
        const int8x16_t x = vreinterpretq_s8_s32(vld1q_dup_s32(q + g * W + j));
        s[j][0] = group_dot(s[j][0], w0, x);
        s[j][1] = group_dot(s[j][1], w1, x);
      }
    }
    const float32x4_t d0 = vld1q_f32((const float *)panel), d1 = vld1q_f32((const float *)panel + 4);
    for (int j = 0; j < W; ++j) {
      acc[j][0] = vfmaq_f32(acc[j][0], vcvtq_f32_s32(s[j][0]), vmulq_n_f32(d0, dx[j]));
      acc[j][1] = vfmaq_f32(acc[j][1], vcvtq_f32_s32(s[j][1]), vmulq_n_f32(d1, dx[j]));
    }
  }
  for (int j = 0; j < W; ++j) store_rows<q_rows>(y + j * ys, nrows, acc[j]);
}

void run_q(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t ys) {
  const int64_t nb = n / 32;
  const uint8_t *p = (const uint8_t *)panel;
  hearth_for_each_tile(ntok, q_tile_max, [&](int64_t t0, int w) {
    const uint8_t *tile = (const uint8_t *)tokens + t0 * hearth_q_token_bytes(nb);
    float *yt = y + t0 * ys;
    hearth_with_width<4, 2, 1>(w, [&](auto tw) { q_tile<decltype(tw)::value>(nb, p, tile, nrows, yt, ys); });
  });
}

// ---- float panels ------------------------------------------------------------------------------------------

constexpr int f_rows = 16;
constexpr int f_tile_max = 6;
constexpr int64_t f_chunk = 512;  // elements per pass over the tokens: a 32 KiB slice of the panel

size_t f_panel_bytes(int64_t n) { return (size_t)n * f_rows * sizeof(float); }

template <dtype T>
void pack_f(int64_t n, const void *const *rows, int nrows, void *out) {
  float *panel = (float *)out;
  for (int r = 0; r < f_rows; ++r)
    for (int64_t k = 0; k < n; ++k) panel[k * f_rows + r] = r < nrows ? element<T>(rows[r], k) : 0.0f;
}

template <dtype T>
void pack_columns(int64_t K, const void *const *rows, int64_t c0, int ncols, void *out) {
  float *panel = (float *)out;
  for (int64_t k = 0; k < K; ++k)
    for (int r = 0; r < f_rows; ++r) panel[k * f_rows + r] = r < ncols ? element<T>(rows[k], c0 + r) : 0.0f;
}

void pack_tokens_f(int64_t n, const void *x, size_t xs, const q8_aux *, int64_t ntok, void *tokens) {
  hearth_pack_tokens_f32(n, x, xs, ntok, tokens, f_tile_max);
}

// W tokens over elements k0..k1 of the panel, adding to y (which the first chunk starts at zero).
template <int W>
void f_tile(const float *panel, int64_t k0, int64_t k1, const float *tile, int nrows, float *y, size_t ys) {
  float32x4_t a[W][4];
  for (int j = 0; j < W; ++j) {
    if (k0 == 0) a[j][0] = a[j][1] = a[j][2] = a[j][3] = vdupq_n_f32(0.0f);
    else load_rows<f_rows>(y + j * ys, nrows, a[j]);
  }
  for (int64_t k = k0; k < k1; ++k) {
    const float *pk = panel + k * f_rows;
    const float32x4_t w0 = vld1q_f32(pk), w1 = vld1q_f32(pk + 4), w2 = vld1q_f32(pk + 8), w3 = vld1q_f32(pk + 12);
    const float *xk = tile + k * W;
    for (int j = 0; j < W; ++j) {
      const float v = xk[j];
      a[j][0] = vfmaq_n_f32(a[j][0], w0, v);
      a[j][1] = vfmaq_n_f32(a[j][1], w1, v);
      a[j][2] = vfmaq_n_f32(a[j][2], w2, v);
      a[j][3] = vfmaq_n_f32(a[j][3], w3, v);
    }
  }
  for (int j = 0; j < W; ++j) store_rows<f_rows>(y + j * ys, nrows, a[j]);
}

void run_f(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t ys) {
  const float *p = (const float *)panel;
  for (int64_t k0 = 0; k0 < n; k0 += f_chunk) {
    const int64_t k1 = k0 + f_chunk < n ? k0 + f_chunk : n;
    hearth_for_each_tile(ntok, f_tile_max, [&](int64_t t0, int w) {
      const float *tile = (const float *)tokens + t0 * n;
      float *yt = y + t0 * ys;
      hearth_with_width<6, 4, 2, 1>(w, [&](auto tw) { f_tile<decltype(tw)::value>(p, k0, k1, tile, nrows, yt, ys); });
    });
  }
}

}  // namespace

#if defined(__ARM_FEATURE_DOTPROD)
void add_neon_dotprod_gemm_kernels(kernel_table &t) {
#else
void add_neon_gemm_kernels(kernel_table &t) {
#endif
  t.types[(uint32_t)dtype::q4_0].gemm = {q_rows, q_panel_bytes, pack_q<block_q4_0>, hearth_q_tokens_bytes, pack_tokens_q, run_q};
  t.types[(uint32_t)dtype::q8_0].gemm = {q_rows, q_panel_bytes, pack_q<block_q8_0>, hearth_q_tokens_bytes, pack_tokens_q, run_q};
  t.types[(uint32_t)dtype::f32].gemm = {f_rows, f_panel_bytes, pack_f<dtype::f32>, hearth_f_tokens_bytes, pack_tokens_f, run_f};
  t.types[(uint32_t)dtype::f16].gemm = {f_rows, f_panel_bytes, pack_f<dtype::f16>, hearth_f_tokens_bytes, pack_tokens_f, run_f};
  t.types[(uint32_t)dtype::bf16].gemm = {f_rows, f_panel_bytes, pack_f<dtype::bf16>, hearth_f_tokens_bytes, pack_tokens_f, run_f};
  t.types[(uint32_t)dtype::f32].pack_columns = pack_columns<dtype::f32>;
  t.types[(uint32_t)dtype::f16].pack_columns = pack_columns<dtype::f16>;
  t.types[(uint32_t)dtype::bf16].pack_columns = pack_columns<dtype::bf16>;
  t.types[(uint32_t)dtype::q8_0].pack_columns = pack_columns<dtype::q8_0>;
  t.types[(uint32_t)dtype::q4_0].pack_columns = pack_columns<dtype::q4_0>;
}

}  // namespace hearth::cpu
