// AVX-512 (F, BW, VL, VNNI) tier. Float weights take 16 lanes; quantized weights take two 32-element blocks per
// 512-bit register and use VPDPBUSD for the byte products.
#include <immintrin.h>

#include <cstring>

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
  hearth_with_width<1, 2, 3, 4>(nc, [&](auto c) { dot_floatlike<decltype(c)::value>(n, load, scalar, x, xs, out); });
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

constexpr int64_t k_float_prefetch_bytes = 2048;

// R rows side by side against one column, each row's sum formed as dot_floatlike<1> forms it (the same lanes, the
// same order), so the values are dot's bit for bit. Load(row, i) and Scalar(row, i) read row's element i on, EB
// bytes an element. Each stream is prefetched 2 KiB ahead into L1: on one thread of the Xeon VM F16 went from
// 12.6-14.3 to 15.5 GB/s (1, 2 and 4 KiB, into L1 and L2, measured; 2 KiB into L1 was as good as any).
template <int R, int EB, class Load, class Scalar>
void dot_floatlike_rows(int64_t n, const uint8_t *w, size_t row_bytes, const Load &load, const Scalar &scalar,
                        const float *x, float *y) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
    for (int r = 0; r < R; ++r) {
      _mm_prefetch((const char *)(w + r * row_bytes) + i * EB + k_float_prefetch_bytes, _MM_HINT_T0);
      acc[r][0] = _mm512_fmadd_ps(load(w + r * row_bytes, i), x0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(load(w + r * row_bytes, i + 16), x1, acc[r][1]);
    }
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 x0 = _mm512_loadu_ps(x + i);
    for (int r = 0; r < R; ++r) acc[r][0] = _mm512_fmadd_ps(load(w + r * row_bytes, i), x0, acc[r][0]);
  }
  for (int r = 0; r < R; ++r) {
    float s = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
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
      n, w, row_bytes, nrows, [](const uint8_t *p, int64_t i) { return _mm512_loadu_ps((const float *)p + i); },
      [](const uint8_t *p, int64_t i) { float f; std::memcpy(&f, p + 4 * i, 4); return f; }, x, y);
}

void gemv_rows_f16(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y) {
  gemv_rows_floatlike<2>(
      n, w, row_bytes, nrows,
      [](const uint8_t *p, int64_t i) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i))); },
      [](const uint8_t *p, int64_t i) { return hearth_fp16_to_f32(((const uint16_t *)p)[i]); }, x, y);
}

void gemv_rows_bf16(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y) {
  gemv_rows_floatlike<2>(
      n, w, row_bytes, nrows,
      [](const uint8_t *p, int64_t i) {
        const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      },
      [](const uint8_t *p, int64_t i) { return hearth_bf16_to_f32(((const uint16_t *)p)[i]); }, x, y);
}

inline const block_q8_0 *qcol(const void *x, size_t stride, int c) {
  return (const block_q8_0 *)((const char *)x + c * stride);
}

constexpr int64_t k_prefetch_bytes = 4096;  // see the AVX2 tier
constexpr int k_scale_run = 16;             // blocks whose scales are converted together

// The fp16 scales of blocks b0 .. b0 + cnt - 1 (cnt <= 16) of a quantized row, as floats. Converting sixteen at
// once from a small buffer costs a fraction of the per-block scalar conversion and broadcast, which competed with
// the byte products for the two vector ports.
template <bool Q4>
inline __m512 block_scales(const void *row, int64_t b0, int cnt) {
  constexpr int32_t bsize = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  if (cnt == 16) {
    // A full run through the integer registers, four scales per 64-bit word: a 16-lane gather cost about a third
    // of a one-token Q4_0 product on Zen 4; these loads and shifts use ports the vector work leaves idle.
    const uint8_t *p = (const uint8_t *)row + b0 * bsize;
    auto half = [p](int i) {
      uint16_t h;
      std::memcpy(&h, p + i * bsize, 2);
      return (uint64_t)h;
    };
    uint64_t q[4];
    for (int k = 0; k < 4; ++k) q[k] = half(4 * k) | half(4 * k + 1) << 16 | half(4 * k + 2) << 32 | half(4 * k + 3) << 48;
    return _mm512_cvtph_ps(_mm256_set_epi64x((int64_t)q[3], (int64_t)q[2], (int64_t)q[1], (int64_t)q[0]));
  }
  const __m512i offs = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(bsize));
  const __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), (__mmask16)((1u << cnt) - 1u), offs, (const char *)row + b0 * bsize, 1);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

