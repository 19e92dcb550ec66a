// AVX2 + FMA + F16C tier. Compiled with -mavx2 -mfma -mf16c; only run after the dispatcher checked the CPU.
#include <immintrin.h>

#include <cstring>

#include <cmath>

#include "../fp16.h"
#include "../gemv_rows.h"
#include "../kernels.h"
#include "../q8_aux.h"
#include "../widths.h"
#include "../x86_common.h"

namespace hearth::cpu {
namespace {

inline const float *col(const void *x, size_t stride, int c) {
  return (const float *)((const char *)x + c * stride);
}

// Float-like weights: Load(i) returns 8 weights starting at element i as floats, Scalar(i) one weight.
template <int NC, class Load, class Scalar>
void dot_floatlike(int64_t n, const Load &load, const Scalar &scalar, const void *x, size_t xs, float *out) {
  __m256 acc[NC][2];
  for (int c = 0; c < NC; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = load(i), w1 = load(i + 8);
    for (int c = 0; c < NC; ++c) {
      const float *xc = col(x, xs, c);
      acc[c][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xc + i), acc[c][0]);
      acc[c][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xc + i + 8), acc[c][1]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 w0 = load(i);
    for (int c = 0; c < NC; ++c) acc[c][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(col(x, xs, c) + i), acc[c][0]);
  }
  for (int c = 0; c < NC; ++c) {
    float s = hearth_hsum256(_mm256_add_ps(acc[c][0], acc[c][1]));
    const float *xc = col(x, xs, c);
    for (int64_t j = i; j < n; ++j) s += scalar(j) * xc[j];
    out[c] = s;
  }
}

template <class Load, class Scalar>
void dot_floatlike_n(int64_t n, const Load &load, const Scalar &scalar, const void *x, size_t xs, int nc,
                     float *out) {
  hearth_with_width<1, 2, 3, 4>(nc, [&](auto c) { dot_floatlike<decltype(c)::value>(n, load, scalar, x, xs, out); });
}

void dot_f32(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  const float *wf = (const float *)w;
  dot_floatlike_n(
      n, [wf](int64_t i) { return _mm256_loadu_ps(wf + i); }, [wf](int64_t i) { return wf[i]; }, x, xs, nc, out);
}

void dot_f16(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike_n(
      n, [wh](int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wh + i))); },
      [wh](int64_t i) { return hearth_fp16_to_f32(wh[i]); }, x, xs, nc, out);
}

void dot_bf16(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  const uint16_t *wh = (const uint16_t *)w;
  dot_floatlike_n(
      n,
      [wh](int64_t i) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(wh + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
      },
      [wh](int64_t i) { return hearth_bf16_to_f32(wh[i]); }, x, xs, nc, out);
}

constexpr int64_t k_float_prefetch_bytes = 2048;

// R rows side by side against one column, each row's sum formed as dot_floatlike<1> forms it (the same lanes, the
// same order), so the values are dot's bit for bit. Load(row, i) and Scalar(row, i) read row's element i on, EB
// bytes an element. Each stream is prefetched 2 KiB ahead into L1: on one thread of the Xeon VM F16 went from
// 12.6-14.3 to 15.5 GB/s (1, 2 and 4 KiB, into L1 and L2, measured; 2 KiB into L1 was as good as any).
template <int R, int EB, class Load, class Scalar>
void dot_floatlike_rows(int64_t n, const uint8_t *w, size_t row_bytes, const Load &load, const Scalar &scalar,
                        const float *x, float *y) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
    for (int r = 0; r < R; ++r) {
      _mm_prefetch((const char *)(w + r * row_bytes) + i * EB + k_float_prefetch_bytes, _MM_HINT_T0);
      acc[r][0] = _mm256_fmadd_ps(load(w + r * row_bytes, i), x0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(load(w + r * row_bytes, i + 8), x1, acc[r][1]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 x0 = _mm256_loadu_ps(x + i);
    for (int r = 0; r < R; ++r) acc[r][0] = _mm256_fmadd_ps(load(w + r * row_bytes, i), x0, acc[r][0]);
  }
  for (int r = 0; r < R; ++r) {
    float s = hearth_hsum256(_mm256_add_ps(acc[r][0], acc[r][1]));
    for (int64_t j = i; j < n; ++j) s += scalar(w + r * row_bytes, j) * x[j];
    y[r] = s;
  }
}

template <int EB, class Load, class Scalar>
void gemv_rows_floatlike(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const Load &load,
                         const Scalar &scalar, const float *x, float *y) {
  hearth_walk_quarters(w, row_bytes, nrows, y, [&](auto R, const uint8_t *first, size_t stride, float *out) {
    dot_floatlike_rows<decltype(R)::value, EB>(n, first, stride, load, scalar, x, out);
  });
}

void gemv_rows_f32(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y) {
  gemv_rows_floatlike<4>(
      n, w, row_bytes, nrows, [](const uint8_t *p, int64_t i) { return _mm256_loadu_ps((const float *)p + i); },
      [](const uint8_t *p, int64_t i) { float f; std::memcpy(&f, p + 4 * i, 4); return f; }, x, y);
}

void gemv_rows_f16(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y) {
  gemv_rows_floatlike<2>(
      n, w, row_bytes, nrows,
      [](const uint8_t *p, int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i))); },
      [](const uint8_t *p, int64_t i) { return hearth_fp16_to_f32(((const uint16_t *)p)[i]); }, x, y);
}

