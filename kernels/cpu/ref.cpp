// Reference tier: plain scalar loops, always built. The SIMD tiers are tested against these, and these against
// float64 loops in the tests.
#include <cmath>
#include <type_traits>

#include "../../lib/dtype.h"
#include "../../lib/quants.h"
#include "fp16.h"
#include "kernels.h"
#include "q8_aux.h"

namespace hearth::cpu {
namespace {

template <class Load>
void dot_floatlike(int64_t n, const Load &load, const void *x, size_t x_stride, int ncols, float *out) {
  for (int c = 0; c < ncols; ++c) {
    const float *xc = (const float *)((const char *)x + c * x_stride);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += load(i) * xc[i];
    out[c] = sum;
  }
}

void dot_f32(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const float *wf = (const float *)w;
  dot_floatlike(n, [wf](int64_t i) { return wf[i]; }, x, xs, nc, out);
}
void dot_f16(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike(n, [wh](int64_t i) { return hearth_fp16_to_f32(wh[i]); }, x, xs, nc, out);
}
void dot_bf16(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike(n, [wh](int64_t i) { return hearth_bf16_to_f32(wh[i]); }, x, xs, nc, out);
}

void dot_q8_0(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const block_q8_0 *wb = (const block_q8_0 *)w;
  const int64_t nb = n / qk8_0;
  for (int c = 0; c < nc; ++c) {
    const block_q8_0 *xb = (const block_q8_0 *)((const char *)x + c * xs);
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t isum = 0;
      for (int j = 0; j < qk8_0; ++j) isum += (int32_t)wb[b].qs[j] * xb[b].qs[j];
      sum += hearth_fp16_to_f32(wb[b].d) * hearth_fp16_to_f32(xb[b].d) * (float)isum;
    }
    out[c] = sum;
  }
}

void dot_q4_0(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const block_q4_0 *wb = (const block_q4_0 *)w;
  const int64_t nb = n / qk4_0;
  for (int c = 0; c < nc; ++c) {
    const block_q8_0 *xb = (const block_q8_0 *)((const char *)x + c * xs);
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t isum = 0;
      for (int j = 0; j < 16; ++j) {
        isum += ((wb[b].qs[j] & 15) - 8) * (int32_t)xb[b].qs[j];
        isum += ((wb[b].qs[j] >> 4) - 8) * (int32_t)xb[b].qs[j + 16];
      }
      sum += hearth_fp16_to_f32(wb[b].d) * hearth_fp16_to_f32(xb[b].d) * (float)isum;
    }
    out[c] = sum;
  }
}

// Row groups (kernels.h): each row on its own, its integer block products from the interleaved words, folded in
// block order by a multiply and an add as every tier does (this file is compiled with -ffp-contract=off).
template <bool Q4>
void gemv_groups(int64_t n, const void *groups, int64_t nrows, const void *x, const q8_aux *, float *y) {
  using group_block = std::conditional_t<Q4, block_q4_0x16, block_q8_0x16>;
  const int64_t nb = n / 32;
  const block_q8_0 *xb = (const block_q8_0 *)x;
  for (int64_t r = 0; r < nrows; ++r) {
    const group_block *blocks = (const group_block *)groups + (r / k_group_rows) * nb;
    const int lane = (int)(r % k_group_rows);
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t isum = 0;
      for (int k = 0; k < (Q4 ? 4 : 8); ++k)
        for (int j = 0; j < 4; ++j) {
          const uint8_t q = blocks[b].qs[k][lane][j];
          if constexpr (Q4) isum += ((q & 15) - 8) * (int32_t)xb[b].qs[4 * k + j] + ((q >> 4) - 8) * (int32_t)xb[b].qs[16 + 4 * k + j];
          else isum += (int32_t)(int8_t)(q ^ 0x80) * xb[b].qs[4 * k + j];
        }
      sum += (float)isum * (hearth_fp16_to_f32(blocks[b].d[lane]) * hearth_fp16_to_f32(xb[b].d));
    }
    y[r] = sum;
  }
}

