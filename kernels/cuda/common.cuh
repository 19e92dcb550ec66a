// Device helpers shared by the CUDA operator files: warp reductions and weight-row element access for every
// computable type, byte-for-byte llama.cpp's block layouts (see kernels/cpu/kernels.h).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hearth::cuda {

constexpr int k_warp = 32;

// hearth::dtype values of the types the kernels read
enum : uint32_t { t_f32 = 0, t_f16 = 1, t_q4_0 = 2, t_q8_0 = 8, t_bf16 = 30 };
// hearth::ffn_kind values
enum : int32_t { act_silu_gated = 0, act_relu_gated = 1, act_drelu = 2, act_relu = 3 };

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

__device__ __forceinline__ float ffn_act(int32_t kind, float g, float u) {
  switch (kind) {
    case act_silu_gated: return u * g / (1.0f + expf(-g));
    case act_relu_gated: return g > 0.0f ? u * g : 0.0f;
    case act_drelu: return g > 0.0f && u > 0.0f ? u * g : 0.0f;
    default: return u > 0.0f ? u : 0.0f;
  }
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
