// AVX2 kernels of the block types beyond Q4_0/Q8_0: the 32-element types (Q4_1, Q5_0, Q5_1, IQ4_NL) and the
// 256-element super-block types (Q2_K..Q6_K, IQ4_XS). Compiled with -mavx2 -mfma -mf16c; the AVX-512 tier uses
// them too (its table starts as a copy of this one).
//
// Every super-block type is read through one description of a 32-value chunk: value = D * sc * q - M * mn, with q
// 32 bytes (unsigned levels, or signed levels for IQ4_XS), and sc and mn one integer per 16 values. A dot product
// against Q8_K activations is then sum_i D dy (sum_h sc_h (q . y)_h) - M dy (sum_h mn_h bsum_h) in integers per
// super-block, and the down-projection axpy decodes the same chunks to floats. One kernel serves six layouts.
#include <immintrin.h>

#include <cstring>

#include "../fp16.h"
#include "../kernels.h"
#include "../x86_common.h"

namespace hearth::cpu {
namespace {

// ---- chunk views of each super-block type -----------------------------------------------------------------

struct chunk {
  __m256i q;      // 32 levels
  int32_t sc[2];  // scale of values 0-15 and 16-31
  int32_t mn[2];  // min (times M) of the same halves
};

inline __m256i low_nibbles32(const uint8_t *p) { return _mm256_and_si256(_mm256_loadu_si256((const __m256i *)p), _mm256_set1_epi8(0x0f)); }
inline __m256i high_nibbles32(const uint8_t *p) {
  return _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)p), 4), _mm256_set1_epi8(0x0f));
}
// 16 bytes of nibbles as 32 bytes: low nibbles first, then high nibbles (the 32-element block order).
inline __m256i nibbles16(const uint8_t *p) {
  const __m128i t = _mm_loadu_si128((const __m128i *)p);
  const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
  return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}
// Bit `bit` of each of 32 bytes, as 0 or 1.
inline __m256i bit_of(__m256i v, int bit) { return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(bit)), _mm256_set1_epi8(1)); }
// The IQ4 levels of 32 nibbles.
inline __m256i iq4_levels(__m256i nib) {
  const __m128i t = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
  return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(t), nib);
}

inline void scale_min_k4(int j, const uint8_t *q, int32_t *d, int32_t *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

struct q2k {
  using block = block_q2_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float M(const block &b) { return hearth_fp16_to_f32(b.dmin); }
  static chunk at(const block &b, int j) {  // values 32j..32j+31: bits 2s of qs[32h..], j = 4h + s
    const int h = j / 4, s = j % 4;
    const __m256i v = _mm256_loadu_si256((const __m256i *)(b.qs + 32 * h));
    chunk c;
    c.q = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * s)), _mm256_set1_epi8(3));
    for (int k = 0; k < 2; ++k) c.sc[k] = b.scales[2 * j + k] & 0xF, c.mn[k] = b.scales[2 * j + k] >> 4;
    return c;
  }
};

struct q3k {
  using block = block_q3_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float M(const block &b) { return hearth_fp16_to_f32(b.d); }
  static int32_t scale(const block &b, int k) {
    const int lo = k < 8 ? b.scales[k] & 0xF : b.scales[k - 8] >> 4;
    return (lo | (((b.scales[8 + k % 4] >> (2 * (k / 4))) & 3) << 4)) - 32;
  }
  static chunk at(const block &b, int j) {  // level = low two bits | third bit << 2, value = level - 4
    const int h = j / 4, s = j % 4;
    const __m256i v = _mm256_loadu_si256((const __m256i *)(b.qs + 32 * h));
    const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * s)), _mm256_set1_epi8(3));
    const __m256i hi = bit_of(_mm256_loadu_si256((const __m256i *)b.hmask), j);
    chunk c;
    c.q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
    for (int k = 0; k < 2; ++k) c.sc[k] = scale(b, 2 * j + k), c.mn[k] = 4 * c.sc[k];
    return c;
  }
};

struct q4k {
  using block = block_q4_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float M(const block &b) { return hearth_fp16_to_f32(b.dmin); }
  static chunk at(const block &b, int j) {
    const uint8_t *q = b.qs + 32 * (j / 2);
    chunk c;
    c.q = j % 2 ? high_nibbles32(q) : low_nibbles32(q);
    scale_min_k4(j, b.scales, &c.sc[0], &c.mn[0]);
    c.sc[1] = c.sc[0], c.mn[1] = c.mn[0];
    return c;
  }
};

