// RMSNorm, LayerNorm, RoPE (normal and NeoX), biases and the elementwise operators of the layers on the GPU.
#include "common.cuh"
#include "ops.h"

namespace hearth::cuda {
namespace {

constexpr int k_threads = 256;

// One block per token: the mean square by a block reduction, then the scaled copy.
__global__ void rmsnorm_kernel(const float *x, const float *w, int64_t width, float eps, float *y) {
  __shared__ float part[k_threads / k_warp];
  const float *xt = x + blockIdx.x * width;
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) s += xt[i] * xt[i];
  s = warp_sum(s);
  if (threadIdx.x % k_warp == 0) part[threadIdx.x / k_warp] = s;
  __syncthreads();
  float total = 0.0f;
  for (int k = 0; k < k_threads / k_warp; ++k) total += part[k];  // the same order in every thread
  const float scale = rsqrtf(total / (float)width + eps);
  float *yt = y + blockIdx.x * width;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) yt[i] = xt[i] * scale * w[i];
}

// One block per token: mean, then variance around it (two passes, as the CPU reference), then the scaled copy.
__global__ void layernorm_kernel(const float *x, const float *w, const float *b, int64_t width, float eps, float *y) {
  __shared__ float part[k_threads / k_warp];
  const float *xt = x + blockIdx.x * width;
  auto block_sum = [&](float s) {
    s = warp_sum(s);
    __syncthreads();
    if (threadIdx.x % k_warp == 0) part[threadIdx.x / k_warp] = s;
    __syncthreads();
    float total = 0.0f;
    for (int k = 0; k < k_threads / k_warp; ++k) total += part[k];  // the same order in every thread
    return total;
  };
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) s += xt[i];
  const float mean = block_sum(s) / (float)width;
  float v = 0.0f;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) v += (xt[i] - mean) * (xt[i] - mean);
  const float scale = rsqrtf(block_sum(v) / (float)width + eps);
  float *yt = y + blockIdx.x * width;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) yt[i] = (xt[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
}

// The frequencies travel in the launch's arguments (2 KiB of the 4 KiB a launch may carry): no upload per call.
struct rope_freqs {
  double f[256];
};

// One thread per (token, head, pair) of the first n_rot dims; the angle in double, as the CPU's rope does.
__global__ void rope_kernel(float *x, int64_t n, int32_t heads, int32_t hd, int32_t n_rot, rope_freqs freq, double mscale,
                            bool neox, int32_t pos0) {
  const int64_t pairs = n_rot / 2, id = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (id >= n * heads * pairs) return;
  const int64_t p = id % pairs, th = id / pairs, t = th / heads;
  const double theta = (double)(pos0 + t) * freq.f[p];
  const float c = (float)(cos(theta) * mscale), s = (float)(sin(theta) * mscale);
  float *v = x + th * hd;
  const int64_t a = neox ? p : 2 * p, b = neox ? p + pairs : 2 * p + 1;
  const float x0 = v[a], x1 = v[b];
  v[a] = x0 * c - x1 * s;
  v[b] = x0 * s + x1 * c;
}

__global__ void add_bias_kernel(float *y, const float *b, int64_t n, int64_t width) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n * width) y[i] += b[i % width];
}

__global__ void add_kernel(float *x, const float *y, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}
__global__ void add_scaled_kernel(float *x, const float *y, float w, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) x[i] += w * y[i];
}

__global__ void relu_kernel(float *x, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) x[i] = fmaxf(x[i], 0.0f);
}
__global__ void activate_kernel(int32_t code, const float *gate, float *up, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) up[i] = ffn_act(code, (code & 4) ? gate[i] : 0.0f, up[i]);
}

unsigned blocks_for(int64_t count) { return (unsigned)((count + k_threads - 1) / k_threads); }

}  // namespace

bool rmsnorm(const float *x, const float *w, int64_t n, int64_t width, float eps, float *y, void *stream) {
  if (n <= 0) return true;
  rmsnorm_kernel<<<(unsigned)n, k_threads, 0, (cudaStream_t)stream>>>(x, w, width, eps, y);
  return launched();
}

bool layernorm(const float *x, const float *w, const float *b, int64_t n, int64_t width, float eps, float *y, void *stream) {
  if (n <= 0) return true;
  layernorm_kernel<<<(unsigned)n, k_threads, 0, (cudaStream_t)stream>>>(x, w, b, width, eps, y);
  return launched();
}

bool add_bias(float *y, const float *b, int64_t n, int64_t width, void *stream) {
  if (n * width <= 0) return true;
  add_bias_kernel<<<blocks_for(n * width), k_threads, 0, (cudaStream_t)stream>>>(y, b, n, width);
  return launched();
}

bool rope(float *x, int64_t n, int32_t heads, int32_t hd, int32_t n_rot, const double *freq, double mscale, bool neox,
          int32_t pos0, void *stream) {
  const int64_t count = n * heads * (n_rot / 2);
  if (count <= 0) return true;
  if (n_rot / 2 > 256) return false;
  rope_freqs f{};
  for (int32_t i = 0; i < n_rot / 2; ++i) f.f[i] = freq[i];
  rope_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(x, n, heads, hd, n_rot, f, mscale, neox, pos0);
  return launched();
}

bool add(float *x, const float *y, int64_t count, void *stream) {
  if (count <= 0) return true;
  add_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(x, y, count);
  return launched();
}

bool add_scaled(float *x, const float *y, float w, int64_t count, void *stream) {
  if (count <= 0) return true;
  add_scaled_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(x, y, w, count);
  return launched();
}

bool zero(float *x, int64_t count, void *stream) {
  if (count <= 0) return true;
  return cudaMemsetAsync(x, 0, (size_t)count * sizeof(float), (cudaStream_t)stream) == cudaSuccess;
}

bool relu(float *x, int64_t count, void *stream) {
  if (count <= 0) return true;
  relu_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(x, count);
  return launched();
}

bool activate(int32_t code, const float *gate, float *up, int64_t count, void *stream) {
  if (count <= 0) return true;
  activate_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(code, gate, up, count);
  return launched();
}

}  // namespace hearth::cuda
