// AVX2 kernels of the block types beyond Q4_0/Q8_0: the 32-element types (Q4_1, Q5_0, Q5_1, IQ4_NL) and the
// 256-element super-block types (Q2_K..Q6_K, IQ4_XS). Compiled with -mavx2 -mfma -mf16c; the AVX-512 tier uses
// them too (its table starts as a copy of this one).
//
// Every super-block type is read through one description of its 32-value chunks: value = D * sc * q - M * mn, with q
// 32 bytes (unsigned levels, or signed levels for IQ4_XS), and sc and mn one integer per 16 values. A dot product
// against Q8_K activations is then sum_i D dy (sum_h sc_h (q . y)_h) - M dy (sum_h mn_h bsum_h) in integers per
// super-block, and the down-projection axpy decodes the same chunks to floats. One kernel serves six layouts.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "../fp16.h"
#include "../kernels.h"
#include "../widths.h"
#include "../x86_common.h"
#include "kquant_chunks.h"

namespace hearth::cpu {
namespace {

// ---- dot products against Q8_K ------------------------------------------------------------------------------

constexpr int64_t k_prefetch_bytes = 4096;  // as the Q4_0 kernels (measured there)

// The int16 scales of chunk j (values 32j..32j+31) from a type's 16 per-16 scales, sc[2j] in lanes 0-7 and
// sc[2j+1] in lanes 8-15 (maddubs lanes 0-7 hold the pair sums of bytes 0-15): one in-lane shuffle of the scales'
// low or high half, broadcast to both lanes once per super-block.
alignas(32) constexpr uint8_t k_scale_pick[4][32] = {
    {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
    {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
    {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
    {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15},
};
struct chunk_scales {
  __m256i lo, hi;  // scales 0-7 and 8-15, each in both lanes
  explicit chunk_scales(__m256i sc)
      : lo(_mm256_permute2x128_si256(sc, sc, 0x00)), hi(_mm256_permute2x128_si256(sc, sc, 0x11)) {}
  __m256i of(int j) const { return _mm256_shuffle_epi8(j < 4 ? lo : hi, _mm256_load_si256((const __m256i *)k_scale_pick[j % 4])); }
};


template <class T, int NC, bool Stream>
void dot_kq(int64_t n, const void *w, const void *x, size_t xs, float *out) {
  using block = typename T::block;
  const block *wb = (const block *)w;
  const int64_t nb = n / qk_k;
  const block_q8_k *ys[NC];
  for (int c = 0; c < NC; ++c) ys[c] = (const block_q8_k *)((const char *)x + c * xs);
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    if constexpr (Stream)  // every cache line of the block, 4 KiB ahead (a super-block spans 2-4 lines)
      for (size_t off = 0; off < sizeof(block); off += 64) _mm_prefetch((const char *)(wb + i) + k_prefetch_bytes + off, _MM_HINT_T1);
    const block &b = wb[i];
    __m256i sc, mn;
    T::scales(b, &sc, &mn);
    const chunk_scales cs(sc);
    __m256i sumi[NC];
    for (int c = 0; c < NC; ++c) sumi[c] = _mm256_setzero_si256();
    for (int j = 0; j < qk_k / 32; ++j) {
      const __m256i q = T::q(b, j);
      const __m256i s16 = cs.of(j);
      const __m256i qa = T::is_signed ? _mm256_sign_epi8(q, q) : q;
      for (int c = 0; c < NC; ++c) {
        __m256i y = _mm256_loadu_si256((const __m256i *)(ys[c][i].qs + 32 * j));
        if constexpr (T::is_signed) y = _mm256_sign_epi8(y, q);
        sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(_mm256_maddubs_epi16(qa, y), s16));
      }
    }
    const float D = T::D(b), M = T::M(b);
    for (int c = 0; c < NC; ++c) {
      const float dy = ys[c][i].d;
      acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(D * dy), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
      if (M != 0.0f) {  // the mins against the activation's sums of 16, into the same vector accumulator (a
                        // scalar one was a loop-carried load-FMA-store chain that cost a fifth of the kernel)
        const __m256i bs = _mm256_loadu_si256((const __m256i *)ys[c][i].bsums);
        acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(-M * dy), _mm256_cvtepi32_ps(_mm256_madd_epi16(mn, bs)), acc[c]);
      }
    }
  }
  for (int c = 0; c < NC; ++c) out[c] = hearth_hsum256(acc[c]);
}

template <class T, bool Stream>
void dot_kq_n(int64_t n, const void *w, const void *x, size_t xs, const q8_aux *, int nc, float *out) {
  hearth_with_width<1, 2, 3, 4>(nc, [&](auto c) { dot_kq<T, decltype(c)::value, Stream>(n, w, x, xs, out); });
}

// Gathered rows one at a time, the caller's row list order; the next row is requested while this one is read.
// Dot1 is a one-column, non-streaming dot kernel of blocks of BlockElems values.
template <void (*Dot1)(int64_t, const void *, const void *, size_t, float *), class Block, int64_t BlockElems>
void dot_rows_each(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *, float *out) {
  const size_t bytes = (size_t)(n / BlockElems) * sizeof(Block);
  for (int r = 0; r < nrows; ++r) {
    if (r + 1 < nrows)
      for (size_t off = 0; off < bytes && off < 4096; off += 64) _mm_prefetch((const char *)rows[r + 1] + off, _MM_HINT_T0);
    Dot1(n, rows[r], x, 0, out + r);
  }
}

// ---- down-projection axpy over neuron-major rows ------------------------------------------------------------

// A row's super-block as float factors per 16 values: value = a[h] * q - m[h] (coef folded in).
template <class T>
inline void row_factors(const typename T::block &b, float coef, float a[16], float m[16]) {
  __m256i scv, mnv;
  T::scales(b, &scv, &mnv);
  const __m256 D = _mm256_set1_ps(coef * T::D(b)), M = _mm256_set1_ps(coef * T::M(b));
  const __m128i s0 = _mm256_castsi256_si128(scv), s1 = _mm256_extracti128_si256(scv, 1);
  const __m128i m0 = _mm256_castsi256_si128(mnv), m1 = _mm256_extracti128_si256(mnv, 1);
  _mm256_storeu_ps(a, _mm256_mul_ps(D, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(s0))));
  _mm256_storeu_ps(a + 8, _mm256_mul_ps(D, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(s1))));
  _mm256_storeu_ps(m, _mm256_mul_ps(M, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(m0))));
  _mm256_storeu_ps(m + 8, _mm256_mul_ps(M, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(m1))));
}