struct q5k {
  using block = block_q5_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float M(const block &b) { return hearth_fp16_to_f32(b.dmin); }
  static chunk at(const block &b, int j) {
    const uint8_t *q = b.qs + 32 * (j / 2);
    chunk c;
    const __m256i lo = j % 2 ? high_nibbles32(q) : low_nibbles32(q);
    c.q = _mm256_or_si256(lo, _mm256_slli_epi16(bit_of(_mm256_loadu_si256((const __m256i *)b.qh), j), 4));
    scale_min_k4(j, b.scales, &c.sc[0], &c.mn[0]);
    c.sc[1] = c.sc[0], c.mn[1] = c.mn[0];
    return c;
  }
};

struct q6k {
  using block = block_q6_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float M(const block &b) { return hearth_fp16_to_f32(b.d); }
  static chunk at(const block &b, int j) {  // j = 4h + s: low nibbles of ql[64h + 32(s&1)..] (s < 2) or high ones
    const int h = j / 4, s = j % 4;
    const uint8_t *ql = b.ql + 64 * h + 32 * (s & 1);
    const __m256i lo = s < 2 ? low_nibbles32(ql) : high_nibbles32(ql);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b.qh + 32 * h));
    const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * s)), _mm256_set1_epi8(3));
    chunk c;
    c.q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
    for (int k = 0; k < 2; ++k) c.sc[k] = b.scales[8 * h + 2 * s + k], c.mn[k] = 32 * c.sc[k];
    return c;
  }
};

struct iq4xs {
  using block = block_iq4_xs;
  static constexpr bool is_signed = true;
  static float D(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float M(const block &) { return 0.0f; }
  static chunk at(const block &b, int j) {
    chunk c;
    c.q = iq4_levels(nibbles16(b.qs + 16 * j));
    c.sc[0] = c.sc[1] = (((b.scales_l[j / 2] >> 4 * (j % 2)) & 0xf) | (((b.scales_h >> 2 * j) & 3) << 4)) - 32;
    c.mn[0] = c.mn[1] = 0;
    return c;
  }
};

// ---- dot products against Q8_K ------------------------------------------------------------------------------

constexpr int64_t k_prefetch_bytes = 4096;  // as the Q4_0 kernels (measured there)

template <class T, int NC, bool Stream>
void dot_kq(int64_t n, const void *w, const void *x, size_t xs, float *out) {
  using block = typename T::block;
  const block *wb = (const block *)w;
  const int64_t nb = n / qk_k;
  const block_q8_k *ys[NC];
  for (int c = 0; c < NC; ++c) ys[c] = (const block_q8_k *)((const char *)x + c * xs);
  __m256 acc[NC];
  float mins[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps(), mins[c] = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    if constexpr (Stream) _mm_prefetch((const char *)(wb + i) + k_prefetch_bytes, _MM_HINT_T1);
    const block &b = wb[i];
    __m256i sumi[NC];
    int32_t summ[NC];
    for (int c = 0; c < NC; ++c) sumi[c] = _mm256_setzero_si256(), summ[c] = 0;
    for (int j = 0; j < qk_k / 32; ++j) {
      const chunk ch = T::at(b, j);
      const __m256i s16 = _mm256_setr_m128i(_mm_set1_epi16((int16_t)ch.sc[0]), _mm_set1_epi16((int16_t)ch.sc[1]));
      const __m256i qa = T::is_signed ? _mm256_sign_epi8(ch.q, ch.q) : ch.q;
      for (int c = 0; c < NC; ++c) {
        __m256i y = _mm256_loadu_si256((const __m256i *)(ys[c][i].qs + 32 * j));
        if constexpr (T::is_signed) y = _mm256_sign_epi8(y, ch.q);
        sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(_mm256_maddubs_epi16(qa, y), s16));
        if (ch.mn[0] | ch.mn[1]) summ[c] += ch.mn[0] * ys[c][i].bsums[2 * j] + ch.mn[1] * ys[c][i].bsums[2 * j + 1];
      }
    }
    const float D = T::D(b), M = T::M(b);
    for (int c = 0; c < NC; ++c) {
      const float dy = ys[c][i].d;
      acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(D * dy), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
      mins[c] += M * dy * (float)summ[c];
    }
  }
  for (int c = 0; c < NC; ++c) out[c] = hearth_hsum256(acc[c]) - mins[c];
}

template <class T, bool Stream>
void dot_kq_n(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  switch (nc) {
    case 1: return dot_kq<T, 1, Stream>(n, w, x, xs, out);
    case 2: return dot_kq<T, 2, Stream>(n, w, x, xs, out);
    case 3: return dot_kq<T, 3, Stream>(n, w, x, xs, out);
    default: return dot_kq<T, 4, Stream>(n, w, x, xs, out);
  }
}

