// NEON attention over the KV cache (kernels.h, attend_fn), the AVX2 tier's scheme in 4-lane vectors: the query
// heads that share a KV head take each K and V row once; positions go in blocks of 32, with one rescale of the
// running sums per block, the block's exponentials four positions at a time, then V accumulated with the heads'
// sums in registers. Head widths must be multiples of 8 (a Q8_0 cache row is read 8 bytes at a time inside its
// block); others take the reference.
#include <algorithm>
#include <cmath>

#include "neon_common.h"
#include "../widths.h"

namespace hearth::cpu {
namespace {

constexpr int k_block = 32;

// Elements i..i+7 of a KV head's slice as two float vectors.
template <dtype T>
inline void load8(const uint8_t *row, int i, float32x4_t &a, float32x4_t &b) {
  if constexpr (T == dtype::f32) {
    a = vld1q_f32((const float *)row + i), b = vld1q_f32((const float *)row + i + 4);
  } else if constexpr (T == dtype::f16) {
    a = hearth_neon_load4_f16((const uint16_t *)row + i), b = hearth_neon_load4_f16((const uint16_t *)row + i + 4);
  } else {
    const block_q8_0 &blk = ((const block_q8_0 *)row)[i / qk8_0];
    const int16x8_t q = vmovl_s8(vld1_s8(blk.qs + i % qk8_0));
    const float d = hearth_neon_half(blk.d);
    a = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), d);
    b = vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(q)), d);
  }
}

// One block of np <= k_block positions for NQ heads.
template <dtype TK, dtype TV, int NQ>
void attend_block(int hd, const float *q, const uint8_t *k, const uint8_t *v, size_t krb, size_t vrb, int np, float scale,
                  float cap, float *m, float *l, float *acc) {
  alignas(16) float s[NQ][k_block];  // by head, so the exponentials take four positions at once
  for (int j = 0; j < np; ++j) {
    const uint8_t *kr = k + j * krb;
    float32x4_t a[NQ];
    for (int h = 0; h < NQ; ++h) a[h] = vdupq_n_f32(0.0f);
    for (int i = 0; i < hd; i += 8) {
      float32x4_t k0, k1;
      load8<TK>(kr, i, k0, k1);
      for (int h = 0; h < NQ; ++h)
        a[h] = vfmaq_f32(vfmaq_f32(a[h], vld1q_f32(q + h * hd + i), k0), vld1q_f32(q + h * hd + i + 4), k1);
    }
    for (int h = 0; h < NQ; ++h) {
      float sj = vaddvq_f32(a[h]) * scale;
      if (cap > 0) sj = cap * std::tanh(sj / cap);
      s[h][j] = sj;
    }
  }
  for (int h = 0; h < NQ; ++h) {
    float mx = m[h];
    for (int j = 0; j < np; ++j) mx = std::max(mx, s[h][j]);
    // what was summed so far, rescaled to the new maximum (by exp(-inf) = 0 on the first block)
    const float f = vgetq_lane_f32(hearth_neon_exp4(vdupq_n_f32(m[h] - mx)), 0);
    if (f != 1.0f) {
      float *ah = acc + h * hd;
      for (int i = 0; i < hd; i += 4) vst1q_f32(ah + i, vmulq_n_f32(vld1q_f32(ah + i), f));
    }
    float32x4_t lsum = vdupq_n_f32(0.0f);
    int j = 0;
    for (; j + 4 <= np; j += 4) {
      const float32x4_t p = hearth_neon_exp4(vsubq_f32(vld1q_f32(s[h] + j), vdupq_n_f32(mx)));
      vst1q_f32(s[h] + j, p);
      lsum = vaddq_f32(lsum, p);
    }
    float lt = vaddvq_f32(lsum);
    for (; j < np; ++j) {
      const float p = vgetq_lane_f32(hearth_neon_exp4(vdupq_n_f32(s[h][j] - mx)), 0);
      s[h][j] = p;
      lt += p;
    }
    l[h] = l[h] * f + lt;
    m[h] = mx;
  }
  for (int i = 0; i < hd; i += 8) {
    float32x4_t a[NQ][2];
    for (int h = 0; h < NQ; ++h) a[h][0] = vld1q_f32(acc + h * hd + i), a[h][1] = vld1q_f32(acc + h * hd + i + 4);
    for (int j = 0; j < np; ++j) {
      float32x4_t v0, v1;
      load8<TV>(v + j * vrb, i, v0, v1);
      for (int h = 0; h < NQ; ++h) a[h][0] = vfmaq_n_f32(a[h][0], v0, s[h][j]), a[h][1] = vfmaq_n_f32(a[h][1], v1, s[h][j]);
    }
    for (int h = 0; h < NQ; ++h) vst1q_f32(acc + h * hd + i, a[h][0]), vst1q_f32(acc + h * hd + i + 4, a[h][1]);
  }
}

template <dtype TK, dtype TV, int NQ>
void attend_heads(int hd, const float *q, const uint8_t *k, const uint8_t *v, size_t krb, size_t vrb, int64_t n_pos, float scale,
                  float cap, float *m, float *l, float *acc) {
  for (int64_t p = 0; p < n_pos; p += k_block) {
    const int np = (int)std::min<int64_t>(k_block, n_pos - p);
    attend_block<TK, TV, NQ>(hd, q, k + p * krb, v + p * vrb, krb, vrb, np, scale, cap, m, l, acc);
  }
}

template <dtype TK, dtype TV>
void attend(int hd, int n_q, const float *q, const void *k, const void *v, size_t krb, size_t vrb, int64_t n_pos, float scale,
            float cap, float *m, float *l, float *acc) {
  if (hd % 8 != 0 || n_q < 1 || n_q > 8) {
    ref_kernels().attend_kv[kv_index(TK)][kv_index(TV)](hd, n_q, q, k, v, krb, vrb, n_pos, scale, cap, m, l, acc);
    return;
  }
  const uint8_t *kb = (const uint8_t *)k, *vb = (const uint8_t *)v;
  hearth_with_width<1, 2, 3, 4, 5, 6, 7, 8>(n_q, [&](auto nq) {
    attend_heads<TK, TV, decltype(nq)::value>(hd, q, kb, vb, krb, vrb, n_pos, scale, cap, m, l, acc);
  });
}

}  // namespace

void add_neon_attention_kernels(kernel_table &t) {
  constexpr dtype f32 = dtype::f32, f16 = dtype::f16, q8 = dtype::q8_0;
  t.attend_kv[0][0] = attend<f32, f32>, t.attend_kv[0][1] = attend<f32, f16>, t.attend_kv[0][2] = attend<f32, q8>;
  t.attend_kv[1][0] = attend<f16, f32>, t.attend_kv[1][1] = attend<f16, f16>, t.attend_kv[1][2] = attend<f16, q8>;
  t.attend_kv[2][0] = attend<q8, f32>, t.attend_kv[2][1] = attend<q8, f16>, t.attend_kv[2][2] = attend<q8, q8>;
}

}  // namespace hearth::cpu
