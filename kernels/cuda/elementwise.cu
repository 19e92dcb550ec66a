// RMSNorm, RoPE and the elementwise operators of the layers placed on the GPU.
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

// One thread per (token, head, pair) of the first n_rot dims; the angle in double, as the CPU reference does.
__global__ void rope_kernel(float *x, int64_t n, int32_t heads, int32_t hd, int32_t n_rot, float base, int32_t pos0) {
  const int64_t pairs = n_rot / 2, id = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (id >= n * heads * pairs) return;
  const int64_t i = 2 * (id % pairs), th = id / pairs, t = th / heads;
  const double theta = (double)(pos0 + t) * pow((double)base, -(double)i / n_rot);
  const float c = (float)cos(theta), s = (float)sin(theta);
  float *v = x + th * hd;
  const float x0 = v[i], x1 = v[i + 1];
  v[i] = x0 * c - x1 * s;
  v[i + 1] = x0 * s + x1 * c;
}

__global__ void add_kernel(float *x, const float *y, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}
__global__ void relu_kernel(float *x, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) x[i] = fmaxf(x[i], 0.0f);
}
__global__ void activate_kernel(int32_t kind, const float *gate, float *up, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) up[i] = ffn_act(kind, kind == act_relu ? 0.0f : gate[i], up[i]);
}

unsigned blocks_for(int64_t count) { return (unsigned)((count + k_threads - 1) / k_threads); }

}  // namespace

bool rmsnorm(const float *x, const float *w, int64_t n, int64_t width, float eps, float *y, void *stream) {
  if (n <= 0) return true;
  rmsnorm_kernel<<<(unsigned)n, k_threads, 0, (cudaStream_t)stream>>>(x, w, width, eps, y);
  return launched();
}

bool rope(float *x, int64_t n, int32_t heads, int32_t hd, int32_t n_rot, float base, int32_t pos0, void *stream) {
  const int64_t count = n * heads * (n_rot / 2);
  if (count <= 0) return true;
  rope_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(x, n, heads, hd, n_rot, base, pos0);
  return launched();
}

bool add(float *x, const float *y, int64_t count, void *stream) {
  if (count <= 0) return true;
  add_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(x, y, count);
  return launched();
}

bool relu(float *x, int64_t count, void *stream) {
  if (count <= 0) return true;
  relu_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(x, count);
  return launched();
}

bool activate(int32_t kind, const float *gate, float *up, int64_t count, void *stream) {
  if (count <= 0) return true;
  activate_kernel<<<blocks_for(count), k_threads, 0, (cudaStream_t)stream>>>(kind, gate, up, count);
  return launched();
}

}  // namespace hearth::cuda