// Gathered rows one at a time, the caller's row list order; the next row is requested while this one is read.
template <class T>
void dot_rows_kq(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *aux, float *out) {
  const size_t bytes = (size_t)(n / qk_k) * sizeof(typename T::block);
  for (int r = 0; r < nrows; ++r) {
    if (r + 1 < nrows)
      for (size_t off = 0; off < bytes && off < 4096; off += 64) _mm_prefetch((const char *)rows[r + 1] + off, _MM_HINT_T0);
    dot_kq<T, 1, false>(n, rows[r], x, 0, out + r);
  }
}

// ---- down-projection axpy over neuron-major rows ------------------------------------------------------------

// acc[0..3] += a_h * q + b_h, halves h of 16 values; q unsigned (or signed) bytes.
template <bool Signed>
inline void fma_chunk(__m256 acc[4], __m256i q, const float a[2], const float b[2]) {
  const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
  const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  for (int k = 0; k < 4; ++k) {
    const __m256i v = Signed ? _mm256_cvtepi8_epi32(parts[k]) : _mm256_cvtepu8_epi32(parts[k]);
    acc[k] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(a[k / 2]), _mm256_cvtepi32_ps(v), acc[k]), _mm256_set1_ps(b[k / 2]));
  }
}

template <class T>
void axpy_rows_kq(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  using block = typename T::block;
  const int64_t nb = n / qk_k;
  for (int r = 0; r < nrows; ++r) {
    const block *wb = (const block *)rows[r];
    for (int64_t i = 0; i < nb; ++i) {
      if (r + 1 < nrows) _mm_prefetch((const char *)((const block *)rows[r + 1] + i), _MM_HINT_T0);
      const block &b = wb[i];
      const float D = coef[r] * T::D(b), M = coef[r] * T::M(b);
      for (int j = 0; j < qk_k / 32; ++j) {
        const chunk ch = T::at(b, j);
        float *yj = y + i * qk_k + 32 * j;
        __m256 acc[4];
        for (int k = 0; k < 4; ++k) acc[k] = _mm256_loadu_ps(yj + 8 * k);
        const float a[2] = {D * (float)ch.sc[0], D * (float)ch.sc[1]};
        const float m[2] = {-M * (float)ch.mn[0], -M * (float)ch.mn[1]};
        fma_chunk<T::is_signed>(acc, ch.q, a, m);
        for (int k = 0; k < 4; ++k) _mm256_storeu_ps(yj + 8 * k, acc[k]);
      }
    }
  }
}

// ---- 32-element types ---------------------------------------------------------------------------------------

// The 32 fifth bits of a Q5 block, as 0x10 or 0 per byte.
inline __m256i fifth_bits(const uint8_t qh[4]) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
  const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask), _mm256_set1_epi8(0x10));
}

// A 32-element block as bytes with its scale(s): value = d * q + m (m = 0 for the symmetric types).
struct q4_1t {
  using block = block_q4_1;
  using act = block_q8_1;
  static constexpr bool is_signed = false;
  static __m256i q(const block &b) { return nibbles16(b.qs); }
  static float d(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float m(const block &b) { return hearth_fp16_to_f32(b.m); }
};
struct q5_1t {
  using block = block_q5_1;
  using act = block_q8_1;
  static constexpr bool is_signed = false;
  static __m256i q(const block &b) { return _mm256_or_si256(nibbles16(b.qs), fifth_bits(b.qh)); }
  static float d(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float m(const block &b) { return hearth_fp16_to_f32(b.m); }
};
struct q5_0t {
  using block = block_q5_0;
  using act = block_q8_0;
  static constexpr bool is_signed = true;
  static __m256i q(const block &b) { return _mm256_sub_epi8(_mm256_or_si256(nibbles16(b.qs), fifth_bits(b.qh)), _mm256_set1_epi8(16)); }
  static float d(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float m(const block &) { return 0.0f; }
};
struct iq4_nlt {
  using block = block_iq4_nl;
  using act = block_q8_0;
  static constexpr bool is_signed = true;
  static __m256i q(const block &b) { return iq4_levels(nibbles16(b.qs)); }
  static float d(const block &b) { return hearth_fp16_to_f32(b.d); }
  static float m(const block &) { return 0.0f; }
};

template <class T, int NC, bool Stream>
void dot_b32(int64_t n, const void *w, const void *x, size_t xs, float *out) {
  using block = typename T::block;
  using act = typename T::act;
  const block *wb = (const block *)w;
  const int64_t nb = n / 32;
  const act *ys[NC];
  for (int c = 0; c < NC; ++c) ys[c] = (const act *)((const char *)x + c * xs);
  // The min term m * dy * sum(y) takes the sum from the activation bytes, not Q8_1's fp16 s field, whose rounding
  // (up to 2^-11 of the sum) would cost more accuracy than the one extra multiply-add per block.
  constexpr bool has_min = !T::is_signed;
  __m256 acc[NC], macc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = macc[c] = _mm256_setzero_ps();
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    if constexpr (Stream) _mm_prefetch((const char *)(wb + b) + k_prefetch_bytes, _MM_HINT_T1);
    const __m256i q = T::q(wb[b]);
    const __m256i qa = T::is_signed ? _mm256_sign_epi8(q, q) : q;
    const float d = T::d(wb[b]);
    for (int c = 0; c < NC; ++c) {
      __m256i y = _mm256_loadu_si256((const __m256i *)ys[c][b].qs);
      const float dy = hearth_fp16_to_f32(ys[c][b].d);
      if constexpr (has_min) {
        const __m256i sy = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, y), ones16);
        macc[c] = _mm256_fmadd_ps(_mm256_set1_ps(T::m(wb[b]) * dy), _mm256_cvtepi32_ps(sy), macc[c]);
      }
      if constexpr (T::is_signed) y = _mm256_sign_epi8(y, q);
      const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(qa, y), ones16);
      acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * dy), _mm256_cvtepi32_ps(s), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) out[c] = hearth_hsum256(_mm256_add_ps(acc[c], macc[c]));
}