void gemv_rows_bf16(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y) {
  gemv_rows_floatlike<2>(
      n, w, row_bytes, nrows,
      [](const uint8_t *p, int64_t i) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
      },
      [](const uint8_t *p, int64_t i) { return hearth_bf16_to_f32(((const uint16_t *)p)[i]); }, x, y);
}

// Sum of products of signed bytes a*b as 8 int32 lanes (|a| <= 127 or the pair sums cannot saturate).
inline __m256i mul_sum_i8(__m256i a, __m256i b) {
  const __m256i ax = _mm256_sign_epi8(a, a);
  const __m256i sb = _mm256_sign_epi8(b, a);
  const __m256i dot16 = _mm256_maddubs_epi16(ax, sb);
  return _mm256_madd_epi16(dot16, _mm256_set1_epi16(1));
}

inline const block_q8_0 *qcol(const void *x, size_t stride, int c) {
  return (const block_q8_0 *)((const char *)x + c * stride);
}

// One block's weights and scale: Q4_0 as unsigned nibbles 0..15 (the -8 comes from the activation's bias), Q8_0 as
// signed bytes.
template <bool Q4>
inline __m256i load_block(const void *w, int64_t b, float *d) {
  if constexpr (Q4) {
    const block_q4_0 &blk = ((const block_q4_0 *)w)[b];
    *d = hearth_half_scale(&blk);
    return hearth_nibbles(blk.qs);
  } else {
    const block_q8_0 &blk = ((const block_q8_0 *)w)[b];
    *d = hearth_half_scale(&blk);
    return _mm256_loadu_si256((const __m256i *)blk.qs);
  }
}

// Measured on a 2-core Xeon VM streaming a 288 MB Q4_0 matrix on 2 threads: 24 blocks ahead into L1 gave
// 10 GB/s, 4 KiB ahead into L1 17 GB/s, 4 KiB ahead into L2 (T1) 19-20 GB/s; 2 or 8 KiB were slower.
constexpr int64_t k_prefetch_bytes = 4096;

// A block's weights: Q4_0 as unsigned nibbles 0..15 (the -8 comes with the activation's bias), Q8_0 as bytes.
template <bool Q4>
inline __m256i weight_block(const void *w, int64_t b) {
  if constexpr (Q4) return hearth_nibbles(((const block_q4_0 *)w)[b].qs);
  else return _mm256_loadu_si256((const __m256i *)((const block_q8_0 *)w)[b].qs);
}

// A block's exact int32 products against one activation block as 8 lanes (Q4_0: plus the -8 * sum(x) bias).
template <bool Q4>
inline __m256i block_products(__m256i qw, const block_q8_0 &xb, const int32_t *bias) {
  const __m256i qx = _mm256_loadu_si256((const __m256i *)xb.qs);
  if constexpr (Q4)
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(qw, qx), _mm256_set1_epi16(1)), _mm256_loadu_si256((const __m256i *)bias));
  else return mul_sum_i8(qw, qx);
}

