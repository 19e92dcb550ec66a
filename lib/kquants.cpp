// K-quants (Q2_K..Q6_K) and their activation type Q8_K: llama.cpp's reference algorithms (quantize_row_*_ref,
// which llama-quantize runs without an importance matrix), written from its block formats; see quants.h.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../kernels/cpu/fp16.h"
#include "../kernels/cpu/kernels.h"
#include "quant_common.h"
#include "quants.h"

namespace hearth::quants {
namespace {

using namespace hearth::cpu;

inline float h2f(uint16_t h) { return hearth_fp16_to_f32(h); }
inline uint16_t f2h(float f) { return hearth_f32_to_fp16(f); }

// Symmetric levels -nmax..nmax-1 (stored + nmax) with a scale refined by weighted least squares over 19 trial
// scales; weights x^2 (llama.cpp's make_qx_quants, rmse_type 1, no importance weights).
float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
  float amax;
  const float max = signed_absmax(x, n, &amax);
  if (amax < k_group_max_eps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = (int8_t)(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = (int8_t)(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q3_K's symmetric levels with up to five rounds of per-value refinement (make_q3_quants, do_rmse).
float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
  float amax;
  const float max = signed_absmax(x, n, &amax);
  if (amax < k_group_max_eps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = (int8_t)l;
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = std::max(-nmax, std::min(nmax - 1, new_l));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = (int8_t)new_l;
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric levels 0..nmax with scale and min fitted by weighted least squares over nstep + 1 trial scales
// (make_qkx2_quants). Returns the scale; *the_min receives -min (>= 0).
float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min, uint8_t *Laux,
                       float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = (uint8_t)std::max(0, std::min(nmax, l));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = (uint8_t)l;
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Scale and min of sub-block j of a Q4_K/Q5_K super-block: 6 bits each, packed into 12 bytes.
inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

// The 8 six-bit scales and mins of a Q4_K/Q5_K super-block, and its d/dmin (shared by both encoders).
void pack_scales_k4(const float *scales, const float *mins, float max_scale, float max_min, uint8_t *packed,
                    uint16_t *d, uint16_t *dmin) {
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < qk_k / 32; ++j) {
    uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
    uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
    ls = std::min<uint8_t>(63, ls);
    lm = std::min<uint8_t>(63, lm);
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
      packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
      packed[j - 0] |= (uint8_t)((lm >> 4) << 6);
    }
  }
  *d = f2h(max_scale / 63.f);
  *dmin = f2h(max_min / 63.f);
}

// Q4_K/Q5_K: per 32 values, weights sqrt(mean x^2) + |x| and make_qkx2_quants; then the values re-picked with the
// quantized scales. Returns the levels in L.
void kx_levels(const float *x, int nmax, float rmin, int nstep, uint8_t *packed, uint16_t *d, uint16_t *dmin, uint8_t *L) {
  float mins[qk_k / 32], scales[qk_k / 32], weights[32];
  uint8_t Laux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < qk_k / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  pack_scales_k4(scales, mins, max_scale, max_min, packed, d, dmin);
  for (int j = 0; j < qk_k / 32; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, packed, &sc, &m);
    const float dj = h2f(*d) * sc;
    if (!dj) continue;
    const float dm = h2f(*dmin) * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / dj);
      L[32 * j + ii] = (uint8_t)std::max(0, std::min(nmax, l));
    }
  }
}

// Four 2-bit levels per byte: element 128h + 32s + l goes to bits 2s of byte 32h + l (Q2_K, Q3_K).
template <class Level>
void pack_2bit(const Level *L, uint8_t *qs) {
  for (int j = 0; j < qk_k; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

}  // namespace

void encode_q2_k(const float *src, void *dst, int64_t n) {
  block_q2_k *y = (block_q2_k *)dst;
  const float q4scale = 15.f;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    float x[qk_k];
    finite_copy(src + i * qk_k, x, qk_k);
    uint8_t L[qk_k], Laux[16];
    float weights[16], mins[qk_k / 16], scales[qk_k / 16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < qk_k / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < qk_k / 16; ++j) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
      y[i].d = f2h(max_scale / q4scale);
    } else {
      for (int j = 0; j < qk_k / 16; ++j) y[i].scales[j] = 0;
      y[i].d = f2h(0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < qk_k / 16; ++j) y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
      y[i].dmin = f2h(max_min / q4scale);
    } else {
      y[i].dmin = f2h(0.f);
    }
    for (int j = 0; j < qk_k / 16; ++j) {
      const float d = h2f(y[i].d) * (y[i].scales[j] & 0xF);
      if (!d) continue;
      const float dm = h2f(y[i].dmin) * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int((x[16 * j + ii] + dm) / d);
        L[16 * j + ii] = (uint8_t)std::max(0, std::min(3, l));
      }
    }
    pack_2bit(L, y[i].qs);
  }
}

