// One-token products over row groups (kernels.h's block_q4_0x16 / block_q8_0x16) for both AArch64 tiers: a
// 128-bit register holds 4 rows' 4 bytes of a chunk, multiplied by one broadcast activation word. The "dotprod"
// tier does that with SDOT by element (neon/gemv_groups_dotprod.cpp compiles this file with +dotprod); plain NEON
// with VMULL and two pairwise adds. Like the x86 tiers, four groups are walked side by side, and each block is
// folded by a multiply then an add (compiled with -ffp-contract=off), so the values equal the reference's bit for
// bit.
#include <utility>

#include "../gemv_groups.h"
#include "neon_common.h"

namespace hearth::cpu {
namespace {

// s += the dot products of the four 4-byte lanes of w with the activation word L of x.
template <int L>
inline int32x4_t dot_word(int32x4_t s, int8x16_t w, int8x16_t x) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_laneq_s32(s, w, x, L);
#else
  const int8x16_t xw = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), L));
  // Pair sums fit int16: |w x| <= 128 * 127 (the quantizer's activations are within +-127).
  const int16x8_t p = vpaddq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(xw)), vmull_high_s8(w, xw));
  return vpadalq_s16(s, p);
#endif
}

// The integer products of one block for rows 4h..4h+3 of a group: Q4_0's nibbles (0..15, so signed bytes) with the
// block's -8 * sum(x) added back; Q8_0's stored +128 bytes flipped back to signed.
template <bool Q4, class Block>
inline int32x4_t block_sums(const Block &blk, int h, int8x16_t xl, int8x16_t xh, int32_t bias) {
  int32x4_t s = vdupq_n_s32(Q4 ? bias : 0);
  [&]<int... K>(std::integer_sequence<int, K...>) {
    if constexpr (Q4) {
      const auto step = [&]<int k>(std::integral_constant<int, k>) {
        const uint8x16_t q = vld1q_u8(blk.qs[k][4 * h]);
        s = dot_word<k>(s, vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(15))), xl);
        s = dot_word<k>(s, vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), xh);
      };
      (step(std::integral_constant<int, K>{}), ...);
    } else {
      const auto step = [&]<int k>(std::integral_constant<int, k>) {
        const int8x16_t q = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(blk.qs[k][4 * h]), vdupq_n_u8(0x80)));
        s = dot_word<k % 4>(s, q, k < 4 ? xl : xh);
      };
      (step(std::integral_constant<int, K>{}), ...);
    }
  }(std::make_integer_sequence<int, Q4 ? 4 : 8>{});
  return s;
}

template <bool Q4, int G>
void run_groups(int64_t nb, const uint8_t *w, size_t group_bytes, const block_q8_0 *x, const int32_t *bias, float *y,
                int64_t nrows) {
  using group_block = std::conditional_t<Q4, block_q4_0x16, block_q8_0x16>;
  float32x4_t acc[G][4];
  for (int i = 0; i < G; ++i)
    for (int h = 0; h < 4; ++h) acc[i][h] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const int8x16_t xl = vld1q_s8(x[b].qs), xh = vld1q_s8(x[b].qs + 16);
    const float dx = hearth_neon_half(x[b].d);
    const int32_t bb = Q4 ? bias[b] : 0;
    for (int i = 0; i < G; ++i) {
      const group_block &blk = ((const group_block *)(w + i * group_bytes))[b];
      __builtin_prefetch((const uint8_t *)&blk + 1024);
      for (int h = 0; h < 4; ++h) {
        const float32x4_t d = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(blk.d + 4 * h))), dx);
        acc[i][h] = vaddq_f32(acc[i][h], vmulq_f32(vcvtq_f32_s32(block_sums<Q4>(blk, h, xl, xh, bb)), d));
      }
    }
  }
  for (int i = 0; i < G; ++i)
    for (int h = 0; h < 4; ++h) {
      const int64_t first = i * k_group_rows + 4 * h, left = nrows - first;
      if (left >= 4) {
        vst1q_f32(y + first, acc[i][h]);
      } else if (left > 0) {
        float v[4];
        vst1q_f32(v, acc[i][h]);
        for (int64_t r = 0; r < left; ++r) y[first + r] = v[r];
      }
    }
}

template <bool Q4>
void gemv_groups(int64_t n, const void *groups, int64_t nrows, const void *x, const q8_aux *aux, float *y) {
  const int64_t nb = n / 32;
  const int32_t *bias = Q4 ? aux->block_bias : nullptr;
  hearth_walk_groups<Q4>(n, groups, nrows, y, [&](auto G, const uint8_t *w, size_t group_bytes, float *yg, int64_t left) {
    run_groups<Q4, decltype(G)::value>(nb, w, group_bytes, (const block_q8_0 *)x, bias, yg, left);
  });
}

}  // namespace

#if defined(__ARM_FEATURE_DOTPROD)
void add_neon_dotprod_gemv_kernels(kernel_table &t) {
#else
void add_neon_gemv_kernels(kernel_table &t) {
#endif
  t.types[(uint32_t)dtype::q4_0].gemv_groups = gemv_groups<true>;
  t.types[(uint32_t)dtype::q8_0].gemv_groups = gemv_groups<false>;
}

}  // namespace hearth::cpu
