// AVX-512 (F, BW, VL, VNNI) tier. Float weights take 16 lanes; quantized weights take two 32-element blocks per
// 512-bit register and use VPDPBUSD for the byte products.
#include <immintrin.h>

#include "../fp16.h"
#include "../kernels.h"

namespace hearth::cpu {
namespace {

inline const float *col(const void *x, size_t stride, int c) {
  return (const float *)((const char *)x + c * stride);
}

template <int NC, class Load, class Scalar>
void dot_floatlike(int64_t n, const Load &load, const Scalar &scalar, const void *x, size_t xs, float *out) {
  __m512 acc[NC][2];
  for (int c = 0; c < NC; ++c) acc[c][0] = acc[c][1] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 w0 = load(i), w1 = load(i + 16);
    for (int c = 0; c < NC; ++c) {
      const float *xc = col(x, xs, c);
      acc[c][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xc + i), acc[c][0]);
      acc[c][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xc + i + 16), acc[c][1]);
    }
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 w0 = load(i);
    for (int c = 0; c < NC; ++c) acc[c][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(col(x, xs, c) + i), acc[c][0]);
  }
  for (int c = 0; c < NC; ++c) {
    float s = _mm512_reduce_add_ps(_mm512_add_ps(acc[c][0], acc[c][1]));
    const float *xc = col(x, xs, c);
    for (int64_t j = i; j < n; ++j) s += scalar(j) * xc[j];
    out[c] = s;
  }
}

template <class Load, class Scalar>
void dot_floatlike_n(int64_t n, const Load &load, const Scalar &scalar, const void *x, size_t xs, int nc,
                     float *out) {
  switch (nc) {
    case 1: return dot_floatlike<1>(n, load, scalar, x, xs, out);
    case 2: return dot_floatlike<2>(n, load, scalar, x, xs, out);
    case 3: return dot_floatlike<3>(n, load, scalar, x, xs, out);
    default: return dot_floatlike<4>(n, load, scalar, x, xs, out);
  }
}

void dot_f32(int64_t n, const void *w, const void *x, size_t xs, int nc, float *out) {
  const float *wf = (const float *)w;
  dot_floatlike_n(
      n, [wf](int64_t i) { return _mm512_loadu_ps(wf + i); }, [wf](int64_t i) { return wf[i]; }, x, xs, nc, out);
}

void dot_f16(int64_t n, const void *w, const void *x, size_t xs, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike_n(
      n, [wh](int64_t i) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wh + i))); },
      [wh](int64_t i) { return hearth_fp16_to_f32(wh[i]); }, x, xs, nc, out);
}

void dot_bf16(int64_t n, const void *w, const void *x, size_t xs, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike_n(
      n,
      [wh](int64_t i) {
        const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(wh + i)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      },
      [wh](int64_t i) { return hearth_bf16_to_f32(wh[i]); }, x, xs, nc, out);
}

inline const block_q8_0 *qcol(const void *x, size_t stride, int c) {
  return (const block_q8_0 *)((const char *)x + c * stride);
}

inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// Unpacks one Q4_0 block's 16 bytes to 32 bytes 0..15 in element order.
inline __m256i nibbles(const uint8_t *qs) {
  const __m128i t = _mm_loadu_si128((const __m128i *)qs);
  return _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1),
                          _mm256_set1_epi8(0x0f));
}

