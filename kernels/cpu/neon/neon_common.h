// Helpers shared by the NEON translation units. static inline on purpose (as x86_common.h): a tier compiled with
// +dotprod and one without must not share an out-of-line copy the linker could pick for the other.
#pragma once
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "../kernels.h"

// IEEE half to float with the FCVT instruction every AArch64 core has (exact, as hearth_fp16_to_f32).
static inline float hearth_neon_half(uint16_t h) {
  __fp16 f;
  std::memcpy(&f, &h, 2);
  return (float)f;
}

// Four consecutive weights of a float-like row as floats.
static inline float32x4_t hearth_neon_load4_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
static inline float32x4_t hearth_neon_load4_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }

// The 32 weights of a Q8_0 or Q4_0 block as signed bytes (Q4_0: the nibble minus 8; values j and j + 16 share
// byte j, so lo holds values 0..15 and hi 16..31, the order of the activation block's bytes).
static inline void hearth_neon_block_q8_0(const hearth::cpu::block_q8_0 &b, int8x16_t &lo, int8x16_t &hi) {
  lo = vld1q_s8(b.qs);
  hi = vld1q_s8(b.qs + 16);
}
static inline void hearth_neon_block_q4_0(const hearth::cpu::block_q4_0 &b, int8x16_t &lo, int8x16_t &hi) {
  const uint8x16_t q = vld1q_u8(b.qs);
  const int8x16_t eight = vdupq_n_s8(8);
  lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(15))), eight);
  hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
}

// Sixteen signed bytes as four float vectors.
static inline void hearth_neon_bytes_to_f32(int8x16_t q, float32x4_t out[4]) {
  const int16x8_t a = vmovl_s8(vget_low_s8(q)), b = vmovl_high_s8(q);
  out[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(a)));
  out[1] = vcvtq_f32_s32(vmovl_high_s16(a));
  out[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(b)));
  out[3] = vcvtq_f32_s32(vmovl_high_s16(b));
}

// exp over four lanes, Cephes' polynomial as hearth_exp256 (x86_common.h) has it; exp(-inf) is 0.
static inline float32x4_t hearth_neon_exp4(float32x4_t x) {
  x = vminq_f32(x, vdupq_n_f32(88.3762626647949f));
  x = vmaxq_f32(x, vdupq_n_f32(-88.3762626647949f));
  float32x4_t fx = vrndmq_f32(vfmaq_f32(vdupq_n_f32(0.5f), x, vdupq_n_f32(1.44269504088896341f)));
  x = vfmsq_f32(x, fx, vdupq_n_f32(0.693359375f));
  x = vfmsq_f32(x, fx, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t y = vdupq_n_f32(1.9875691500e-4f);
  y = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), y, x);
  y = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), y, x);
  y = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), y, x);
  y = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), y, x);
  y = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), y, x);
  y = vfmaq_f32(vaddq_f32(x, vdupq_n_f32(1.0f)), y, vmulq_f32(x, x));
  const int32x4_t n = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(fx), vdupq_n_s32(127)), 23);
  return vmulq_f32(y, vreinterpretq_f32_s32(n));
}
