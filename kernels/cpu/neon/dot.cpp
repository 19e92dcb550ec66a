// NEON tiers (AArch64): "neon", ARMv8.0's Advanced SIMD, which every AArch64 core has, and "dotprod", the same
// file compiled again with +dotprod (neon/dotprod.cpp) where SDOT multiplies 16 byte pairs into four int32 sums in
// one instruction. The dot products, row axpys, Q8_0 activation quantization and axpy of F32/F16/BF16/Q8_0/Q4_0;
// attention is in neon/attention.cpp, the prompt GEMM in neon/gemm.cpp, the row-group
// products in neon/gemv_groups.cpp. The other block types keep the reference
// tier's decoded rows.
#include "neon_common.h"

#include <cfloat>
#include <cmath>
#include <cstring>

#include "../fp16.h"
#include "../gemv_rows.h"
#include "../q8_aux.h"
#include "../widths.h"

namespace hearth::cpu {
namespace {

inline const float *col(const void *x, size_t stride, int c) { return (const float *)((const char *)x + c * stride); }

// Float-like weights: Load(i) gives weights i..i+3 as floats, Scalar(i) one weight.
template <int NC, class Load, class Scalar>
void dot_floatlike(int64_t n, const Load &load, const Scalar &scalar, const void *x, size_t xs, float *out) {
  float32x4_t acc[NC][2];
  for (int c = 0; c < NC; ++c) acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t w0 = load(i), w1 = load(i + 4);
    for (int c = 0; c < NC; ++c) {
      const float *xc = col(x, xs, c);
      acc[c][0] = vfmaq_f32(acc[c][0], w0, vld1q_f32(xc + i));
      acc[c][1] = vfmaq_f32(acc[c][1], w1, vld1q_f32(xc + i + 4));
    }
  }
  for (; i + 4 <= n; i += 4) {
    const float32x4_t w0 = load(i);
    for (int c = 0; c < NC; ++c) acc[c][0] = vfmaq_f32(acc[c][0], w0, vld1q_f32(col(x, xs, c) + i));
  }
  for (int c = 0; c < NC; ++c) {
    float s = vaddvq_f32(vaddq_f32(acc[c][0], acc[c][1]));
    const float *xc = col(x, xs, c);
    for (int64_t j = i; j < n; ++j) s += scalar(j) * xc[j];
    out[c] = s;
  }
}

template <class Load, class Scalar>
void dot_floatlike_n(int64_t n, const Load &load, const Scalar &scalar, const void *x, size_t xs, int nc, float *out) {
  hearth_with_width<1, 2, 3, 4>(nc, [&](auto c) { dot_floatlike<decltype(c)::value>(n, load, scalar, x, xs, out); });
}

void dot_f32(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const float *wf = (const float *)w;
  dot_floatlike_n(n, [wf](int64_t i) { return vld1q_f32(wf + i); }, [wf](int64_t i) { return wf[i]; }, x, xs, nc, out);
}
void dot_f16(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike_n(n, [wh](int64_t i) { return hearth_neon_load4_f16(wh + i); },
                  [wh](int64_t i) { return hearth_neon_half(wh[i]); }, x, xs, nc, out);
}
void dot_bf16(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike_n(n, [wh](int64_t i) { return hearth_neon_load4_bf16(wh + i); },
                  [wh](int64_t i) { return hearth_bf16_to_f32(wh[i]); }, x, xs, nc, out);
}

// R rows side by side against one column, each row's sum formed as dot_floatlike<1> forms it (the same lanes, the
// same order), so the values are dot's bit for bit. Load(row, i) and Scalar(row, i) read row's element i on. No
// software prefetch here: the x86 tiers' was measured on x86 only.
template <int R, class Load, class Scalar>
void dot_floatlike_rows(int64_t n, const uint8_t *w, size_t row_bytes, const Load &load, const Scalar &scalar,
                        const float *x, float *y) {
  float32x4_t acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + i + 4);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = vfmaq_f32(acc[r][0], load(w + r * row_bytes, i), x0);
      acc[r][1] = vfmaq_f32(acc[r][1], load(w + r * row_bytes, i + 4), x1);
    }
  }
  for (; i + 4 <= n; i += 4) {
    const float32x4_t x0 = vld1q_f32(x + i);
    for (int r = 0; r < R; ++r) acc[r][0] = vfmaq_f32(acc[r][0], load(w + r * row_bytes, i), x0);
  }
  for (int r = 0; r < R; ++r) {
    float s = vaddvq_f32(vaddq_f32(acc[r][0], acc[r][1]));
    for (int64_t j = i; j < n; ++j) s += scalar(w + r * row_bytes, j) * x[j];
    y[r] = s;
  }
}