// acc[0..3] += a_h * q for 32 levels q (unsigned, or signed), halves h of 16 values.
template <bool Signed>
inline void fma_levels(__m256 acc[4], __m256i q, const float *a) {
  const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
  const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  for (int k = 0; k < 4; ++k) {
    const __m256i v = Signed ? _mm256_cvtepi8_epi32(parts[k]) : _mm256_cvtepu8_epi32(parts[k]);
    acc[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k / 2), _mm256_cvtepi32_ps(v), acc[k]);
  }
}

// Rows in pairs, so each slice of y is loaded and stored once per two neurons; the mins of both rows are summed
// per 16 values and subtracted once.
template <class T>
void axpy_rows_kq(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  using block = typename T::block;
  const int64_t nb = n / qk_k;
  for (int r = 0; r < nrows; r += 2) {
    const bool pair = r + 1 < nrows;
    const block *w0 = (const block *)rows[r], *w1 = pair ? (const block *)rows[r + 1] : nullptr;
    for (int64_t i = 0; i < nb; ++i) {
      for (int k = 2; k < 4; ++k)  // the next pair's blocks, at the pace this pair is read
        if (r + k < nrows)
          for (size_t off = 0; off < sizeof(block); off += 64) _mm_prefetch((const char *)((const block *)rows[r + k] + i) + off, _MM_HINT_T0);
      alignas(32) float a0[16], m0[16], a1[16], m1[16];
      row_factors<T>(w0[i], coef[r], a0, m0);
      if (pair) {
        row_factors<T>(w1[i], coef[r + 1], a1, m1);
        for (int h = 0; h < 16; h += 8) _mm256_store_ps(m0 + h, _mm256_add_ps(_mm256_load_ps(m0 + h), _mm256_load_ps(m1 + h)));
      }
      for (int j = 0; j < qk_k / 32; ++j) {
        float *yj = y + i * qk_k + 32 * j;
        __m256 acc[4];
        for (int k = 0; k < 4; ++k) acc[k] = _mm256_sub_ps(_mm256_loadu_ps(yj + 8 * k), _mm256_broadcast_ss(m0 + 2 * j + k / 2));
        fma_levels<T::is_signed>(acc, T::q(w0[i], j), a0 + 2 * j);
        if (pair) fma_levels<T::is_signed>(acc, T::q(w1[i], j), a1 + 2 * j);
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
  static __m256i q(const block &b) { return hearth_nibbles(b.qs); }
  static float d(const block &b) { return h2f(b.d); }
  static float m(const block &b) { return h2f(b.m); }
};
struct q5_1t {
  using block = block_q5_1;
  using act = block_q8_1;
  static constexpr bool is_signed = false;
  static __m256i q(const block &b) { return _mm256_or_si256(hearth_nibbles(b.qs), fifth_bits(b.qh)); }
  static float d(const block &b) { return h2f(b.d); }
  static float m(const block &b) { return h2f(b.m); }
};
struct q5_0t {
  using block = block_q5_0;
  using act = block_q8_0;
  static constexpr bool is_signed = true;
  static __m256i q(const block &b) { return _mm256_sub_epi8(_mm256_or_si256(hearth_nibbles(b.qs), fifth_bits(b.qh)), _mm256_set1_epi8(16)); }
  static float d(const block &b) { return h2f(b.d); }
  static float m(const block &) { return 0.0f; }
};
struct iq4_nlt {
  using block = block_iq4_nl;
  using act = block_q8_0;
  static constexpr bool is_signed = true;
  static __m256i q(const block &b) { return iq4_levels(hearth_nibbles(b.qs)); }
  static float d(const block &b) { return h2f(b.d); }
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
      const float dy = h2f(ys[c][b].d);
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
  hearth_with_width<1, 2, 3, 4>(nc, [&](auto c) { dot_b32<T, decltype(c)::value, Stream>(n, w, x, xs, out); });
}

template <class T>
void axpy_rows_b32(int64_t n, const void *const *rows, const float *coef, int nrows, float *y) {
  using block = typename T::block;
  for (int r = 0; r < nrows; ++r) {
    const block *wb = (const block *)rows[r];
    for (int64_t b = 0; b < n / 32; ++b) {
      if (r + 1 < nrows) _mm_prefetch((const char *)((const block *)rows[r + 1] + b), _MM_HINT_T0);
      const float a = coef[r] * T::d(wb[b]), m = coef[r] * T::m(wb[b]);
      const float as[2] = {a, a};
      __m256 acc[4];
      for (int k = 0; k < 4; ++k) acc[k] = _mm256_add_ps(_mm256_loadu_ps(y + b * 32 + 8 * k), _mm256_set1_ps(m));
      fma_levels<T::is_signed>(acc, T::q(wb[b]), as);
      for (int k = 0; k < 4; ++k) _mm256_storeu_ps(y + b * 32 + 8 * k, acc[k]);
    }
  }
}

template <class T>
type_kernels kq_row() {
  return {dot_kq_n<T, true>, dot_kq_n<T, false>, dot_rows_each<dot_kq<T, 1, false>, typename T::block, qk_k>, axpy_rows_kq<T>};
}
template <class T>
type_kernels b32_row() {
  return {dot_b32_n<T, true>, dot_b32_n<T, false>, dot_rows_each<dot_b32<T, 1, false>, typename T::block, 32>, axpy_rows_b32<T>};
}

// Q8_K as quants::encode_q8_k (llama.cpp's quantize_row_q8_K), byte for byte: non-finite values count as 0, the
// scale is -127 over the first value of largest magnitude (its sign too), levels round half to even (as its
// nearest_int) and are capped at 127, and bsums are the sums of each 16.
void quantize_q8_k(const float *x, void *y, int64_t n) {
  block_q8_k *yb = (block_q8_k *)y;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const auto finite = [](const float *p) { return hearth_finite256(_mm256_loadu_ps(p)); };
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float *xb = x + b * qk_k;
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < qk_k; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, finite(xb + k)));
    const float amax = hearth_hmax256(m);
    if (amax == 0.0f) {
      std::memset(&yb[b], 0, sizeof(block_q8_k));
      continue;
    }
    float max = 0.0f;
    for (int k = 0; k < qk_k; k += 8) {
      const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, finite(xb + k)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
      if (hit) {
        max = xb[k + __builtin_ctz((unsigned)hit)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i cap = _mm256_set1_epi32(127);
    for (int k = 0; k < qk_k; k += 32) {
      __m256i q[4];
      for (int i = 0; i < 4; ++i)
        q[i] = _mm256_min_epi32(cap, _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(finite(xb + k + 8 * i), vs),
                                                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
      for (int h = 0; h < 2; ++h) {
        const __m256i s8 = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        s4 = _mm_hadd_epi32(s4, s4);
        s4 = _mm_hadd_epi32(s4, s4);
        yb[b].bsums[k / 16 + h] = (int16_t)_mm_cvtsi128_si32(s4);
      }
      _mm256_storeu_si256((__m256i *)(yb[b].qs + k), hearth_pack_levels32(q));
    }
    yb[b].d = 1.0f / iscale;
  }
}

}  // namespace

void add_avx2_quant_kernels(kernel_table &t) {
  t.quantize_q8_k = quantize_q8_k;
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
