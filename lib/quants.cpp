// The 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL) and IQ4_XS: llama.cpp's reference algorithms,
// written from its block formats and quantize_row_*_ref / quantize_iq4_* (see quants.h).
#include "quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../kernels/cpu/fp16.h"
#include "../kernels/cpu/kernels.h"
#include "quant_common.h"

namespace hearth::quants {
namespace {

using namespace hearth::cpu;

inline float h2f(uint16_t h) { return hearth_fp16_to_f32(h); }
inline uint16_t f2h(float f) { return hearth_f32_to_fp16(f); }

// A symmetric block's scale (Q4_0, Q5_0): the value of largest magnitude maps to -half. Returns d; *id = 1 / d.
float sym_scale(const float *x, int half, float *id) {
  const float d = signed_absmax(x, 32) / (float)-half;
  *id = d ? 1.0f / d : 0.0f;
  return d;
}
// An asymmetric block's scale (Q4_1, Q5_1): [min, max] onto 0..levels. Returns d; *min, *id = 1 / d.
float asym_scale(const float *x, int levels, float *min, float *id) {
  float max;
  min_max(x, 32, min, &max);
  const float d = (max - *min) / (float)levels;
  *id = d ? 1.0f / d : 0.0f;
  return d;
}
// Q8_0/Q8_1 levels: scale amax / 127, values rounded half away from zero (roundf). Returns d. (The activation
// quantizer of the kernel tiers rounds half to even, as the SIMD instructions do; see kernels.h.)
float q8_levels(const float *x, int8_t qs[32]) {
  float amax;
  signed_absmax(x, 32, &amax);
  const float d = amax / ((1 << 7) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) qs[j] = (int8_t)std::roundf(x[j] * id);
  return d;
}

// 32 four-bit levels as Q4_0/Q4_1/IQ4 store them: value j < 16 the low nibble of qs[j], value j + 16 its high
// nibble (the levels are already below 16).
void store_4bit(const uint8_t q[32], uint8_t qs[16]) {
  for (int j = 0; j < 16; ++j) qs[j] = (uint8_t)(q[j] | (q[16 + j] << 4));
}

// 32 five-bit levels as Q5_0/Q5_1 store them: value j < 16 the low nibble of qs[j], value j + 16 its high nibble,
// the fifth bit of value j bit j of qh.
void store_5bit(const uint8_t q[32], uint8_t qs[16], uint8_t qh[4]) {
  uint32_t h = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[16 + j] & 0x0F) << 4));
    h |= ((q[j] & 0x10u) >> 4) << j;
    h |= ((q[16 + j] & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(qh, &h, 4);
}

// Index of the IQ4 level nearest to x (levels sorted): the upper level from the midpoint up, compared at twice
// the scale so both sides are exact (llama.cpp's best_index_int8, n = 16).
inline int best_index_iq4(float x) {
  const float x2 = x + x;
  int idx = 0;
  for (int step = 8; step > 0; step >>= 1) {
    const int j = idx + step;
    idx = x2 >= (float)(kvalues_iq4nl[j - 1] + kvalues_iq4nl[j]) ? j : idx;
  }
  return idx;
}

// llama.cpp's quantize_row_iq4_nl_impl without importance weights, ntry = 7 (what quantize_iq4_nl and
// quantize_iq4_xs use): per 32 values a weighted least-squares scale over 15 trial scales; for super-blocks
// (IQ4_XS) the 8 scales are then quantized to 6 bits and the values re-picked.
void iq4_block(int super, const float *x, uint16_t *dh, uint8_t *q4, uint16_t *scales_h, uint8_t *scales_l) {
  constexpr int bs = 32, ntry = 7;
  const int8_t *values = kvalues_iq4nl;
  float scales[qk_k / 32], weight[32];
  uint8_t L[qk_k];
  std::memset(q4, 0, (size_t)super / 2);
  dh[0] = f2h(0.f);
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < super / bs; ++ib) {
    const float *xb = x + ib * bs;
    uint8_t *Lb = L + ib * bs;
    for (int j = 0; j < bs; ++j) weight[j] = xb[j] * xb[j];
    float amax;
    const float max = signed_absmax(xb, bs, &amax);
    if (amax < k_group_max_eps) {
      scales[ib] = 0;
      continue;
    }
    float d = -max / values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < bs; ++j) {
      const float al = id * xb[j];
      const int l = best_index_iq4(al);
      Lb[j] = (uint8_t)l;
      const float q = values[l];
      const float w = weight[j];
      sumqx += w * q * xb[j];
      sumq2 += w * q * q;
    }
    d = sumqx / sumq2;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
      id = (itry + values[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < bs; ++j) {
        const float al = id * xb[j];
        const int l = best_index_iq4(al);
        const float q = values[l];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    const float abs_d = std::fabs(d);
    if (abs_d > amax_scale) {
      amax_scale = abs_d;
      max_scale = d;
    }
  }
  if (super / bs > 1) {
    *scales_h = 0;
    const float d = -max_scale / 32;
    dh[0] = f2h(d);
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < super / bs; ++ib) {
      int l = nearest_int(id * scales[ib]);
      l = std::max(-32, std::min(31, l));
      const float dl = d * l;
      const float idl = dl ? 1 / dl : 0.f;
      uint8_t *Lb = L + ib * bs;
      const float *xb = x + ib * bs;
      for (int j = 0; j < bs; ++j) Lb[j] = (uint8_t)best_index_iq4(idl * xb[j]);
      l += 32;
      const uint8_t l_l = l & 0xf, l_h = (uint8_t)(l >> 4);
      if (ib % 2 == 0) scales_l[ib / 2] = l_l;
      else scales_l[ib / 2] |= (uint8_t)(l_l << 4);
      *scales_h |= (uint16_t)(l_h << 2 * (ib % 8));
    }
  } else {
    dh[0] = f2h(scales[0]);
    const float id = scales[0] ? 1 / scales[0] : 0;
    for (int j = 0; j < super; ++j) L[j] = (uint8_t)best_index_iq4(id * x[j]);
  }
  for (int i = 0; i < super / 32; ++i) store_4bit(L + 32 * i, q4 + 16 * i);
}

}  // namespace

