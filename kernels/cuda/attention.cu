// Causal attention for the layers placed on the GPU over an F16 KV cache: one block per (token, head). Scores of a chunk of cache
// positions go to shared memory; a running maximum and sum rescale the output between chunks (the online
// softmax), so any context length works with fixed shared memory.
#include "common.cuh"
#include "ops.h"

namespace hearth::cuda {
namespace {

constexpr int k_threads = 128, k_chunk = 2048, k_max_head_dim = 512;

__device__ float block_reduce(float v, bool is_max, float *scratch) {
  v = is_max ? v : warp_sum(v);
  if (is_max)
    for (int o = k_warp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int w = threadIdx.x / k_warp;
  __syncthreads();  // scratch may still be read from the last call
  if (threadIdx.x % k_warp == 0) scratch[w] = v;
  __syncthreads();
  float r = scratch[0];
  for (int k = 1; k < k_threads / k_warp; ++k) r = is_max ? fmaxf(r, scratch[k]) : r + scratch[k];
  return r;
}

__global__ void store_kv_kernel(__half *cache, const float *src, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) cache[i] = __float2half_rn(src[i]);
}

__global__ void attend_kernel(const float *q, const __half *kc, const __half *vc, int32_t pos0, int32_t n_head,
                              int32_t n_head_kv, int32_t hd, float scale, float softcap, int32_t window, float *out) {
  __shared__ float score[k_chunk];
  __shared__ float acc[k_max_head_dim];
  __shared__ float red[k_threads / k_warp];
  const int64_t t = blockIdx.x / n_head, h = blockIdx.x % n_head, kvh = h / (n_head / n_head_kv);
  const int64_t d = (int64_t)n_head * hd, dkv = (int64_t)n_head_kv * hd, n_kv = pos0 + t + 1;
  const int64_t first = window > 0 && n_kv > window ? n_kv - window : 0;  // a sliding window's oldest key
  const float *qh = q + t * d + h * hd;
  for (int i = threadIdx.x; i < hd; i += k_threads) acc[i] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int64_t c0 = first; c0 < n_kv; c0 += k_chunk) {
    const int len = (int)min((int64_t)k_chunk, n_kv - c0);
    float cmax = -INFINITY;
    for (int p = threadIdx.x; p < len; p += k_threads) {
      const __half *kp = kc + (c0 + p) * dkv + kvh * hd;
      float s = 0.0f;
      for (int i = 0; i < hd; ++i) s += qh[i] * __half2float(kp[i]);
      s *= scale;
      if (softcap > 0.0f) s = softcap * tanhf(s / softcap);
      score[p] = s;
      cmax = fmaxf(cmax, score[p]);
    }
    cmax = block_reduce(cmax, true, red);
    const float m_new = fmaxf(m, cmax), rescale = expf(m - m_new);
    float psum = 0.0f;
    for (int p = threadIdx.x; p < len; p += k_threads) psum += score[p] = expf(score[p] - m_new);
    psum = block_reduce(psum, false, red);  // also orders the score writes before the reads below
    l = l * rescale + psum;
    m = m_new;
    for (int i = threadIdx.x; i < hd; i += k_threads) {
      float a = acc[i] * rescale;
      for (int p = 0; p < len; ++p) a += score[p] * __half2float(vc[(c0 + p) * dkv + kvh * hd + i]);
      acc[i] = a;
    }
    __syncthreads();  // before the next chunk overwrites score
  }
  float *o = out + t * d + h * hd;
  for (int i = threadIdx.x; i < hd; i += k_threads) o[i] = acc[i] / l;
}

}  // namespace

bool store_kv(void *cache, const float *src, int64_t n, int32_t pos0, int64_t width, void *stream) {
  const int64_t count = n * width;
  if (count <= 0) return true;
  store_kv_kernel<<<(unsigned)((count + 255) / 256), 256, 0, (cudaStream_t)stream>>>((__half *)cache + (int64_t)pos0 * width, src, count);
  return launched();
}

bool attend(const float *q, const void *kc, const void *vc, int64_t n, int32_t pos0, int32_t n_head, int32_t n_head_kv,
            int32_t hd, float scale, float softcap, int32_t window, float *out, void *stream) {
  if (n <= 0) return true;
  if (hd > k_max_head_dim || n * n_head > INT32_MAX) return false;
  attend_kernel<<<(unsigned)(n * n_head), k_threads, 0, (cudaStream_t)stream>>>(q, (const __half *)kc, (const __half *)vc, pos0,
                                                                                n_head, n_head_kv, hd, scale, softcap, window, out);
  return launched();
}

}  // namespace hearth::cuda