void encode_q3_k(const float *src, void *dst, int64_t n) {
  block_q3_k *y = (block_q3_k *)dst;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    float x[qk_k];
    finite_copy(src + i * qk_k, x, qk_k);
    int8_t L[qk_k];
    float scales[qk_k / 16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < qk_k / 16; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    std::memset(y[i].scales, 0, 12);
    if (max_scale) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < qk_k / 16; ++j) {
        int8_t l = (int8_t)nearest_int(iscale * scales[j]);
        l = (int8_t)(std::max<int>(-32, std::min<int>(31, l)) + 32);
        if (j < 8) y[i].scales[j] = l & 0xF;
        else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
        l >>= 4;
        y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
      }
      y[i].d = f2h(1 / iscale);
    } else {
      y[i].d = f2h(0.f);
    }
    for (int j = 0; j < qk_k / 16; ++j) {
      int8_t sc = (int8_t)(j < 8 ? y[i].scales[j] & 0xF : y[i].scales[j - 8] >> 4);
      sc = (int8_t)((sc | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
      const float d = h2f(y[i].d) * sc;
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = (int8_t)(std::max(-4, std::min(3, l)) + 4);
      }
    }
    std::memset(y[i].hmask, 0, qk_k / 8);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < qk_k; ++j) {
      if (L[j] > 3) {
        y[i].hmask[m] |= hm;
        L[j] = (int8_t)(L[j] - 4);
      }
      if (++m == qk_k / 8) {
        m = 0;
        hm = (uint8_t)(hm << 1);
      }
    }
    pack_2bit(L, y[i].qs);
  }
}

void encode_q4_k(const float *src, void *dst, int64_t n) {
  block_q4_k *y = (block_q4_k *)dst;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    float x[qk_k];
    finite_copy(src + i * qk_k, x, qk_k);
    uint8_t L[qk_k];
    kx_levels(x, 15, -1.f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
    uint8_t *q = y[i].qs;
    for (int j = 0; j < qk_k; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
  }
}

void encode_q5_k(const float *src, void *dst, int64_t n) {
  block_q5_k *y = (block_q5_k *)dst;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    float x[qk_k];
    finite_copy(src + i * qk_k, x, qk_k);
    uint8_t L[qk_k];
    kx_levels(x, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
    uint8_t *qh = y[i].qh, *ql = y[i].qs;
    std::memset(qh, 0, qk_k / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int n0 = 0; n0 < qk_k; n0 += 64, ql += 32) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[n0 + j], l2 = L[n0 + j + 32];
        if (l1 > 15) {
          l1 -= 16;
          qh[j] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          qh[j] |= m2;
        }
        ql[j] = (uint8_t)(l1 | (l2 << 4));
      }
      m1 = (uint8_t)(m1 << 2);
      m2 = (uint8_t)(m2 << 2);
    }
  }
}

void encode_q6_k(const float *src, void *dst, int64_t n) {
  block_q6_k *y = (block_q6_k *)dst;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    float x[qk_k];
    finite_copy(src + i * qk_k, x, qk_k);
    int8_t L[qk_k];
    float scales[qk_k / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < qk_k / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      if (std::fabs(scale) > max_abs_scale) {
        max_abs_scale = std::fabs(scale);
        max_scale = scale;
      }
    }
    if (max_abs_scale < k_group_max_eps) {
      std::memset(&y[i], 0, sizeof(block_q6_k));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = f2h(1 / iscale);
    for (int ib = 0; ib < qk_k / 16; ++ib) y[i].scales[ib] = (int8_t)std::min(127, nearest_int(iscale * scales[ib]));
    for (int j = 0; j < qk_k / 16; ++j) {
      const float d = h2f(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = (int8_t)(std::max(-32, std::min(31, l)) + 32);
      }
    }
    uint8_t *ql = y[i].ql, *qh = y[i].qh;
    for (int j = 0; j < qk_k; j += 128, ql += 64, qh += 32)
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
        ql[l] = (uint8_t)(q1 | (q3 << 4));
        ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
        qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                          ((L[j + l + 96] >> 4) << 6));
      }
  }
}

