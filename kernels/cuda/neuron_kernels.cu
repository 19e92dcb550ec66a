// Neuron-aware FFN kernels over the GPU neuron table: K hot neurons whose gate, up and ffn_down_t rows are packed
// compactly (row j is original neuron orig[j]).
//   hot_gate_up: one warp per row, eight rows per block; a row no token needs is skipped after reading one
//                predictor logit per token; no synchronisation between blocks.
//   hot_down:    y = sum_j a_j * down_t.row(j): threads own columns, blocks own a fixed part of the rows and write
//                their own partial sums, which a second kernel adds in part order: no atomics, the same bits
//                every run.
//   cold_lists:  per token, the CPU's active neurons as an ascending index list (one block per token, an
//                exclusive scan of per-thread counts) and the number of active GPU neurons.
#include "common.cuh"
#include "ops.h"

namespace hearth::cuda {
namespace {

constexpr int k_rows = 8, k_tokens = 4;

template <uint32_t T>
__global__ void hot_gate_up_kernel(const uint8_t *gate, const uint8_t *up, int64_t K, int64_t cols, size_t row_size,
                                   int32_t code, const float *bgate, const float *bup, const float *xn, int64_t n,
                                   const float *logits, int32_t n_ff, const int32_t *orig, float threshold, float *a) {
  const int64_t j = (int64_t)blockIdx.x * k_rows + threadIdx.x / k_warp;
  if (j >= K) return;
  const int lane = threadIdx.x % k_warp;
  const int64_t o = logits ? orig[j] : 0;
  for (int64_t t0 = 0; t0 < n; t0 += k_tokens) {
    const int nt = (int)min((int64_t)k_tokens, n - t0);
    bool on[k_tokens];
    bool any = false;
#pragma unroll
    for (int t = 0; t < k_tokens; ++t) {
      on[t] = t < nt && (!logits || logits[(t0 + t) * n_ff + o] >= threshold);
      any = any || on[t];
    }
    if (!any) {  // inactive for these tokens: no weight is read
      if (lane < nt) a[(t0 + lane) * K + j] = 0.0f;
      continue;
    }
    float g[k_tokens] = {0, 0, 0, 0}, u[k_tokens] = {0, 0, 0, 0};
    if (gate) warp_dot<T, k_tokens>(gate + j * row_size, cols, xn + t0 * cols, cols, nt, g);
    warp_dot<T, k_tokens>(up + j * row_size, cols, xn + t0 * cols, cols, nt, u);
#pragma unroll
    for (int t = 0; t < k_tokens; ++t) {
      const float gs = warp_sum(g[t]) + (bgate ? bgate[j] : 0.0f), us = warp_sum(u[t]) + (bup ? bup[j] : 0.0f);
      if (lane == 0 && t < nt) a[(t0 + t) * K + j] = on[t] ? ffn_act(code, gs, us) : 0.0f;
    }
  }
}

// Block (column tile, part, token): the part's rows with a nonzero coefficient, added into its partial sums.
template <uint32_t T>
__global__ void hot_down_kernel(const uint8_t *w, int64_t K, int64_t cols, size_t row_size, const float *a, int64_t n,
                                int parts, float *partial) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const int p = blockIdx.y;
  const int64_t t = blockIdx.z;
  if (c >= cols) return;
  const int64_t j0 = K * p / parts, j1 = K * (p + 1) / parts;
  const float *at = a + t * K;
  float acc = 0.0f;
  for (int64_t j = j0; j < j1; ++j) {
    const float aj = at[j];  // the same for the whole block: no divergence
    if (aj != 0.0f) acc += aj * weight_at<T>(w + j * row_size, c);
  }
  partial[((int64_t)p * n + t) * cols + c] = acc;
}

__global__ void reduce_parts_kernel(const float *partial, int parts, int64_t n, int64_t cols, float *y) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * cols) return;
  float s = 0.0f;
  for (int p = 0; p < parts; ++p) s += partial[(int64_t)p * n * cols + i];  // in order
  y[i] = s;
}

constexpr int k_scan_threads = 1024;

