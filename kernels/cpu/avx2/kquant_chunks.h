// The super-block types (Q2_K..Q6_K, IQ4_XS) seen through one description of their 32-value chunks: value =
// D * sc * q - M * mn, with q 32 bytes (unsigned levels, or signed levels for IQ4_XS) and sc and mn one integer per
// 16 values. The AVX2 dot and axpy kernels (avx2/quants.cpp) and both x86 tiers' prompt GEMM panels
// (kquant_panel.h) read the blocks through these views. Header-only, in an anonymous namespace: each translation
// unit compiles its own copy with its own ISA flags (at least AVX2 + F16C).
#pragma once
#include <immintrin.h>

#include <cstring>

#include "../kernels.h"
#include "../x86_common.h"

namespace hearth::cpu {
namespace {

// fp16 to float by the F16C instruction (the scalar conversion of fp16.h costs more than a block's arithmetic).
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// ---- chunk views of each super-block type -----------------------------------------------------------------

inline __m256i low_nibbles32(const uint8_t *p) { return _mm256_and_si256(_mm256_loadu_si256((const __m256i *)p), _mm256_set1_epi8(0x0f)); }
inline __m256i high_nibbles32(const uint8_t *p) {
  return _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)p), 4), _mm256_set1_epi8(0x0f));
}
// Bit `bit` of each of 32 bytes, as 0 or 1.
inline __m256i bit_of(__m256i v, int bit) { return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(bit)), _mm256_set1_epi8(1)); }
// The IQ4 levels of 32 nibbles.
inline __m256i iq4_levels(__m256i nib) {
  const __m128i t = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
  return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(t), nib);
}

// 16 bytes as 16 int16 lanes, each byte of `v8` once per pair of lanes: [v0, v0, v1, v1, ..., v7, v7].
inline __m256i pairs16(__m128i v8) {
  const __m128i w = _mm_cvtepu8_epi16(v8);
  return _mm256_setr_m128i(_mm_unpacklo_epi16(w, w), _mm_unpackhi_epi16(w, w));
}
// Q4_K/Q5_K's 8 six-bit scales (bytes 0-7) and mins (bytes 8-15) from their 12 packed bytes: scale j < 4 is
// the low 6 bits of byte j, min j < 4 those of byte j + 4; for j >= 4 the low (scale) or high (min) nibble of byte
// j + 4 with the top two bits of byte j - 4 (scale) or j (min) above it.
inline __m128i scales_mins_k4(const uint8_t *q) {
  uint32_t u[3];
  std::memcpy(u, q, 12);
  const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
  const uint32_t sc_lo = u[0] & m6, mn_lo = u[1] & m6;
  const uint32_t sc_hi = (u[2] & m4) | (((u[0] >> 6) & m2) << 4), mn_hi = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);
  return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)mn_lo, (int)mn_hi);
}

// The per-16 scale and min vectors of Q4_K and Q5_K (each of their 8 scales and mins serves two groups of 16).
inline void scales_k4(const uint8_t *packed, __m256i *sc, __m256i *mn) {
  const __m128i v = scales_mins_k4(packed);
  *sc = pairs16(v);
  *mn = pairs16(_mm_srli_si128(v, 8));
}

// Each type gives: D and M (the block's float scales), q(b, j) the levels of values 32j..32j+31 as bytes, and
// scales(b, &SC, &MN): 16 int16 lanes each, the integer scale and min of every 16 values.
struct q2k {
  using block = block_q2_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return h2f(b.d); }
  static float M(const block &b) { return h2f(b.dmin); }
  static __m256i q(const block &b, int j) {  // bits 2s of qs[32h..], j = 4h + s
    const __m256i v = _mm256_loadu_si256((const __m256i *)(b.qs + 32 * (j / 4)));
    return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * (j % 4))), _mm256_set1_epi8(3));
  }
  static void scales(const block &b, __m256i *sc, __m256i *mn) {
    const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)b.scales));
    *sc = _mm256_and_si256(v, _mm256_set1_epi16(15));
    *mn = _mm256_srli_epi16(v, 4);
  }
};