void encode_q4_0(const float *src, void *dst, int64_t n) {
  block_q4_0 *y = (block_q4_0 *)dst;
  for (int64_t b = 0; b < n / 32; ++b) {
    float x[32];
    finite_copy(src + b * 32, x, 32);
    float id;
    y[b].d = f2h(sym_scale(x, 8, &id));
    uint8_t q[32];
    for (int j = 0; j < 32; ++j) q[j] = (uint8_t)std::min(15, (int)(int8_t)(x[j] * id + 8.5f));
    store_4bit(q, y[b].qs);
  }
}

void encode_q8_0(const float *src, void *dst, int64_t n) {
  block_q8_0 *y = (block_q8_0 *)dst;
  for (int64_t b = 0; b < n / 32; ++b) {
    float x[32];
    finite_copy(src + b * 32, x, 32);
    y[b].d = f2h(q8_levels(x, y[b].qs));
  }
}

void encode_q4_1(const float *src, void *dst, int64_t n) {
  block_q4_1 *y = (block_q4_1 *)dst;
  for (int64_t b = 0; b < n / 32; ++b) {
    float x[32];
    finite_copy(src + b * 32, x, 32);
    float min, id;
    y[b].d = f2h(asym_scale(x, 15, &min, &id));
    y[b].m = f2h(min);
    uint8_t q[32];
    for (int j = 0; j < 32; ++j) q[j] = (uint8_t)std::min(15, (int)(int8_t)((x[j] - min) * id + 0.5f));
    store_4bit(q, y[b].qs);
  }
}

void encode_q5_0(const float *src, void *dst, int64_t n) {
  block_q5_0 *y = (block_q5_0 *)dst;
  for (int64_t b = 0; b < n / 32; ++b) {
    float x[32];
    finite_copy(src + b * 32, x, 32);
    float id;
    y[b].d = f2h(sym_scale(x, 16, &id));
    uint8_t q[32];
    for (int j = 0; j < 32; ++j) q[j] = (uint8_t)std::min(31, (int)(int8_t)(x[j] * id + 16.5f));
    store_5bit(q, y[b].qs, y[b].qh);
  }
}

void encode_q5_1(const float *src, void *dst, int64_t n) {
  block_q5_1 *y = (block_q5_1 *)dst;
  for (int64_t b = 0; b < n / 32; ++b) {
    float x[32];
    finite_copy(src + b * 32, x, 32);
    float min, id;
    y[b].d = f2h(asym_scale(x, 31, &min, &id));
    y[b].m = f2h(min);
    uint8_t q[32];
    for (int j = 0; j < 32; ++j) q[j] = (uint8_t)((x[j] - min) * id + 0.5f);
    store_5bit(q, y[b].qs, y[b].qh);
  }
}