// The weight scales of blocks b .. b + 7 as floats (0 past cnt), through the integer registers (four per 64-bit
// word) rather than one conversion and broadcast per block.
template <bool Q4>
inline __m256 block_scales8(const void *w, int64_t b, int cnt) {
  constexpr int64_t bsize = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  const uint8_t *p = (const uint8_t *)w + b * bsize;
  auto half = [p, cnt](int i) {
    uint16_t h = 0;
    if (i < cnt) std::memcpy(&h, p + i * bsize, 2);
    return (uint64_t)h;
  };
  const uint64_t lo = half(0) | half(1) << 16 | half(2) << 32 | half(3) << 48;
  const uint64_t hi = half(4) | half(5) << 16 | half(6) << 32 | half(7) << 48;
  return _mm256_cvtph_ps(_mm_set_epi64x((int64_t)hi, (int64_t)lo));
}

// One weight row against NC activation columns, eight blocks per float step: each block's 8 lanes of integer
// products are summed across lanes (exactly, in int32) into one lane per block, so the conversion, the scale and
// the FMA run once per eight blocks. The one-token product was bound by that per-block float work, not by
// memory (7.8 GB/s on one Zen 4 core that reads 22 GB/s). A weight block is decoded once for all the columns.
// The float operations per column are the same whatever NC, Stream or the caller (dot_rows), so a token's value
// is bit-identical however it is batched and a neuron's is the same on the sparse and the dense path.
template <int NC, bool Q4, bool Stream>
void dot_q(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, float *out) {
  const int64_t nb = n / 32;
  constexpr int64_t bsize = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b += 8) {
    const int cnt = (int)(nb - b < 8 ? nb - b : 8);
    // Weights stream from memory once per token: ask for them well ahead, since one core cannot keep enough
    // misses in flight by out-of-order execution alone.
    if constexpr (Stream)
      for (int64_t off = 0; off < 8 * bsize; off += 64) _mm_prefetch((const char *)w + b * bsize + off + k_prefetch_bytes, _MM_HINT_T1);
    // pairs of blocks: t[c][k] = hadd(products of block 2k, of block 2k + 1); blocks past cnt give 0
    __m256i t[NC][4];
    for (int k = 0; k < 4; ++k) {
      const int i0 = 2 * k, i1 = 2 * k + 1;
      const __m256i w0 = i0 < cnt ? weight_block<Q4>(w, b + i0) : _mm256_setzero_si256();
      const __m256i w1 = i1 < cnt ? weight_block<Q4>(w, b + i1) : _mm256_setzero_si256();
      for (int c = 0; c < NC; ++c) {
        const block_q8_0 *xc = qcol(x, xs, c);
        const int32_t *bc = aux->bias + (c * nb + b) * 8;
        const __m256i p0 = i0 < cnt ? block_products<Q4>(w0, xc[b + i0], bc + i0 * 8) : _mm256_setzero_si256();
        const __m256i p1 = i1 < cnt ? block_products<Q4>(w1, xc[b + i1], bc + i1 * 8) : _mm256_setzero_si256();
        t[c][k] = _mm256_hadd_epi32(p0, p1);
      }
    }
    const __m256 dw = block_scales8<Q4>(w, b, cnt);
    for (int c = 0; c < NC; ++c) {
      const __m256i v = hearth_block_sums8(t[c]);
      const float *xsc = aux->scale + c * nb + b;
      __m256 xd;
      if (cnt == 8) {
        xd = _mm256_loadu_ps(xsc);
      } else {
        alignas(32) float tail[8] = {};
        for (int i = 0; i < cnt; ++i) tail[i] = xsc[i];
        xd = _mm256_load_ps(tail);
      }
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(dw, xd), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) out[c] = hearth_hsum256(acc[c]);
}

template <bool Q4, bool Stream = true>
void dot_q_n(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  hearth_with_width<1, 2, 3, 4>(nc, [&](auto c) { dot_q<decltype(c)::value, Q4, Stream>(n, w, x, xs, aux, out); });
}

void dot_q8_0(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  dot_q_n<false>(n, w, x, xs, aux, nc, out);
}
void dot_q4_0(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  dot_q_n<true>(n, w, x, xs, aux, nc, out);
}
void dot_q8_0_gather(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  dot_q_n<false, false>(n, w, x, xs, aux, nc, out);
}
void dot_q4_0_gather(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, int nc, float *out) {
  dot_q_n<true, false>(n, w, x, xs, aux, nc, out);
}