template <class Load, class Scalar>
void gemv_rows_floatlike(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const Load &load,
                         const Scalar &scalar, const float *x, float *y) {
  hearth_walk_quarters(w, row_bytes, nrows, y, [&](auto R, const uint8_t *first, size_t stride, float *out) {
    dot_floatlike_rows<decltype(R)::value>(n, first, stride, load, scalar, x, out);
  });
}

void gemv_rows_f32(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y) {
  gemv_rows_floatlike(
      n, w, row_bytes, nrows, [](const uint8_t *p, int64_t i) { return vld1q_f32((const float *)p + i); },
      [](const uint8_t *p, int64_t i) { float f; std::memcpy(&f, p + 4 * i, 4); return f; }, x, y);
}
void gemv_rows_f16(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y) {
  gemv_rows_floatlike(
      n, w, row_bytes, nrows, [](const uint8_t *p, int64_t i) { return hearth_neon_load4_f16((const uint16_t *)p + i); },
      [](const uint8_t *p, int64_t i) { return hearth_neon_half(((const uint16_t *)p)[i]); }, x, y);
}
void gemv_rows_bf16(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y) {
  gemv_rows_floatlike(
      n, w, row_bytes, nrows, [](const uint8_t *p, int64_t i) { return hearth_neon_load4_bf16((const uint16_t *)p + i); },
      [](const uint8_t *p, int64_t i) { return hearth_bf16_to_f32(((const uint16_t *)p)[i]); }, x, y);
}


// The four int32 partial sums of 32 byte products (a block): SDOT where the tier has it, else widening multiplies
// (|product| <= 127 * 128 fits int16) added pairwise into int32.
inline int32x4_t block_dot(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
#else
  int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
  s = vpadalq_s16(s, vmull_high_s8(w0, x0));
  s = vpadalq_s16(s, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
  return vpadalq_s16(s, vmull_high_s8(w1, x1));
#endif
}

template <class B>
inline void weight_block(const B &b, int8x16_t &lo, int8x16_t &hi) {
  if constexpr (sizeof(B) == sizeof(block_q8_0)) hearth_neon_block_q8_0(b, lo, hi);
  else hearth_neon_block_q4_0(b, lo, hi);
}

// One weight row (Q8_0 or Q4_0 blocks) against NC Q8_0 activation columns.
template <class B, int NC>
void dot_q(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, float *out) {
  const B *wb = (const B *)w;
  const int64_t nb = n / 32;
  float32x4_t acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    int8x16_t w0, w1;
    weight_block(wb[b], w0, w1);
    const float dw = hearth_neon_half(wb[b].d);
    for (int c = 0; c < NC; ++c) {
      const block_q8_0 &xb = ((const block_q8_0 *)((const char *)x + c * xs))[b];
      const int32x4_t p = block_dot(w0, w1, vld1q_s8(xb.qs), vld1q_s8(xb.qs + 16));
      acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(p), dw * aux->scale[c * nb + b]);  // scales once per matrix
    }
  }
  for (int c = 0; c < NC; ++c) out[c] = vaddvq_f32(acc[c]);
}

template <class B>
void dot_q_n(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  hearth_with_width<1, 2, 3, 4>(nc, [&](auto c) { dot_q<B, decltype(c)::value>(n, w, x, xs, aux, out); });
}

