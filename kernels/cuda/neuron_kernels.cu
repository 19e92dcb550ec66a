// Neuron-aware CUDA kernels (see neuron_kernels.h). The CPU tier's scalar references are the oracle in
// tests/test_gpu_kernels.cpp.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "neuron_kernels.h"

namespace hearth::gpu {
namespace {

constexpr int k_warp = 32;
constexpr int k_rows_per_block = 8;

__device__ float warp_sum(float v) {
  for (int o = k_warp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void gather_dot_f16_kernel(const __half *W, size_t stride, const int32_t *idx, int32_t K, const float *x,
                                      int32_t n, float *out) {
  const int lane = threadIdx.x % k_warp;
  const int64_t j = (int64_t)blockIdx.x * k_rows_per_block + threadIdx.x / k_warp;
  if (j >= K) return;
  const __half *row = W + (size_t)idx[j] * stride;
  float acc = 0.0f;
  // pairs of halves where the row allows, then the tail
  const int32_t n2 = (n / 2) * 2;
  const bool aligned = ((reinterpret_cast<uintptr_t>(row) & 3u) == 0);
  if (aligned) {
    const __half2 *r2 = reinterpret_cast<const __half2 *>(row);
    for (int32_t i = lane; i < n2 / 2; i += k_warp) {
      const float2 w = __half22float2(r2[i]);
      acc += w.x * x[2 * i] + w.y * x[2 * i + 1];
    }
  } else {
    for (int32_t i = lane; i < n2; i += k_warp) acc += __half2float(row[i]) * x[i];
  }
  for (int32_t i = n2 + lane; i < n; i += k_warp) acc += __half2float(row[i]) * x[i];
  acc = warp_sum(acc);
  if (lane == 0) out[j] = acc;
}

// Block (column tile, part): the part's rows added into its partial sums for the tile's columns.
__global__ void axpy_rows_f16_kernel(const __half *W, size_t stride, const int32_t *idx, const float *a, int32_t K,
                                     int32_t d, int32_t parts, float *partial) {
  const int32_t c = blockIdx.x * blockDim.x + threadIdx.x;
  const int32_t p = blockIdx.y;
  if (c >= d) return;
  const int64_t j0 = (int64_t)K * p / parts, j1 = (int64_t)K * (p + 1) / parts;
  float acc = 0.0f;
  for (int64_t j = j0; j < j1; ++j) {
    const float aj = a[j];
    if (aj != 0.0f) acc += aj * __half2float(W[(size_t)idx[j] * stride + c]);
  }
  partial[(size_t)p * d + c] = acc;
}

__global__ void reduce_parts_kernel(const float *partial, int32_t parts, int32_t d, float *y) {
  const int32_t c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= d) return;
  float s = 0.0f;
  for (int32_t p = 0; p < parts; ++p) s += partial[(size_t)p * d + c];  // in order: the same bits every run
  y[c] = s;
}

// One block: each thread counts its contiguous chunk, an exclusive scan of the counts gives its write offset,
// so the list comes out ascending.
__global__ void compact_kernel(const float *logits, int32_t n, float threshold, int32_t *idx, int32_t *count) {
  __shared__ int32_t offs[1024];
  const int t = threadIdx.x, T = blockDim.x;
  const int32_t chunk = (n + T - 1) / T, b = min(n, t * chunk), e = min(n, b + chunk);
  int32_t c = 0;
  for (int32_t i = b; i < e; ++i) c += logits[i] >= threshold;
  offs[t] = c;
  __syncthreads();
  for (int s = 1; s < T; s *= 2) {  // Hillis-Steele inclusive scan
    const int32_t v = t >= s ? offs[t - s] : 0;
    __syncthreads();
    offs[t] += v;
    __syncthreads();
  }
  int32_t w = offs[t] - c;
  for (int32_t i = b; i < e; ++i)
    if (logits[i] >= threshold) idx[w++] = i;
  if (t == T - 1) *count = offs[t];
}

bool ok() { return cudaGetLastError() == cudaSuccess; }

}  // namespace

bool gather_dot_f16(const void *W, size_t row_stride, const int32_t *idx, int32_t K, const float *x, int32_t n,
                    float *out, void *stream) {
  if (K <= 0) return true;
  const int blocks = (K + k_rows_per_block - 1) / k_rows_per_block;
  gather_dot_f16_kernel<<<blocks, k_rows_per_block * k_warp, 0, (cudaStream_t)stream>>>(
      (const __half *)W, row_stride, idx, K, x, n, out);
  return ok();
}

bool axpy_rows_f16(const void *W, size_t row_stride, const int32_t *idx, const float *a, int32_t K, int32_t d,
                   float *partial, int32_t parts, float *y, void *stream) {
  if (d <= 0) return true;
  if (parts < 1) parts = 1;
  const int threads = 256, tiles = (d + threads - 1) / threads;
  axpy_rows_f16_kernel<<<dim3(tiles, parts), threads, 0, (cudaStream_t)stream>>>((const __half *)W, row_stride, idx, a,
                                                                                   K, d, parts, partial);
  if (!ok()) return false;
  reduce_parts_kernel<<<tiles, threads, 0, (cudaStream_t)stream>>>(partial, parts, d, y);
  return ok();
}

bool compact_mask(const float *logits, int32_t n, float threshold, int32_t *idx, int32_t *count, void *stream) {
  if (n < 0 || n > (1 << 20)) return false;
  compact_kernel<<<1, 1024, 0, (cudaStream_t)stream>>>(logits, n, threshold, idx, count);
  return ok();
}

void *device_alloc(size_t bytes) {
  void *p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}
void device_free(void *p) {
  if (p) cudaFree(p);
}
bool copy_to_device(void *dst, const void *src, size_t bytes) { return cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice) == cudaSuccess; }
bool copy_to_host(void *dst, const void *src, size_t bytes) { return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost) == cudaSuccess; }
bool synchronize() { return cudaDeviceSynchronize() == cudaSuccess; }

}  // namespace hearth::gpu