template <class T, bool Stream>
void dot_b32_n(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  switch (nc) {
    case 1: return dot_b32<T, 1, Stream>(n, w, x, xs, out);
    case 2: return dot_b32<T, 2, Stream>(n, w, x, xs, out);
    case 3: return dot_b32<T, 3, Stream>(n, w, x, xs, out);
    default: return dot_b32<T, 4, Stream>(n, w, x, xs, out);
  }
}

template <class T>
void dot_rows_b32(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *, float *out) {
  const size_t bytes = (size_t)(n / 32) * sizeof(typename T::block);
  for (int r = 0; r < nrows; ++r) {
    if (r + 1 < nrows)
      for (size_t off = 0; off < bytes && off < 4096; off += 64) _mm_prefetch((const char *)rows[r + 1] + off, _MM_HINT_T0);
    dot_b32<T, 1, false>(n, rows[r], x, 0, out + r);
  }
}

template <class T>
void axpy_rows_b32(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  using block = typename T::block;
  for (int r = 0; r < nrows; ++r) {
    const block *wb = (const block *)rows[r];
    for (int64_t b = 0; b < n / 32; ++b) {
      if (r + 1 < nrows) _mm_prefetch((const char *)((const block *)rows[r + 1] + b), _MM_HINT_T0);
      __m256 acc[4];
      for (int k = 0; k < 4; ++k) acc[k] = _mm256_loadu_ps(y + b * 32 + 8 * k);
      const float a = coef[r] * T::d(wb[b]), m = coef[r] * T::m(wb[b]);
      const float as[2] = {a, a}, ms[2] = {m, m};
      fma_chunk<T::is_signed>(acc, T::q(wb[b]), as, ms);
      for (int k = 0; k < 4; ++k) _mm256_storeu_ps(y + b * 32 + 8 * k, acc[k]);
    }
  }
}

template <class T>
type_kernels kq_row() {
  return {dot_kq_n<T, true>, dot_kq_n<T, false>, dot_rows_kq<T>, axpy_rows_kq<T>};
}
template <class T>
type_kernels b32_row() {
  return {dot_b32_n<T, true>, dot_b32_n<T, false>, dot_rows_b32<T>, axpy_rows_b32<T>};
}

}  // namespace

void add_avx2_quant_kernels(kernel_table &t) {
  t.types[(uint32_t)dtype::q4_1] = b32_row<q4_1t>();
  t.types[(uint32_t)dtype::q5_0] = b32_row<q5_0t>();
  t.types[(uint32_t)dtype::q5_1] = b32_row<q5_1t>();
  t.types[(uint32_t)dtype::iq4_nl] = b32_row<iq4_nlt>();
  t.types[(uint32_t)dtype::q2_k] = kq_row<q2k>();
  t.types[(uint32_t)dtype::q3_k] = kq_row<q3k>();
  t.types[(uint32_t)dtype::q4_k] = kq_row<q4k>();
  t.types[(uint32_t)dtype::q5_k] = kq_row<q5k>();
  t.types[(uint32_t)dtype::q6_k] = kq_row<q6k>();
  t.types[(uint32_t)dtype::iq4_xs] = kq_row<iq4xs>();
}

}  // namespace hearth::cpu