// Q8_0 weights are signed, VPDPBUSD wants one unsigned operand: use |w| and move w's sign onto x (VPSIGNB on
// 256-bit halves). Q4_0 nibbles are already unsigned: sum(q*x) - 8*sum(x).
template <int NC, bool Q4>
void dot_q(int64_t n, const void *w, const void *x, size_t xs, float *out) {
  const int64_t nb = n / 32;
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  const __m512i eights = _mm512_set1_epi8(8);
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    __m256i w0, w1;
    float d0, d1;
    if constexpr (Q4) {
      const block_q4_0 *blk = (const block_q4_0 *)w + b;
      w0 = nibbles(blk[0].qs);
      w1 = nibbles(blk[1].qs);
      d0 = _cvtsh_ss(blk[0].d);
      d1 = _cvtsh_ss(blk[1].d);
    } else {
      const block_q8_0 *blk = (const block_q8_0 *)w + b;
      w0 = _mm256_loadu_si256((const __m256i *)blk[0].qs);
      w1 = _mm256_loadu_si256((const __m256i *)blk[1].qs);
      d0 = _cvtsh_ss(blk[0].d);
      d1 = _cvtsh_ss(blk[1].d);
    }
    const __m512i qw = Q4 ? join(w0, w1) : join(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(w1, w1));
    for (int c = 0; c < NC; ++c) {
      const block_q8_0 *xb = qcol(x, xs, c) + b;
      __m256i x0 = _mm256_loadu_si256((const __m256i *)xb[0].qs);
      __m256i x1 = _mm256_loadu_si256((const __m256i *)xb[1].qs);
      __m512i s;
      if constexpr (Q4) {
        const __m512i qx = join(x0, x1);
        s = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), qw, qx),
                             _mm512_dpbusd_epi32(_mm512_setzero_si512(), eights, qx));
      } else {
        s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qw, join(_mm256_sign_epi8(x0, w0), _mm256_sign_epi8(x1, w1)));
      }
      const __m512 scale = _mm512_mask_blend_ps((__mmask16)0xff00, _mm512_set1_ps(d0 * _cvtsh_ss(xb[0].d)),
                                                _mm512_set1_ps(d1 * _cvtsh_ss(xb[1].d)));
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) {
    float s = _mm512_reduce_add_ps(acc[c]);
    for (int64_t t = b; t < nb; ++t) {  // odd last block
      const block_q8_0 &xb = qcol(x, xs, c)[t];
      int32_t isum = 0;
      float dw;
      if constexpr (Q4) {
        const block_q4_0 &blk = ((const block_q4_0 *)w)[t];
        for (int j = 0; j < 16; ++j)
          isum += ((blk.qs[j] & 15) - 8) * (int32_t)xb.qs[j] + ((blk.qs[j] >> 4) - 8) * (int32_t)xb.qs[j + 16];
        dw = _cvtsh_ss(blk.d);
      } else {
        const block_q8_0 &blk = ((const block_q8_0 *)w)[t];
        for (int j = 0; j < 32; ++j) isum += (int32_t)blk.qs[j] * xb.qs[j];
        dw = _cvtsh_ss(blk.d);
      }
      s += dw * _cvtsh_ss(xb.d) * (float)isum;
    }
    out[c] = s;
  }
}

template <bool Q4>
void dot_q_n(int64_t n, const void *w, const void *x, size_t xs, int nc, float *out) {
  switch (nc) {
    case 1: return dot_q<1, Q4>(n, w, x, xs, out);
    case 2: return dot_q<2, Q4>(n, w, x, xs, out);
    case 3: return dot_q<3, Q4>(n, w, x, xs, out);
    default: return dot_q<4, Q4>(n, w, x, xs, out);
  }
}

void dot_q8_0(int64_t n, const void *w, const void *x, size_t xs, int nc, float *out) {
  dot_q_n<false>(n, w, x, xs, nc, out);
}
void dot_q4_0(int64_t n, const void *w, const void *x, size_t xs, int nc, float *out) {
  dot_q_n<true>(n, w, x, xs, nc, out);
}

void axpy_f32(int64_t n, float a, const float *x, float *y) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

}  // namespace

const kernel_table *avx512_kernels() {
  // Quantizing activations is not the bottleneck; the AVX2 routine gives identical blocks.
  static const kernel_table table = {"avx512", dot_f32, dot_f16, dot_bf16, dot_q8_0,
                                     dot_q4_0, avx2_kernels()->quantize_q8_0, axpy_f32};
  return &table;
}

}  // namespace hearth::cpu