inline __mmask16 first_lanes(int cnt) { return (__mmask16)((1u << cnt) - 1u); }

template <bool Q4>
constexpr size_t row_bytes_of(int64_t n) { return (size_t)(n / 32) * (Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0)); }

// 256-bit VPDPBUSD (AVX512-VL + VNNI), one block at a time. It multiplies unsigned by signed bytes: Q4_0 nibbles
// are already unsigned, and the activation's bias (-8 * sum(x), see q8_aux) is the accumulator it starts from;
// Q8_0 weights give |w| and move their sign onto x. This measured faster than packing two blocks per 512-bit
// register, whose per-half scales cost more than the wider multiply saved. weight_block holds a block's
// unsigned operand (and Q8_0's signs), decoded once for all the columns.
template <bool Q4>
struct weight_block {
  __m256i u, sign;
  weight_block(const void *w, int64_t b, bool valid) {
    if (!valid) {
      u = sign = _mm256_setzero_si256();
    } else if constexpr (Q4) {
      u = hearth_nibbles(((const block_q4_0 *)w)[b].qs);
    } else {
      sign = _mm256_loadu_si256((const __m256i *)((const block_q8_0 *)w)[b].qs);
      u = _mm256_sign_epi8(sign, sign);
    }
  }
};

template <bool Q4>
inline __m256i block_dot(const weight_block<Q4> &wb, __m256i qx, const int32_t *bias) {
  if constexpr (Q4) return _mm256_dpbusd_epi32(_mm256_loadu_si256((const __m256i *)bias), wb.u, qx);
  else return _mm256_dpbusd_epi32(_mm256_setzero_si256(), wb.u, _mm256_sign_epi8(qx, wb.sign));
}

// One weight row against NC activation columns, eight blocks per float step (see the AVX2 tier): a block's
// integer products are summed across lanes in int32, one lane per block, so the conversion, the scale and the FMA
// run once per eight blocks; a weight block is decoded once for all the columns. The float operations per column
// are the same whatever NC, Stream or the caller (dot_rows), so batching never changes a value and a neuron's is
// the same on the sparse and the dense path.
template <int NC, bool Q4, bool Stream>
void dot_q(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *aux, float *out) {
  const int64_t nb = n / 32;
  constexpr int64_t bsize = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  alignas(64) float sc[NC][k_scale_run];
  for (int64_t b0 = 0; b0 < nb; b0 += k_scale_run) {
    const int cnt = (int)(nb - b0 < k_scale_run ? nb - b0 : k_scale_run);
    const __m512 dw = block_scales<Q4>(w, b0, cnt);
    for (int c = 0; c < NC; ++c)
      _mm512_store_ps(sc[c], _mm512_mul_ps(dw, _mm512_maskz_loadu_ps(first_lanes(cnt), aux->scale + c * nb + b0)));
    for (int g = 0; g < cnt; g += 8) {
      if constexpr (Stream)
        for (int64_t off = 0; off < 8 * bsize; off += 64) _mm_prefetch((const char *)w + (b0 + g) * bsize + off + k_prefetch_bytes, _MM_HINT_T1);
      const int m = cnt - g;  // valid blocks in this group (8 unless at the row's end)
      const int64_t b = b0 + g;
      __m256i t[NC][4];
      for (int k = 0; k < 4; ++k) {
        const int i0 = 2 * k, i1 = 2 * k + 1;
        const weight_block<Q4> w0(w, b + i0, i0 < m), w1(w, b + i1, i1 < m);
        for (int c = 0; c < NC; ++c) {
          const block_q8_0 *xc = qcol(x, xs, c);
          const int32_t *bc = aux->bias + (c * nb + b) * 8;
          const __m256i p0 = i0 < m ? block_dot<Q4>(w0, _mm256_loadu_si256((const __m256i *)xc[b + i0].qs), bc + i0 * 8) : _mm256_setzero_si256();
          const __m256i p1 = i1 < m ? block_dot<Q4>(w1, _mm256_loadu_si256((const __m256i *)xc[b + i1].qs), bc + i1 * 8) : _mm256_setzero_si256();
          t[c][k] = _mm256_hadd_epi32(p0, p1);
        }
      }
      for (int c = 0; c < NC; ++c) {
        const __m256i v = hearth_block_sums8(t[c]);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_load_ps(sc[c] + g), acc[c]);
      }
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

void axpy_f32(int64_t n, float a, const float *x, float *y) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

// Rows anywhere in memory against one activation vector, each through dot_q, with the rows two ahead requested
// while this one is read (short rows, a predictor's fc2, are a few cache lines each).
template <bool Q4>
void dot_rows_q(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *aux, float *out) {
  const int64_t bytes = (int64_t)row_bytes_of<Q4>(n);
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

// ---- neuron-aware axpy over rows: four rows per pass over each 32-element block of y ------------------------

// One block of a Q8_0 (T = 1) or F16 (T = 2) row as 2 x 16 floats (unscaled quants; the caller folds the block
// scale into the coefficient).
template <int T>
inline void block_floats(const void *row, int64_t b, __m512 *lo, __m512 *hi, float *d) {
  if constexpr (T == 1) {
    const block_q8_0 &blk = ((const block_q8_0 *)row)[b];
    *d = hearth_half_scale(&blk);
    *lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)blk.qs)));
    *hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk.qs + 16))));
  } else {
    const uint16_t *h = (const uint16_t *)row + b * 32;
    *d = 1.0f;
    *lo = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
    *hi = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + 16)));
  }
}