__global__ void cold_lists_kernel(const float *logits, int64_t n, int32_t n_ff, float threshold, const int32_t *row_of,
                                  int32_t *lists, int32_t *counts) {
  __shared__ int32_t offs[k_scan_threads];
  __shared__ int32_t hot_total;
  const int64_t tok = blockIdx.x;
  const float *l = logits + tok * n_ff;
  int32_t *list = lists + tok * n_ff;
  const int th = threadIdx.x;
  if (th == 0) hot_total = 0;
  const int32_t chunk = (n_ff + k_scan_threads - 1) / k_scan_threads, b = min(n_ff, th * chunk), e = min(n_ff, b + chunk);
  int32_t c = 0, hot = 0;
  for (int32_t i = b; i < e; ++i)
    if (l[i] >= threshold) (row_of[i] < 0 ? c : hot) += 1;
  offs[th] = c;
  __syncthreads();
  atomicAdd(&hot_total, hot);  // a count: the order of the additions does not matter
  for (int s = 1; s < k_scan_threads; s *= 2) {  // Hillis-Steele inclusive scan
    const int32_t v = th >= s ? offs[th - s] : 0;
    __syncthreads();
    offs[th] += v;
    __syncthreads();
  }
  int32_t w = offs[th] - c;
  for (int32_t i = b; i < e; ++i)
    if (l[i] >= threshold && row_of[i] < 0) list[w++] = i;
  if (th == k_scan_threads - 1) counts[tok] = offs[th];
  if (th == 0) counts[n + tok] = hot_total;  // complete: the scan's barriers came after every atomicAdd
}

}  // namespace

bool has_kernels(uint32_t type) { HEARTH_CUDA_DISPATCH(type, (void)T) }

bool hot_gate_up(const void *gate, const void *up, uint32_t type, int64_t K, int64_t cols, size_t row_size, int32_t code,
                 const float *bgate, const float *bup, const float *xn, int64_t n, const float *logits, int32_t n_ff,
                 const int32_t *orig, float threshold, float *a, void *stream) {
  if (K <= 0 || n <= 0) return true;
  const int64_t blocks = (K + k_rows - 1) / k_rows;
  if (blocks > INT32_MAX) return false;
  auto launch = [&](auto kernel) {
    kernel<<<(unsigned)blocks, k_rows * k_warp, 0, (cudaStream_t)stream>>>((const uint8_t *)gate, (const uint8_t *)up, K, cols,
                                                                          row_size, code, bgate, bup, xn, n, logits, n_ff, orig,
                                                                          threshold, a);
    return launched();
  };
  HEARTH_CUDA_DISPATCH(type, return launch(hot_gate_up_kernel<T>))
}

bool hot_down(const void *w, uint32_t type, int64_t K, int64_t cols, size_t row_size, const float *a, int64_t n,
              float *scratch, float *y, void *stream) {
  if (cols <= 0 || n <= 0) return true;
  if (n > 65535) return false;
  // More parts for one token (more blocks in flight), fewer for a batch: the allocator's hot_down_scratch.
  const int threads = 256, parts = (int)hot_down_parts(n);
  const dim3 grid((unsigned)((cols + threads - 1) / threads), (unsigned)parts, (unsigned)n);
  auto launch = [&](auto kernel) {
    kernel<<<grid, threads, 0, (cudaStream_t)stream>>>((const uint8_t *)w, K, cols, row_size, a, n, parts, scratch);
    if (!launched()) return false;
    reduce_parts_kernel<<<(unsigned)((n * cols + threads - 1) / threads), threads, 0, (cudaStream_t)stream>>>(scratch, parts, n, cols, y);
    return launched();
  };
  HEARTH_CUDA_DISPATCH(type, return launch(hot_down_kernel<T>))
}

bool cold_lists(const float *logits, int64_t n, int32_t n_ff, float threshold, const int32_t *row_of, int32_t *lists,
                int32_t *counts, void *stream) {
  if (n <= 0) return true;
  if (n > INT32_MAX) return false;
  cold_lists_kernel<<<(unsigned)n, k_scan_threads, 0, (cudaStream_t)stream>>>(logits, n, n_ff, threshold, row_of, lists, counts);
  return launched();
}

}  // namespace hearth::cuda
