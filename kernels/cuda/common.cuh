// Device helpers shared by the CUDA operator files: warp reductions and weight-row element access for every
// computable type, byte-for-byte llama.cpp's block layouts (see kernels/cpu/kernels.h). The new block types are
// read one element at a time (correct, not yet tuned: no GPU has run them).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../../lib/dtype_id.h"
#include "ops.h"

namespace hearth::cuda {

constexpr int k_warp = 32;

// The types the kernels read, by hearth's own numbering (no copy of it to keep in step).
constexpr uint32_t t_f32 = (uint32_t)dtype::f32, t_f16 = (uint32_t)dtype::f16, t_q4_0 = (uint32_t)dtype::q4_0,
                   t_q8_0 = (uint32_t)dtype::q8_0, t_bf16 = (uint32_t)dtype::bf16, t_q4_1 = (uint32_t)dtype::q4_1,
                   t_q5_0 = (uint32_t)dtype::q5_0, t_q5_1 = (uint32_t)dtype::q5_1, t_iq4_nl = (uint32_t)dtype::iq4_nl,
                   t_q2_k = (uint32_t)dtype::q2_k, t_q3_k = (uint32_t)dtype::q3_k, t_q4_k = (uint32_t)dtype::q4_k,
                   t_q5_k = (uint32_t)dtype::q5_k, t_q6_k = (uint32_t)dtype::q6_k, t_iq4_xs = (uint32_t)dtype::iq4_xs;

__host__ __device__ __forceinline__ float iq4_level(int q) {
  constexpr int8_t levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  return (float)levels[q];
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = k_warp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__host__ __device__ __forceinline__ float half_at(const uint8_t *p) { return __half2float(__ushort_as_half(*(const unsigned short *)p)); }

// Element i of a weight row of type T. Host code can call it too: tests/test_cuda_decode.cu checks it against the
// CPU decoders without a GPU.
template <uint32_t T>
__host__ __device__ __forceinline__ float weight_at(const uint8_t *row, int64_t i) {
  if constexpr (T == t_f32) {
    return ((const float *)row)[i];
  } else if constexpr (T == t_f16) {
    return __half2float(((const __half *)row)[i]);
  } else if constexpr (T == t_bf16) {
    return __bfloat162float(((const __nv_bfloat16 *)row)[i]);
  } else if constexpr (T == t_q8_0) {
    const uint8_t *b = row + (i / 32) * 34;
    return half_at(b) * (float)(int8_t)b[2 + i % 32];
  } else if constexpr (T == t_q4_0) {  // value j < 16 is the low nibble of byte j, value j + 16 its high nibble
    const uint8_t *b = row + (i / 32) * 18;
    const int j = (int)(i % 32);
    const uint8_t q = b[2 + (j & 15)];
    return half_at(b) * (float)((j < 16 ? q & 15 : q >> 4) - 8);
  } else if constexpr (T == t_q4_1 || T == t_q5_0 || T == t_q5_1 || T == t_iq4_nl) {  // the other 32-value blocks
    constexpr int bytes = T == t_q4_1 ? 20 : T == t_q5_0 ? 22 : T == t_q5_1 ? 24 : 18;
    constexpr int qs = T == t_q4_1 ? 4 : T == t_q5_0 ? 6 : T == t_q5_1 ? 8 : 2;
    const uint8_t *b = row + (i / 32) * bytes;
    const int j = (int)(i % 32);
    const uint8_t byte = b[qs + (j & 15)];
    int q = j < 16 ? byte & 15 : byte >> 4;
    if constexpr (T == t_iq4_nl) return half_at(b) * iq4_level(q);
    if constexpr (T == t_q5_0 || T == t_q5_1) {
      const uint8_t *qh = b + (T == t_q5_0 ? 2 : 4);
      q |= ((qh[j / 8] >> (j % 8)) & 1) << 4;
    }
    if constexpr (T == t_q5_0) return half_at(b) * (float)(q - 16);
    return half_at(b) * (float)q + half_at(b + 2);
  } else {  // K-quants and IQ4_XS: 256-value super-blocks (layouts in kernels/cpu/kernels.h)
    const int e = (int)(i % 256), h = e / 128, s = (e % 128) / 32, l = e % 32, k = e / 16, j = e / 32;
    if constexpr (T == t_q2_k) {
      const uint8_t *b = row + (i / 256) * 84;
      const uint8_t sc = b[k];
      const int q = (b[16 + 32 * h + l] >> (2 * s)) & 3;
      return half_at(b + 80) * (float)(sc & 15) * (float)q - half_at(b + 82) * (float)(sc >> 4);
    } else if constexpr (T == t_q3_k) {
      const uint8_t *b = row + (i / 256) * 110;
      const uint8_t *scales = b + 96;
      const int lo = k < 8 ? scales[k] & 15 : scales[k - 8] >> 4;
      const int sc = (lo | (((scales[8 + k % 4] >> (2 * (k / 4))) & 3) << 4)) - 32;
      const int q = ((b[32 + 32 * h + l] >> (2 * s)) & 3) - ((b[l] >> j) & 1 ? 0 : 4);
      return half_at(b + 108) * (float)sc * (float)q;
    } else if constexpr (T == t_q4_k || T == t_q5_k) {
      const uint8_t *b = row + (i / 256) * (T == t_q4_k ? 144 : 176);
      const uint8_t *sc = b + 4;
      int d, m;
      if (j < 4) d = sc[j] & 63, m = sc[j + 4] & 63;
      else d = (sc[j + 4] & 15) | ((sc[j - 4] >> 6) << 4), m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
      const uint8_t byte = b[(T == t_q4_k ? 16 : 48) + 32 * (j / 2) + l];
      int q = j % 2 ? byte >> 4 : byte & 15;
      if constexpr (T == t_q5_k) q |= ((b[16 + l] >> j) & 1) << 4;
      return half_at(b) * (float)d * (float)q - half_at(b + 2) * (float)m;
    } else if constexpr (T == t_q6_k) {
      const uint8_t *b = row + (i / 256) * 210;
      const uint8_t byte = b[64 * h + 32 * (s & 1) + l];
      const int lo = s < 2 ? byte & 15 : byte >> 4;
      const int q = (lo | (((b[128 + 32 * h + l] >> (2 * s)) & 3) << 4)) - 32;
      return half_at(b + 208) * (float)(int8_t)b[192 + 8 * h + 2 * s + l / 16] * (float)q;
    } else {  // IQ4_XS
      const uint8_t *b = row + (i / 256) * 136;
      const int scales_h = b[2] | (b[3] << 8);
      const int ls = ((b[4 + j / 2] >> (4 * (j % 2))) & 15) | (((scales_h >> (2 * j)) & 3) << 4);
      const uint8_t byte = b[8 + 16 * j + (l & 15)];
      return half_at(b) * (float)(ls - 32) * iq4_level(l < 16 ? byte & 15 : byte >> 4);
    }
  }
}

// The lane's part of the dot products of one row with nt <= NT token vectors (x + t * x_stride); the caller
// reduces each acc[t] across the warp. F16 rows whose length and address allow it are read 16 bytes per lane.
template <uint32_t T, int NT>
__device__ __forceinline__ void warp_dot(const uint8_t *row, int64_t cols, const float *x, int64_t x_stride, int nt, float *acc) {
  const int lane = threadIdx.x % k_warp;
  if constexpr (T == t_f16) {
    if (cols % 8 == 0 && ((uintptr_t)row & 15) == 0 && ((uintptr_t)x & 15) == 0 && x_stride % 4 == 0) {
      const uint4 *r = (const uint4 *)row;
      for (int64_t k = lane; k < cols / 8; k += k_warp) {
        const uint4 raw = r[k];
        const __half2 *h = (const __half2 *)&raw;
        float w[8];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 f = __half22float2(h[e]);
          w[2 * e] = f.x, w[2 * e + 1] = f.y;
        }
#pragma unroll
        for (int t = 0; t < NT; ++t) {
          if (t >= nt) break;
          const float4 a = ((const float4 *)(x + t * x_stride))[2 * k], b = ((const float4 *)(x + t * x_stride))[2 * k + 1];
          acc[t] += w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w + w[4] * b.x + w[5] * b.y + w[6] * b.z + w[7] * b.w;
        }
      }
      return;
    }
  }
  for (int64_t i = lane; i < cols; i += k_warp) {
    const float w = weight_at<T>(row, i);
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      if (t >= nt) break;
      acc[t] += w * x[t * x_stride + i];
    }
  }
}