template <int T>
void axpy_rows_blocks(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  const int64_t nb = n / 32;
  constexpr int64_t bsize = T == 1 ? sizeof(block_q8_0) : 64;
  for (int k = 0; k < nrows; k += 4) {
    const int g = nrows - k < 4 ? nrows - k : 4;
    const int gn = nrows - k - 4 < 4 ? nrows - k - 4 : 4;  // rows in the next group (may be <= 0)
    for (int64_t b = 0; b < nb; ++b) {
      // Gathered rows defeat the hardware prefetcher: while this group streams its rows, the next group's rows
      // are requested at the same pace, one whole group (several KiB) ahead.
      for (int r = 0; r < gn; ++r) _mm_prefetch((const char *)rows[k + 4 + r] + b * bsize, _MM_HINT_T0);
      __m512 y0 = _mm512_loadu_ps(y + b * 32), y1 = _mm512_loadu_ps(y + b * 32 + 16);
      for (int r = 0; r < g; ++r) {
        __m512 lo, hi;
        float d;
        block_floats<T>(rows[k + r], b, &lo, &hi, &d);
        const __m512 a = _mm512_set1_ps(coef[k + r] * d);
        y0 = _mm512_fmadd_ps(a, lo, y0);
        y1 = _mm512_fmadd_ps(a, hi, y1);
      }
      _mm512_storeu_ps(y + b * 32, y0);
      _mm512_storeu_ps(y + b * 32 + 16, y1);
    }
  }
}

