// The token side of the GEMM kernels (gemm_kernels in kernels.h), shared by the SIMD tiers. static inline: each
// tier's translation unit compiles its own copy with its own ISA flags (as x86_common.h).
//
// A batch is cut into tiles of `most` tokens while that many are left, then of 8, 4, 2 and 1 (the widths below
// `most`): a tile of width w holds its tokens' values interleaved, so a kernel step reads token j's value at a
// fixed offset j from one pointer. Packing and the kernels walk the batch with the same widths.
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels.h"

static inline int hearth_tile_width(int64_t left, int most) {
  if (left >= most) return most;
  int w = 8;
  while (w > left) w /= 2;
  return w;
}

// Calls f(t0, w) for each tile of a batch of ntok tokens, in order: packing and the kernels walk it alike.
template <class F>
static inline void hearth_for_each_tile(int64_t ntok, int most, const F &f) {
  for (int64_t t0 = 0; t0 < ntok;) {
    const int w = hearth_tile_width(ntok - t0, most);
    f(t0, w);
    t0 += w;
  }
}

// Q8_0 activations: per block, 40 bytes per token (token t0 of a tile starts at t0 * nb * 40). Within a tile of
// width w, per block: the w scales as floats, the w corrections as int32, then eight groups of the w tokens' four
// bytes. The correction is -(2^shift) times the block's sum of its quants (the kernel's weight offset; the q8_aux
// bias lanes sum to -8 times it).
inline constexpr size_t hearth_q_token_bytes(int64_t nb) { return (size_t)nb * 40; }
static inline size_t hearth_q_tokens_bytes(int64_t n, int64_t ntok) { return hearth_q_token_bytes(n / 32) * (size_t)ntok; }

static inline void hearth_pack_tokens_q8(int64_t n, const void *x, size_t xs, const hearth::cpu::q8_aux *aux,
                                         int64_t ntok, void *tokens, int most, int shift) {
  const int64_t nb = n / 32;
  hearth_for_each_tile(ntok, most, [&](int64_t t0, int w) {
    uint8_t *tile = (uint8_t *)tokens + t0 * hearth_q_token_bytes(nb);
    for (int j = 0; j < w; ++j) {
      const int64_t t = t0 + j;
      const hearth::cpu::block_q8_0 *xb = (const hearth::cpu::block_q8_0 *)((const uint8_t *)x + t * xs);
      for (int64_t b = 0; b < nb; ++b) {
        uint8_t *blk = tile + b * 40 * w;
        const int32_t *bias = aux->bias + (t * nb + b) * 8;
        int32_t s = 0;
        for (int k = 0; k < 8; ++k) s += bias[k];
        const int32_t corr = s * (1 << (shift - 3));
        std::memcpy(blk + 4 * j, aux->scale + t * nb + b, 4);
        std::memcpy(blk + 4 * w + 4 * j, &corr, 4);
        for (int g = 0; g < 8; ++g) std::memcpy(blk + 8 * w + 4 * w * g + 4 * j, xb[b].qs + 4 * g, 4);
      }
    }
  });
}

// Q8_K activations (the super-block types'): per super-block, 292 bytes per token (token t0 of a tile starts at
// t0 * (n / 256) * 292). Within a tile of width w, per super-block: the w scales (floats), then eight words per
// token, word k holding the sums of values 32k..32k+15 and 32k+16..32k+31 as two int16 (Q8_K's bsums 2k, 2k+1),
// word k of token j at 4 (k w + j); then 64 groups of the w tokens' four bytes.
inline constexpr size_t hearth_q8k_token_bytes(int64_t nsb) { return (size_t)nsb * 292; }
static inline size_t hearth_q8k_tokens_bytes(int64_t n, int64_t ntok) { return hearth_q8k_token_bytes(n / 256) * (size_t)ntok; }

static inline void hearth_pack_tokens_q8k(int64_t n, const void *x, size_t xs, int64_t ntok, void *tokens, int most) {
  const int64_t nsb = n / 256;
  hearth_for_each_tile(ntok, most, [&](int64_t t0, int w) {
    uint8_t *tile = (uint8_t *)tokens + t0 * hearth_q8k_token_bytes(nsb);
    for (int j = 0; j < w; ++j) {
      const hearth::cpu::block_q8_k *xb = (const hearth::cpu::block_q8_k *)((const uint8_t *)x + (t0 + j) * xs);
      for (int64_t b = 0; b < nsb; ++b) {
        uint8_t *blk = tile + b * 292 * w;
        std::memcpy(blk + 4 * j, &xb[b].d, 4);
        for (int k = 0; k < 8; ++k) std::memcpy(blk + 4 * w + 4 * (k * w + j), xb[b].bsums + 2 * k, 4);
        for (int g = 0; g < 64; ++g) std::memcpy(blk + 36 * w + 4 * (g * w + j), xb[b].qs + 4 * g, 4);
      }
    }
  });
}

// Float activations: token t0 of a tile starts at float t0 * n; element k of the tile's w tokens at k * w.
static inline size_t hearth_f_tokens_bytes(int64_t n, int64_t ntok) { return (size_t)(n * ntok) * sizeof(float); }
static inline void hearth_pack_tokens_f32(int64_t n, const void *x, size_t xs, int64_t ntok, void *tokens, int most) {
  hearth_for_each_tile(ntok, most, [&](int64_t t0, int w) {
    float *tile = (float *)tokens + t0 * n;
    for (int j = 0; j < w; ++j) {
      const float *xt = (const float *)((const uint8_t *)x + (t0 + j) * xs);
      for (int64_t k = 0; k < n; ++k) tile[k * w + j] = xt[k];
    }
  });
}