// hearth's act_value and ffn_act (lib/model.h), on the device.
__device__ __forceinline__ float act_value(int32_t act, float v) {
  switch (act) {
    case act_silu: return v / (1.0f + expf(-v));
    case act_gelu: return 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
    case act_relu: return v > 0.0f ? v : 0.0f;
    default: return v > 0.0f ? v * v : 0.0f;  // act_relu_sq
  }
}
__device__ __forceinline__ float ffn_act(int32_t code, float g, float u) {
  const int32_t act = code & 3;
  if (!(code & 4)) return act_value(act, u);
  const float a = act_value(act, g);
  if (code & 8) return a != 0.0f ? a * act_value(act, u) : 0.0f;
  return a != 0.0f ? a * u : 0.0f;
}

// Runs LAUNCH (a statement that may use the constant T) for the weight type T named by `type`, then returns true;
// returns false for a type with no kernel.
#define HEARTH_CUDA_CASE(TT, LAUNCH) \
  case TT: {                         \
    constexpr uint32_t T = TT;       \
    LAUNCH;                          \
    return true;                     \
  }
#define HEARTH_CUDA_DISPATCH(type, LAUNCH)              \
  switch (type) {                                       \
    HEARTH_CUDA_CASE(::hearth::cuda::t_f32, LAUNCH)     \
    HEARTH_CUDA_CASE(::hearth::cuda::t_f16, LAUNCH)     \
    HEARTH_CUDA_CASE(::hearth::cuda::t_bf16, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q8_0, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q4_0, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q4_1, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q5_0, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q5_1, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_iq4_nl, LAUNCH)  \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q2_k, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q3_k, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q4_k, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q5_k, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_q6_k, LAUNCH)    \
    HEARTH_CUDA_CASE(::hearth::cuda::t_iq4_xs, LAUNCH)  \
    default: return false;                              \
  }

// Peeks, so that the caller can still read (and clear) the error for its message.
inline bool launched() { return cudaPeekAtLastError() == cudaSuccess; }

}  // namespace hearth::cuda