// Rows anywhere in memory against one activation vector, each through dot_q, with the row two ahead requested
// while this one is read (short rows, a predictor's fc2, are a few cache lines each).
template <bool Q4>
void dot_rows_q(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *aux, float *out) {
  const int64_t bytes = (n / 32) * (int64_t)(Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0));
  for (int r = 0; r < nrows; ++r) {
    if (r + 2 < nrows)
      for (int64_t off = 0; off < bytes && off < 512; off += 64) _mm_prefetch((const char *)rows[r + 2] + off, _MM_HINT_T0);
    dot_q<1, Q4, false>(n, rows[r], x, 0, aux, out + r);
  }
}

void dot_rows_q8_0(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *aux, float *out) {
  dot_rows_q<false>(n, rows, nrows, x, aux, out);
}
void dot_rows_q4_0(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *aux, float *out) {
  dot_rows_q<true>(n, rows, nrows, x, aux, out);
}

void quantize_q8_0(const float *x, void *y, float *scale, int32_t *bias, int64_t n) {
  block_q8_0 *yb = (block_q8_0 *)y;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float *xb = x + b * 32;
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = hearth_finite256(_mm256_loadu_ps(xb + 8 * k));
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
    }
    const float amax = hearth_hmax256(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    yb[b].d = hearth_f32_to_fp16(d);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; ++k)
      q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm256_storeu_si256((__m256i *)yb[b].qs, hearth_pack_levels32(q));
    hearth_q8_aux(yb[b], scale ? scale + b : nullptr, bias ? bias + 8 * b : nullptr);
  }
}

void axpy_f32(int64_t n, float a, const float *x, float *y) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

// ---- neuron-aware axpy over rows ------------------------------------------------------------------------

// Float-like rows: Load(row, i) gives 8 elements as floats.
template <class Load, class Scalar>
void axpy_rows_floatlike(int64_t n, const void *const *rows, const float *coef, int nrows, float *y, const Load &load,
                         const Scalar &scalar) {
  int k = 0;
  for (; k + 2 <= nrows; k += 2) {
    const __m256 a0 = _mm256_set1_ps(coef[k]), a1 = _mm256_set1_ps(coef[k + 1]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(y + i);
      v = _mm256_fmadd_ps(a0, load(rows[k], i), v);
      v = _mm256_fmadd_ps(a1, load(rows[k + 1], i), v);
      _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; ++i) y[i] += coef[k] * scalar(rows[k], i) + coef[k + 1] * scalar(rows[k + 1], i);
  }
  for (; k < nrows; ++k) {
    const __m256 a0 = _mm256_set1_ps(coef[k]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a0, load(rows[k], i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += coef[k] * scalar(rows[k], i);
  }
}

void axpy_rows_f32(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_floatlike(
      n, rows, coef, nrows, y, [](const void *r, int64_t i) { return _mm256_loadu_ps((const float *)r + i); },
      [](const void *r, int64_t i) { return ((const float *)r)[i]; });
}
void axpy_rows_f16(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_floatlike(
      n, rows, coef, nrows, y,
      [](const void *r, int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)r + i))); },
      [](const void *r, int64_t i) { return hearth_fp16_to_f32(((const uint16_t *)r)[i]); });
}
void axpy_rows_bf16(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_floatlike(
      n, rows, coef, nrows, y,
      [](const void *r, int64_t i) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)r + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
      },
      [](const void *r, int64_t i) { return hearth_bf16_to_f32(((const uint16_t *)r)[i]); });
}

// acc[0..3] (32 floats) += a * bytes
inline void fma_bytes(__m256 acc[4], __m256i q, __m256 a) {
  const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
  acc[0] = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), acc[0]);
  acc[1] = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), acc[1]);
  acc[2] = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), acc[2]);
  acc[3] = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), acc[3]);
}