// Q4_0 rows. The two vector ports are the limit here, so each block costs six operations on them: its 16 bytes are
// broadcast to the four 128-bit lanes by the load itself, a per-lane shift brings byte e(j) = 4 (j % 4) + j / 4 to
// the bottom of lane j, and VPERMPS looks the low (then, after a shift, the high) nibble up in a table of q - 8
// (VPERMPS reads only an index's low four bits, so no masking). y is held in that transposed element order for
// the whole call (the 4 x 4 transpose is its own inverse), and the block scales times coefficients are
// converted sixteen at a time.
void axpy_rows_q4_0(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  const int64_t nb = n / 32;
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512i shift = _mm512_setr_epi32(0, 0, 0, 0, 8, 8, 8, 8, 16, 16, 16, 16, 24, 24, 24, 24);
  const __m512 table = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t i = 0; i < 2 * nb; ++i) _mm512_storeu_ps(y + i * 16, _mm512_permutexvar_ps(order, _mm512_loadu_ps(y + i * 16)));
  alignas(64) float sc[4][k_scale_run];
  for (int k = 0; k < nrows; k += 4) {
    const int g = nrows - k < 4 ? nrows - k : 4;
    const int gn = nrows - k - 4 < 4 ? nrows - k - 4 : 4;  // rows in the next group (may be <= 0)
    for (int64_t b0 = 0; b0 < nb; b0 += k_scale_run) {
      const int cnt = (int)(nb - b0 < k_scale_run ? nb - b0 : k_scale_run);
      for (int r = 0; r < g; ++r)
        _mm512_store_ps(sc[r], _mm512_mul_ps(_mm512_set1_ps(coef[k + r]), block_scales<true>(rows[k + r], b0, cnt)));
      for (int i = 0; i < cnt; ++i) {
        const int64_t b = b0 + i;
        // See axpy_rows_blocks: the next group's rows are requested at this group's pace.
        for (int r = 0; r < gn; ++r) _mm_prefetch((const char *)rows[k + 4 + r] + b * sizeof(block_q4_0), _MM_HINT_T0);
        __m512 y0 = _mm512_loadu_ps(y + b * 32), y1 = _mm512_loadu_ps(y + b * 32 + 16);
        for (int r = 0; r < g; ++r) {
          const block_q4_0 &blk = ((const block_q4_0 *)rows[k + r])[b];
          const __m512i lo = _mm512_srlv_epi32(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)blk.qs)), shift);
          const __m512 a = _mm512_set1_ps(sc[r][i]);
          y0 = _mm512_fmadd_ps(a, _mm512_permutexvar_ps(lo, table), y0);
          y1 = _mm512_fmadd_ps(a, _mm512_permutexvar_ps(_mm512_srli_epi32(lo, 4), table), y1);
        }
        _mm512_storeu_ps(y + b * 32, y0);
        _mm512_storeu_ps(y + b * 32 + 16, y1);
      }
    }
  }
  for (int64_t i = 0; i < 2 * nb; ++i) _mm512_storeu_ps(y + i * 16, _mm512_permutexvar_ps(order, _mm512_loadu_ps(y + i * 16)));
}
void axpy_rows_q8_0(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  axpy_rows_blocks<1>(n, rows, coef, nrows, y);
}

}  // namespace

const kernel_table *avx512_kernels() {
  // Quantizing activations and the float-row axpys are memory-bound; the AVX2 routines serve this tier.
  static const kernel_table table = [] {
    kernel_table t = *avx2_kernels();
    t.isa = "avx512";
    const auto set = [&t](dtype type, dot_fn dot, dot_fn gather, dot_rows_fn rows, axpy_rows_fn axpy) {
      type_kernels &k = t.types[(uint32_t)type];
      k.dot = dot, k.gather_dot = gather;
      if (rows) k.dot_rows = rows;
      if (axpy) k.axpy_rows = axpy;
    };
    set(dtype::f32, dot_f32, dot_f32, nullptr, nullptr);
    set(dtype::f16, dot_f16, dot_f16, nullptr, nullptr);
    set(dtype::bf16, dot_bf16, dot_bf16, nullptr, nullptr);
    set(dtype::q8_0, dot_q8_0, dot_q8_0_gather, dot_rows_q8_0, axpy_rows_q8_0);
    set(dtype::q4_0, dot_q4_0, dot_q4_0_gather, dot_rows_q4_0, axpy_rows_q4_0);
    t.axpy_f32 = axpy_f32;
    t.types[(uint32_t)dtype::f32].gemv_rows = gemv_rows_f32;
    t.types[(uint32_t)dtype::f16].gemv_rows = gemv_rows_f16;
    t.types[(uint32_t)dtype::bf16].gemv_rows = gemv_rows_bf16;
    add_avx512_gemm_kernels(t);
    add_avx512_kquant_gemm_kernels(t);
    add_avx512_gemv_kernels(t);
    return t;
  }();
  return &table;
}

}  // namespace hearth::cpu