void encode_q8_1(const float *src, void *dst, int64_t n) {
  block_q8_1 *y = (block_q8_1 *)dst;
  for (int64_t b = 0; b < n / 32; ++b) {
    float x[32];
    finite_copy(src + b * 32, x, 32);
    const float d = q8_levels(x, y[b].qs);
    y[b].d = f2h(d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += y[b].qs[j];
    y[b].s = f2h((float)sum * d);
  }
}

void encode_iq4_nl(const float *src, void *dst, int64_t n) {
  block_iq4_nl *y = (block_iq4_nl *)dst;
  for (int64_t b = 0; b < n / 32; ++b) {
    float x[32];
    finite_copy(src + b * 32, x, 32);
    iq4_block(32, x, &y[b].d, y[b].qs, nullptr, nullptr);
  }
}

void encode_iq4_xs(const float *src, void *dst, int64_t n) {
  block_iq4_xs *y = (block_iq4_xs *)dst;
  for (int64_t b = 0; b < n / qk_k; ++b) {
    float x[qk_k];
    finite_copy(src + b * qk_k, x, qk_k);
    iq4_block(qk_k, x, &y[b].d, y[b].qs, &y[b].scales_h, y[b].scales_l);
  }
}

void decode_q4_0(const void *src, float *y, int64_t n) {
  const block_q4_0 *x = (const block_q4_0 *)src;
  for (int64_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = h2f(x[b].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = ((x[b].qs[j] & 15) - 8) * d;
      y[j + 16] = ((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void decode_q8_0(const void *src, float *y, int64_t n) {
  const block_q8_0 *x = (const block_q8_0 *)src;
  for (int64_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = h2f(x[b].d);
    for (int j = 0; j < 32; ++j) y[j] = x[b].qs[j] * d;
  }
}

void decode_q4_1(const void *src, float *y, int64_t n) {
  const block_q4_1 *x = (const block_q4_1 *)src;
  for (int64_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = h2f(x[b].d), m = h2f(x[b].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = (x[b].qs[j] & 0x0F) * d + m;
      y[j + 16] = (x[b].qs[j] >> 4) * d + m;
    }
  }
}

void decode_q5_0(const void *src, float *y, int64_t n) {
  const block_q5_0 *x = (const block_q5_0 *)src;
  for (int64_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = h2f(x[b].d);
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
      y[j] = (float)(((x[b].qs[j] & 0x0F) | h0) - 16) * d;
      y[j + 16] = (float)(((x[b].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void decode_q5_1(const void *src, float *y, int64_t n) {
  const block_q5_1 *x = (const block_q5_1 *)src;
  for (int64_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = h2f(x[b].d), m = h2f(x[b].m);
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
      y[j] = (float)((x[b].qs[j] & 0x0F) | h0) * d + m;
      y[j + 16] = (float)((x[b].qs[j] >> 4) | h1) * d + m;
    }
  }
}

void decode_q8_1(const void *src, float *y, int64_t n) {
  const block_q8_1 *x = (const block_q8_1 *)src;
  for (int64_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = h2f(x[b].d);
    for (int j = 0; j < 32; ++j) y[j] = x[b].qs[j] * d;
  }
}

void decode_iq4_nl(const void *src, float *y, int64_t n) {
  const block_iq4_nl *x = (const block_iq4_nl *)src;
  for (int64_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = h2f(x[b].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * kvalues_iq4nl[x[b].qs[j] & 0xf];
      y[j + 16] = d * kvalues_iq4nl[x[b].qs[j] >> 4];
    }
  }
}

void decode_iq4_xs(const void *src, float *y, int64_t n) {
  const block_iq4_xs *x = (const block_iq4_xs *)src;
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float d = h2f(x[b].d);
    const uint8_t *qs = x[b].qs;
    for (int ib = 0; ib < qk_k / 32; ++ib, y += 32, qs += 16) {
      const int ls = ((x[b].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x[b].scales_h >> 2 * ib) & 3) << 4);
      const float dl = d * (float)(ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * kvalues_iq4nl[qs[j] & 0xf];
        y[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
      }
    }
  }
}

}  // namespace hearth::quants