template <bool Q4>
void axpy_rows_q(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  const int64_t nb = n / 32;
  constexpr int64_t bsize = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  int k = 0;
  for (; k < nrows; k += 2) {
    const bool pair = k + 1 < nrows;
    for (int64_t b = 0; b < nb; ++b) {
      // Gathered rows defeat the hardware prefetcher: the next pair's rows are requested at the pace this pair
      // is read, one pair ahead.
      if (k + 2 < nrows) _mm_prefetch((const char *)rows[k + 2] + b * bsize, _MM_HINT_T0);
      if (k + 3 < nrows) _mm_prefetch((const char *)rows[k + 3] + b * bsize, _MM_HINT_T0);
      __m256 acc[4];
      for (int j = 0; j < 4; ++j) acc[j] = _mm256_loadu_ps(y + b * 32 + 8 * j);
      if constexpr (Q4) {
        // Widen the raw bytes once and split the nibbles in 32-bit lanes; the -8 of every element becomes one
        // subtraction of 8 * sum(a d) per block (as in the AVX-512 tier).
        __m256 offset = _mm256_setzero_ps();
        for (int r = 0; r < (pair ? 2 : 1); ++r) {
          const block_q4_0 &blk = ((const block_q4_0 *)rows[k + r])[b];
          const __m256 a = _mm256_set1_ps(coef[k + r] * hearth_half_scale(&blk));
          const __m128i raw = _mm_loadu_si128((const __m128i *)blk.qs);
          const __m256i v0 = _mm256_cvtepu8_epi32(raw), v1 = _mm256_cvtepu8_epi32(_mm_srli_si128(raw, 8));
          const __m256i m = _mm256_set1_epi32(15);
          acc[0] = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(_mm256_and_si256(v0, m)), acc[0]);  // elements 0-7
          acc[1] = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(_mm256_and_si256(v1, m)), acc[1]);  // 8-15
          acc[2] = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(_mm256_srli_epi32(v0, 4)), acc[2]);  // 16-23
          acc[3] = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(_mm256_srli_epi32(v1, 4)), acc[3]);  // 24-31
          offset = _mm256_add_ps(offset, a);
        }
        for (int j = 0; j < 4; ++j) acc[j] = _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), offset, acc[j]);
      } else {
        float d0;
        const __m256i q0 = load_block<false>(rows[k], b, &d0);
        fma_bytes(acc, q0, _mm256_set1_ps(coef[k] * d0));
        if (pair) {
          float d1;
          const __m256i q1 = load_block<false>(rows[k + 1], b, &d1);
          fma_bytes(acc, q1, _mm256_set1_ps(coef[k + 1] * d1));
        }
      }
      for (int j = 0; j < 4; ++j) _mm256_storeu_ps(y + b * 32 + 8 * j, acc[j]);
    }
  }
}

void axpy_rows_q8_0(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_q<false>(n, rows, coef, nrows, y);
}
void axpy_rows_q4_0(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_q<true>(n, rows, coef, nrows, y);
}

kernel_table make_table() {
  kernel_table t{};
  t.isa = "avx2";
  t.types[(uint32_t)dtype::f32] = {dot_f32, dot_f32, nullptr, axpy_rows_f32};
  t.types[(uint32_t)dtype::f16] = {dot_f16, dot_f16, nullptr, axpy_rows_f16};
  t.types[(uint32_t)dtype::bf16] = {dot_bf16, dot_bf16, nullptr, axpy_rows_bf16};
  t.types[(uint32_t)dtype::q8_0] = {dot_q8_0, dot_q8_0_gather, dot_rows_q8_0, axpy_rows_q8_0};
  t.types[(uint32_t)dtype::q4_0] = {dot_q4_0, dot_q4_0_gather, dot_rows_q4_0, axpy_rows_q4_0};
  add_avx2_quant_kernels(t);
  add_avx2_attention_kernels(t);
  add_avx2_gemm_kernels(t);
  add_avx2_kquant_gemm_kernels(t);
  add_avx2_gemv_kernels(t);
  t.quantize_q8_0 = quantize_q8_0;
  t.types[(uint32_t)dtype::f32].gemv_rows = gemv_rows_f32;
  t.types[(uint32_t)dtype::f16].gemv_rows = gemv_rows_f16;
  t.types[(uint32_t)dtype::bf16].gemv_rows = gemv_rows_bf16;
  t.axpy_f32 = axpy_f32;
  return t;
}

}  // namespace

const kernel_table *avx2_kernels() {
  static const kernel_table table = make_table();
  return &table;
}

}  // namespace hearth::cpu