// NR weight rows (anywhere in memory) against one activation vector, which is loaded once per NR rows.
template <class B, int NR>
void dot_rows_nr(int64_t n, const void *const *rows, const void *x, const q8_aux *aux, float *out) {
  const block_q8_0 *xb = (const block_q8_0 *)x;
  float32x4_t acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / 32; ++b) {
    const int8x16_t x0 = vld1q_s8(xb[b].qs), x1 = vld1q_s8(xb[b].qs + 16);
    const float dx = aux->scale[b];
    for (int r = 0; r < NR; ++r) {
      const B &wb = ((const B *)rows[r])[b];
      int8x16_t w0, w1;
      weight_block(wb, w0, w1);
      acc[r] = vfmaq_n_f32(acc[r], vcvtq_f32_s32(block_dot(w0, w1, x0, x1)), hearth_neon_half(wb.d) * dx);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = vaddvq_f32(acc[r]);
}

template <class B>
void dot_rows_q(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *aux, float *out) {
  int r = 0;
  for (; r + 4 <= nrows; r += 4) dot_rows_nr<B, 4>(n, rows + r, x, aux, out + r);
  switch (nrows - r) {
    case 3: return dot_rows_nr<B, 3>(n, rows + r, x, aux, out + r);
    case 2: return dot_rows_nr<B, 2>(n, rows + r, x, aux, out + r);
    case 1: return dot_rows_nr<B, 1>(n, rows + r, x, aux, out + r);
    default: return;
  }
}

// Round half to even (FCVTNS), non-finite values as 0, the scale and its reciprocal in scalar arithmetic: the bytes
// the reference tier writes.
void quantize_q8_0(const float *x, void *y, float *scale, int32_t *bias, int64_t n) {
  block_q8_0 *yb = (block_q8_0 *)y;
  const float32x4_t big = vdupq_n_f32(FLT_MAX);
  for (int64_t b = 0; b < n / qk8_0; ++b) {
    float32x4_t v[8];
    float32x4_t amax = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; ++k) {
      const float32x4_t xv = vld1q_f32(x + b * qk8_0 + 4 * k);
      const uint32x4_t finite = vcleq_f32(vabsq_f32(xv), big);  // false for NaN and infinities
      v[k] = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(xv), finite));
      amax = vmaxq_f32(amax, vabsq_f32(v[k]));
    }
    const float d = vmaxvq_f32(amax) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    yb[b].d = hearth_f32_to_fp16(d);
    int16x8_t h[4];
    for (int k = 0; k < 4; ++k)
      h[k] = vcombine_s16(vmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(v[2 * k], id))),
                          vmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(v[2 * k + 1], id))));
    vst1q_s8(yb[b].qs, vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1])));
    vst1q_s8(yb[b].qs + 16, vcombine_s8(vmovn_s16(h[2]), vmovn_s16(h[3])));
    hearth_q8_aux(yb[b], scale ? scale + b : nullptr, bias ? bias + 8 * b : nullptr);
  }
}

void axpy_f32(int64_t n, float a, const float *x, float *y) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
  for (; i < n; ++i) y[i] += a * x[i];
}

// y += sum_k coef[k] * row_k, rows in pairs so each slice of y is loaded and stored once per two neurons.
template <class Load, class Scalar>
void axpy_rows_floatlike(int64_t n, const void *const *rows, const float *coef, int nrows, float *y, const Load &load,
                         const Scalar &scalar) {
  int k = 0;
  for (; k + 2 <= nrows; k += 2) {
    const void *r0 = rows[k], *r1 = rows[k + 1];
    const float c0 = coef[k], c1 = coef[k + 1];
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
      vst1q_f32(y + i, vfmaq_n_f32(vfmaq_n_f32(vld1q_f32(y + i), load(r0, i), c0), load(r1, i), c1));
    for (; i < n; ++i) y[i] += c0 * scalar(r0, i) + c1 * scalar(r1, i);
  }
  if (k < nrows) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load(rows[k], i), coef[k]));
    for (; i < n; ++i) y[i] += coef[k] * scalar(rows[k], i);
  }
}

