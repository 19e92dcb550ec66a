// Device helpers shared by the CUDA operator files: warp reductions and weight-row element access for every
// computable type, byte-for-byte llama.cpp's block layouts (see kernels/cpu/kernels.h).
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
                   t_q8_0 = (uint32_t)dtype::q8_0, t_bf16 = (uint32_t)dtype::bf16;

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = k_warp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float half_at(const uint8_t *p) { return __half2float(__ushort_as_half(*(const unsigned short *)p)); }

// Element i of a weight row of type T.
template <uint32_t T>
__device__ __forceinline__ float weight_at(const uint8_t *row, int64_t i) {
  if constexpr (T == t_f32) {
    return ((const float *)row)[i];
  } else if constexpr (T == t_f16) {
    return __half2float(((const __half *)row)[i]);
  } else if constexpr (T == t_bf16) {
    return __bfloat162float(((const __nv_bfloat16 *)row)[i]);
  } else if constexpr (T == t_q8_0) {
    const uint8_t *b = row + (i / 32) * 34;
    return half_at(b) * (float)(int8_t)b[2 + i % 32];
  } else {  // Q4_0: value j < 16 is the low nibble of byte j, value j + 16 its high nibble
    const uint8_t *b = row + (i / 32) * 18;
    const int j = (int)(i % 32);
    const uint8_t q = b[2 + (j & 15)];
    return half_at(b) * (float)((j < 16 ? q & 15 : q >> 4) - 8);
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
    default: return false;                              \
  }

// Peeks, so that the caller can still read (and clear) the error for its message.
inline bool launched() { return cudaPeekAtLastError() == cudaSuccess; }

}  // namespace hearth::cuda