// Round half to even (nearbyintf in the default mode), the same rounding the SIMD tiers use, so every tier
// produces identical blocks.
void quantize_q8_0(const float *x, void *y, float *scale, int32_t *bias, int64_t n) {
  block_q8_0 *yb = (block_q8_0 *)y;
  for (int64_t b = 0; b < n / qk8_0; ++b) {
    const float *xb = x + b * qk8_0;
    // Non-finite values count as 0: NaN or infinity times the scale must not reach the float-to-int conversion.
    float v[qk8_0];
    float amax = 0.0f;
    for (int j = 0; j < qk8_0; ++j) {
      v[j] = std::isfinite(xb[j]) ? xb[j] : 0.0f;
      amax = std::fmax(amax, std::fabs(v[j]));
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    yb[b].d = hearth_f32_to_fp16(d);
    for (int j = 0; j < qk8_0; ++j) yb[b].qs[j] = (int8_t)std::nearbyint(v[j] * id);
    hearth_q8_aux(yb[b], scale ? scale + b : nullptr, bias ? bias + 8 * b : nullptr);
  }
}

void axpy_f32(int64_t n, float a, const float *x, float *y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// Rows one at a time through a type's one-column dot.
template <dot_fn Dot>
void dot_rows_each(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *aux, float *out) {
  for (int r = 0; r < nrows; ++r) Dot(n, rows[r], x, 0, aux, 1, out + r);
}

template <class Decode>
void axpy_rows(int64_t n, const void *const *rows, const float *coef, int nrows, float *y, const Decode &decode) {
  for (int k = 0; k < nrows; ++k)
    for (int64_t i = 0; i < n; ++i) y[i] += coef[k] * decode(rows[k], i);
}

void axpy_rows_f32(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows(n, rows, coef, nrows, y, [](const void *r, int64_t i) { return ((const float *)r)[i]; });
}
void axpy_rows_f16(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows(n, rows, coef, nrows, y, [](const void *r, int64_t i) { return hearth_fp16_to_f32(((const uint16_t *)r)[i]); });
}
void axpy_rows_bf16(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows(n, rows, coef, nrows, y, [](const void *r, int64_t i) { return hearth_bf16_to_f32(((const uint16_t *)r)[i]); });
}
// Block types beyond Q4_0/Q8_0: weights and activations decoded block by block (dtype traits) and multiplied in
// floats. The oracle the SIMD tiers are tested against; itself tested against float64 loops. (Q4_0/Q8_0 keep their
// integer dots above; their row axpy is this decoded one.)
template <dtype W>
void dot_decoded(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  const dtype_traits &tw = traits(W), &tx = traits(tw.vec_dot_type);
  const int64_t be = tw.block_elems;  // 32 or 256; the activation block is the same size
  float wf[256], xf[256];
  for (int c = 0; c < nc; ++c) out[c] = 0.0f;
  for (int64_t b = 0; b < n / be; ++b) {
    tw.to_float((const uint8_t *)w + b * tw.block_bytes, wf, be);
    for (int c = 0; c < nc; ++c) {
      tx.to_float((const uint8_t *)x + c * xs + b * tx.block_bytes * (be / tx.block_elems), xf, be);
      float s = 0.0f;
      for (int64_t j = 0; j < be; ++j) s += wf[j] * xf[j];
      // Q8_1's own sum is not read: decoding its bytes gives the same values exactly.
      out[c] += s;
    }
  }
}
template <dtype W>
void axpy_rows_decoded(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  const dtype_traits &tw = traits(W);
  const int64_t be = tw.block_elems;
  float wf[256];
  for (int k = 0; k < nrows; ++k)
    for (int64_t b = 0; b < n / be; ++b) {
      tw.to_float((const uint8_t *)rows[k] + b * tw.block_bytes, wf, be);
      for (int64_t j = 0; j < be; ++j) y[b * be + j] += coef[k] * wf[j];
    }
}
template <dtype W>
type_kernels decoded_row() {
  return {dot_decoded<W>, dot_decoded<W>, dot_rows_each<dot_decoded<W>>, axpy_rows_decoded<W>};
}

// Element i of a KV head's slice in the cache's type.
template <dtype T>
float kv_element(const uint8_t *row, int i) {
  if constexpr (T == dtype::f32) return ((const float *)row)[i];
  else if constexpr (T == dtype::f16) return hearth_fp16_to_f32(((const uint16_t *)row)[i]);
  else {
    const block_q8_0 &b = ((const block_q8_0 *)row)[i / qk8_0];
    return hearth_fp16_to_f32(b.d) * (float)b.qs[i % qk8_0];
  }
}

// The online softmax one position at a time: the definition the SIMD tiers' blocked versions are tested against.
template <dtype TK, dtype TV>
void attend_ref(int hd, int n_q, const float *q, const void *k, const void *v, size_t k_row, size_t v_row, int64_t n_pos,
                float scale, float cap, float *m, float *l, float *acc) {
  for (int64_t p = 0; p < n_pos; ++p) {
    const uint8_t *kp = (const uint8_t *)k + p * k_row, *vp = (const uint8_t *)v + p * v_row;
    for (int h = 0; h < n_q; ++h) {
      float s = 0.0f;
      for (int i = 0; i < hd; ++i) s += q[h * hd + i] * kv_element<TK>(kp, i);
      s *= scale;
      if (cap > 0) s = cap * std::tanh(s / cap);
      float *a = acc + h * hd;
      if (s > m[h]) {  // a new maximum rescales what was summed so far (by 0 the first time)
        const float f = std::exp(m[h] - s);
        l[h] *= f;
        for (int i = 0; i < hd; ++i) a[i] *= f;
        m[h] = s;
      }
      const float e = std::exp(s - m[h]);
      l[h] += e;
      for (int i = 0; i < hd; ++i) a[i] += e * kv_element<TV>(vp, i);
    }
  }
}

kernel_table make_table() {
  kernel_table t{};
  t.isa = "ref";
  t.types[(uint32_t)dtype::f32] = {dot_f32, dot_f32, nullptr, axpy_rows_f32};
  t.types[(uint32_t)dtype::f16] = {dot_f16, dot_f16, nullptr, axpy_rows_f16};
  t.types[(uint32_t)dtype::bf16] = {dot_bf16, dot_bf16, nullptr, axpy_rows_bf16};
  t.types[(uint32_t)dtype::q8_0] = {dot_q8_0, dot_q8_0, dot_rows_each<dot_q8_0>, axpy_rows_decoded<dtype::q8_0>};
  t.types[(uint32_t)dtype::q4_0] = {dot_q4_0, dot_q4_0, dot_rows_each<dot_q4_0>, axpy_rows_decoded<dtype::q4_0>};
  t.types[(uint32_t)dtype::q8_0].gemv_groups = gemv_groups<false>;
  t.types[(uint32_t)dtype::q4_0].gemv_groups = gemv_groups<true>;
  t.types[(uint32_t)dtype::q4_1] = decoded_row<dtype::q4_1>();
  t.types[(uint32_t)dtype::q5_0] = decoded_row<dtype::q5_0>();
  t.types[(uint32_t)dtype::q5_1] = decoded_row<dtype::q5_1>();
  t.types[(uint32_t)dtype::iq4_nl] = decoded_row<dtype::iq4_nl>();
  t.types[(uint32_t)dtype::q2_k] = decoded_row<dtype::q2_k>();
  t.types[(uint32_t)dtype::q3_k] = decoded_row<dtype::q3_k>();
  t.types[(uint32_t)dtype::q4_k] = decoded_row<dtype::q4_k>();
  t.types[(uint32_t)dtype::q5_k] = decoded_row<dtype::q5_k>();
  t.types[(uint32_t)dtype::q6_k] = decoded_row<dtype::q6_k>();
  t.types[(uint32_t)dtype::iq4_xs] = decoded_row<dtype::iq4_xs>();
  constexpr dtype f32 = dtype::f32, f16 = dtype::f16, q8 = dtype::q8_0;
  t.attend_kv[0][0] = attend_ref<f32, f32>, t.attend_kv[0][1] = attend_ref<f32, f16>, t.attend_kv[0][2] = attend_ref<f32, q8>;
  t.attend_kv[1][0] = attend_ref<f16, f32>, t.attend_kv[1][1] = attend_ref<f16, f16>, t.attend_kv[1][2] = attend_ref<f16, q8>;
  t.attend_kv[2][0] = attend_ref<q8, f32>, t.attend_kv[2][1] = attend_ref<q8, f16>, t.attend_kv[2][2] = attend_ref<q8, q8>;
  t.quantize_q8_0 = quantize_q8_0;
  t.quantize_q8_k = quants::encode_q8_k;
  t.axpy_f32 = axpy_f32;
  return t;
}

}  // namespace

const kernel_table &ref_kernels() {
  static const kernel_table table = make_table();
  return table;
}

}  // namespace hearth::cpu