void axpy_rows_f32(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_floatlike(n, rows, coef, nrows, y, [](const void *r, int64_t i) { return vld1q_f32((const float *)r + i); },
                      [](const void *r, int64_t i) { return ((const float *)r)[i]; });
}
void axpy_rows_f16(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_floatlike(n, rows, coef, nrows, y,
                      [](const void *r, int64_t i) { return hearth_neon_load4_f16((const uint16_t *)r + i); },
                      [](const void *r, int64_t i) { return hearth_neon_half(((const uint16_t *)r)[i]); });
}
void axpy_rows_bf16(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_floatlike(n, rows, coef, nrows, y,
                      [](const void *r, int64_t i) { return hearth_neon_load4_bf16((const uint16_t *)r + i); },
                      [](const void *r, int64_t i) { return hearth_bf16_to_f32(((const uint16_t *)r)[i]); });
}

// Q8_0/Q4_0 rows: each block's bytes widened to floats and scaled by coef * d, two rows per pass over y.
template <class B>
void axpy_rows_q(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  for (int k = 0; k < nrows; k += 2) {
    const int nk = k + 1 < nrows ? 2 : 1;
    for (int64_t b = 0; b < n / 32; ++b) {
      float32x4_t acc[8];
      for (int j = 0; j < 8; ++j) acc[j] = vld1q_f32(y + 32 * b + 4 * j);
      for (int r = 0; r < nk; ++r) {
        const B &wb = ((const B *)rows[k + r])[b];
        int8x16_t lo, hi;
        weight_block(wb, lo, hi);
        const float a = coef[k + r] * hearth_neon_half(wb.d);
        float32x4_t f[4];
        hearth_neon_bytes_to_f32(lo, f);
        for (int j = 0; j < 4; ++j) acc[j] = vfmaq_n_f32(acc[j], f[j], a);
        hearth_neon_bytes_to_f32(hi, f);
        for (int j = 0; j < 4; ++j) acc[4 + j] = vfmaq_n_f32(acc[4 + j], f[j], a);
      }
      for (int j = 0; j < 8; ++j) vst1q_f32(y + 32 * b + 4 * j, acc[j]);
    }
  }
}

kernel_table make_table() {
  kernel_table t = ref_kernels();  // the block types without NEON rows keep the reference's
#if defined(__ARM_FEATURE_DOTPROD)
  t.isa = "dotprod";
#else
  t.isa = "neon";
#endif
  t.types[(uint32_t)dtype::f32] = {dot_f32, dot_f32, nullptr, axpy_rows_f32};
  t.types[(uint32_t)dtype::f16] = {dot_f16, dot_f16, nullptr, axpy_rows_f16};
  t.types[(uint32_t)dtype::bf16] = {dot_bf16, dot_bf16, nullptr, axpy_rows_bf16};
  t.types[(uint32_t)dtype::f32].gemv_rows = gemv_rows_f32;
  t.types[(uint32_t)dtype::f16].gemv_rows = gemv_rows_f16;
  t.types[(uint32_t)dtype::bf16].gemv_rows = gemv_rows_bf16;
  t.types[(uint32_t)dtype::q8_0] = {dot_q_n<block_q8_0>, dot_q_n<block_q8_0>, dot_rows_q<block_q8_0>, axpy_rows_q<block_q8_0>};
  t.types[(uint32_t)dtype::q4_0] = {dot_q_n<block_q4_0>, dot_q_n<block_q4_0>, dot_rows_q<block_q4_0>, axpy_rows_q<block_q4_0>};
  add_neon_attention_kernels(t);
#if defined(__ARM_FEATURE_DOTPROD)
  add_neon_dotprod_gemm_kernels(t);
  add_neon_dotprod_gemv_kernels(t);
#else
  add_neon_gemm_kernels(t);
  add_neon_gemv_kernels(t);
#endif
  t.quantize_q8_0 = quantize_q8_0;
  t.axpy_f32 = axpy_f32;
  return t;
}

}  // namespace

#if defined(__ARM_FEATURE_DOTPROD)
const kernel_table *neon_dotprod_kernels() {
#else
const kernel_table *neon_kernels() {
#endif
  static const kernel_table table = make_table();
  return &table;
}

}  // namespace hearth::cpu