struct q3k {
  using block = block_q3_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return h2f(b.d); }
  static float M(const block &b) { return h2f(b.d); }
  static __m256i q(const block &b, int j) {  // level = low two bits | third bit << 2 (value = level - 4)
    const __m256i v = _mm256_loadu_si256((const __m256i *)(b.qs + 32 * (j / 4)));
    const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * (j % 4))), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(bit_of(_mm256_loadu_si256((const __m256i *)b.hmask), j), 2));
  }
  static void scales(const block &b, __m256i *sc, __m256i *mn) {
    // 16 six-bit scales: low nibbles from bytes 0-7 (scales 0-7) and their high nibbles (8-15), top two bits from
    // bytes 8-11 (scale k: bits 2(k/4) of byte 8 + k%4).
    uint32_t u[3];
    std::memcpy(u, b.scales, 12);
    const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
    const uint32_t s0 = (u[0] & m4) | (((u[2] >> 0) & m2) << 4), s1 = (u[1] & m4) | (((u[2] >> 2) & m2) << 4);
    const uint32_t s2 = ((u[0] >> 4) & m4) | (((u[2] >> 4) & m2) << 4), s3 = ((u[1] >> 4) & m4) | (((u[2] >> 6) & m2) << 4);
    *sc = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3)), _mm256_set1_epi16(32));
    *mn = _mm256_slli_epi16(*sc, 2);  // value = sc (level - 4)
  }
};

struct q4k {
  using block = block_q4_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return h2f(b.d); }
  static float M(const block &b) { return h2f(b.dmin); }
  static __m256i q(const block &b, int j) {
    const uint8_t *p = b.qs + 32 * (j / 2);
    return j % 2 ? high_nibbles32(p) : low_nibbles32(p);
  }
  static void scales(const block &b, __m256i *sc, __m256i *mn) { scales_k4(b.scales, sc, mn); }
};

struct q5k {
  using block = block_q5_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return h2f(b.d); }
  static float M(const block &b) { return h2f(b.dmin); }
  static __m256i q(const block &b, int j) {
    const uint8_t *p = b.qs + 32 * (j / 2);
    const __m256i lo = j % 2 ? high_nibbles32(p) : low_nibbles32(p);
    return _mm256_or_si256(lo, _mm256_slli_epi16(bit_of(_mm256_loadu_si256((const __m256i *)b.qh), j), 4));
  }
  static void scales(const block &b, __m256i *sc, __m256i *mn) { scales_k4(b.scales, sc, mn); }
};

struct q6k {
  using block = block_q6_k;
  static constexpr bool is_signed = false;
  static float D(const block &b) { return h2f(b.d); }
  static float M(const block &b) { return h2f(b.d); }
  static __m256i q(const block &b, int j) {  // j = 4h + s: low nibbles of ql[64h + 32(s&1)..] (s < 2) or high ones
    const int h = j / 4, s = j % 4;
    const uint8_t *ql = b.ql + 64 * h + 32 * (s & 1);
    const __m256i lo = s < 2 ? low_nibbles32(ql) : high_nibbles32(ql);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b.qh + 32 * h));
    const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * s)), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
  }
  static void scales(const block &b, __m256i *sc, __m256i *mn) {
    *sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b.scales));
    *mn = _mm256_slli_epi16(*sc, 5);  // value = sc (level - 32)
  }
};

struct iq4xs {
  using block = block_iq4_xs;
  static constexpr bool is_signed = true;
  static float D(const block &b) { return h2f(b.d); }
  static float M(const block &) { return 0.0f; }
  static __m256i q(const block &b, int j) { return iq4_levels(hearth_nibbles(b.qs + 16 * j)); }
  static void scales(const block &b, __m256i *sc, __m256i *mn) {
    // scale j: nibble j of scales_l (low first) | bits 2j of scales_h << 4, minus 32
    uint32_t l;
    std::memcpy(&l, b.scales_l, 4);
    const __m128i lo = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)(l & 0x0f0f0f0f)), _mm_cvtsi32_si128((int)((l >> 4) & 0x0f0f0f0f)));
    const __m256i h = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(b.scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                       _mm256_set1_epi32(3));
    const __m128i h16 = _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    const __m128i ls = _mm_or_si128(lo, _mm_slli_epi16(_mm_packus_epi16(h16, h16), 4));
    *sc = _mm256_sub_epi16(pairs16(ls), _mm256_set1_epi16(32));
    *mn = _mm256_setzero_si256();
  }
};

}  // namespace
}  // namespace hearth::cpu
