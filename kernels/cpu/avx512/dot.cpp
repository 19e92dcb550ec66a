// AVX-512 (F, BW, VL, VNNI) tier. Float weights take 16 lanes; quantized weights take two 32-element blocks per
// 512-bit register and use VPDPBUSD for the byte products.
#include <immintrin.h>

#include <cstring>

#include "../fp16.h"
#include "../kernels.h"
#include "../q8_aux.h"

namespace hearth::cpu {
namespace {

// A block's fp16 scale (its first two bytes) as a float: one 32-bit load and one conversion. The load also
// reads two quant bytes of the same block, so it never leaves the block.
inline float half_scale(const void *blk) {
  int32_t v;
  std::memcpy(&v, blk, 4);
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(v)));
}

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

void dot_f32(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  const float *wf = (const float *)w;
  dot_floatlike_n(
      n, [wf](int64_t i) { return _mm512_loadu_ps(wf + i); }, [wf](int64_t i) { return wf[i]; }, x, xs, nc, out);
}

void dot_f16(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike_n(
      n, [wh](int64_t i) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wh + i))); },
      [wh](int64_t i) { return hearth_fp16_to_f32(wh[i]); }, x, xs, nc, out);
}

void dot_bf16(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
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

// Unpacks one Q4_0 block's 16 bytes to 32 bytes 0..15 in element order.
inline __m256i nibbles(const uint8_t *qs) {
  const __m128i t = _mm_loadu_si128((const __m128i *)qs);
  return _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1),
                          _mm256_set1_epi8(0x0f));
}

constexpr int64_t k_prefetch_bytes = 4096;  // see the AVX2 tier

// 256-bit VPDPBUSD (AVX512-VL + VNNI) on one block at a time, two blocks per iteration into two accumulators.
// VPDPBUSD multiplies unsigned by signed bytes: Q4_0 nibbles are already unsigned, and the activation's bias
// (-8 * sum(x), see q8_aux) is the accumulator it starts from; Q8_0 weights give |w| and move their sign onto x.
// This measured faster than packing two blocks per 512-bit register, whose per-half scales cost more than the
// wider multiply saved.
template <bool Q4>
inline __m256i block_dot(const void *w, int64_t b, __m256i qx, const int32_t *bias, float *dw) {
  if constexpr (Q4) {
    const block_q4_0 &blk = ((const block_q4_0 *)w)[b];
    *dw = half_scale(&blk);
    return _mm256_dpbusd_epi32(_mm256_loadu_si256((const __m256i *)bias), nibbles(blk.qs), qx);
  } else {
    const block_q8_0 &blk = ((const block_q8_0 *)w)[b];
    *dw = half_scale(&blk);
    const __m256i q = _mm256_loadu_si256((const __m256i *)blk.qs);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(q, q), _mm256_sign_epi8(qx, q));
  }
}

template <int NC, bool Q4>
void dot_q(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, float *out) {
  const int64_t nb = n / 32;
  constexpr int64_t bsize = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  __m256 acc[NC][2];
  for (int c = 0; c < NC; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  auto step = [&](int64_t b, int k) {
    for (int c = 0; c < NC; ++c) {
      const block_q8_0 &xb = qcol(x, xs, c)[b];
      float dw;
      const __m256i s = block_dot<Q4>(w, b, _mm256_loadu_si256((const __m256i *)xb.qs), Q4 ? aux->bias + (c * nb + b) * 8 : nullptr, &dw);
      acc[c][k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * aux->scale[c * nb + b]), _mm256_cvtepi32_ps(s), acc[c][k]);
    }
  };
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    _mm_prefetch((const char *)w + b * bsize + k_prefetch_bytes, _MM_HINT_T1);
    step(b, 0);
    step(b + 1, 1);
  }
  if (b < nb) step(b, 0);
  for (int c = 0; c < NC; ++c) {
    const __m256 v = _mm256_add_ps(acc[c][0], acc[c][1]);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    out[c] = _mm_cvtss_f32(s);
  }
}

template <bool Q4>
void dot_q_n(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  switch (nc) {
    case 1: return dot_q<1, Q4>(n, w, x, xs, aux, out);
    case 2: return dot_q<2, Q4>(n, w, x, xs, aux, out);
    case 3: return dot_q<3, Q4>(n, w, x, xs, aux, out);
    default: return dot_q<4, Q4>(n, w, x, xs, aux, out);
  }
}

void dot_q8_0(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  dot_q_n<false>(n, w, x, xs, aux, nc, out);
}
void dot_q4_0(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  dot_q_n<true>(n, w, x, xs, aux, nc, out);
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
  // Quantizing activations and the row axpys are memory-bound; the AVX2 routines serve this tier as they are.
  const kernel_table &a = *avx2_kernels();
  static const kernel_table table = {"avx512",          dot_f32,         dot_f16,          dot_bf16,
                                     dot_q8_0,          dot_q4_0,        a.quantize_q8_0,  axpy_f32,
                                     a.axpy_rows_f32,   a.axpy_rows_f16, a.axpy_rows_bf16, a.axpy_rows_q8_0,
                                     a.axpy_rows_q4_0};
  return &table;
}

}  // namespace hearth::cpu
