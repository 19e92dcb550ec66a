// Fills the q8_aux side data of one Q8_0 block. static inline: each kernel translation unit keeps its own copy.
#pragma once
#include "fp16.h"
#include "kernels.h"

static inline void hearth_q8_aux(const hearth::cpu::block_q8_0 &blk, float *scale, int32_t *bias) {
  if (scale) *scale = hearth_fp16_to_f32(blk.d);
  if (bias)
    for (int k = 0; k < 8; ++k)
      bias[k] = -8 * ((int32_t)blk.qs[4 * k] + blk.qs[4 * k + 1] + blk.qs[4 * k + 2] + blk.qs[4 * k + 3]);
}