void encode_q8_k(const float *src, void *dst, int64_t n) {
  block_q8_k *y = (block_q8_k *)dst;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    float x[qk_k];
    finite_copy(src + i * qk_k, x, qk_k);
    float amax;
    const float max = signed_absmax(x, qk_k, &amax);
    if (!amax) {
      std::memset(&y[i], 0, sizeof(block_q8_k));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < qk_k; ++j) y[i].qs[j] = (int8_t)std::min(127, nearest_int(iscale * x[j]));
    for (int j = 0; j < qk_k / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = (int16_t)sum;
    }
    y[i].d = 1 / iscale;
  }
}

void decode_q2_k(const void *src, float *y, int64_t n) {
  const block_q2_k *x = (const block_q2_k *)src;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    const float d = h2f(x[i].d), min = h2f(x[i].dmin);
    const uint8_t *q = x[i].qs;
    int is = 0;
    for (int n0 = 0; n0 < qk_k; n0 += 128, q += 32)
      for (int shift = 0; shift < 8; shift += 2)
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = x[i].scales[is++];
          const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * (float)((q[l + 16 * half] >> shift) & 3) - ml;
        }
  }
}

void decode_q3_k(const void *src, float *y, int64_t n) {
  const block_q3_k *x = (const block_q3_k *)src;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    const float d_all = h2f(x[i].d);
    int8_t scales[16];
    for (int j = 0; j < 16; ++j) {
      const int lo = j < 8 ? x[i].scales[j] & 0xF : x[i].scales[j - 8] >> 4;
      scales[j] = (int8_t)((lo | (((x[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
    }
    const uint8_t *q = x[i].qs, *hm = x[i].hmask;
    uint8_t m = 1;
    int is = 0;
    for (int n0 = 0; n0 < qk_k; n0 += 128, q += 32)
      for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1))
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * scales[is++];
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * half;
            *y++ = dl * (float)(((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
          }
        }
  }
}

void decode_q4_k(const void *src, float *y, int64_t n) {
  const block_q4_k *x = (const block_q4_k *)src;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    const float d = h2f(x[i].d), min = h2f(x[i].dmin);
    const uint8_t *q = x[i].qs;
    for (int j = 0, is = 0; j < qk_k; j += 64, q += 32, is += 2) {
      uint8_t sc, m;
      scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void decode_q5_k(const void *src, float *y, int64_t n) {
  const block_q5_k *x = (const block_q5_k *)src;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    const float d = h2f(x[i].d), min = h2f(x[i].dmin);
    const uint8_t *ql = x[i].qs, *qh = x[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < qk_k; j += 64, ql += 32, is += 2) {
      uint8_t sc, m;
      scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      u1 = (uint8_t)(u1 << 2);
      u2 = (uint8_t)(u2 << 2);
    }
  }
}

void decode_q6_k(const void *src, float *y, int64_t n) {
  const block_q6_k *x = (const block_q6_k *)src;
  for (int64_t i = 0; i < n / qk_k; ++i) {
    const float d = h2f(x[i].d);
    const uint8_t *ql = x[i].ql, *qh = x[i].qh;
    const int8_t *sc = x[i].scales;
    for (int n0 = 0; n0 < qk_k; n0 += 128, y += 128, ql += 64, qh += 32, sc += 8)
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
  }
}

void decode_q8_k(const void *src, float *y, int64_t n) {
  const block_q8_k *x = (const block_q8_k *)src;
  for (int64_t i = 0; i < n / qk_k; ++i)
    for (int j = 0; j < qk_k; ++j) *y++ = x[i].d * x[i].qs[j];
}

}  // namespace hearth::quants
