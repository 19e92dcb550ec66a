// Dense matrix-vector (and small matrix-matrix) products for the layers placed on the GPU: one warp per weight
// row, eight rows per block, each row read once for up to four tokens.
#include "common.cuh"
#include "ops.h"

namespace hearth::cuda {
namespace {

constexpr int k_rows = 8, k_tokens = 4;

template <uint32_t T>
__global__ void matmul_kernel(const uint8_t *w, int64_t rows, int64_t cols, size_t row_size, const float *x, int64_t n, float *y) {
  const int64_t r = (int64_t)blockIdx.x * k_rows + threadIdx.x / k_warp;
  if (r >= rows) return;
  const int64_t t0 = (int64_t)blockIdx.y * k_tokens;
  const int nt = (int)min((int64_t)k_tokens, n - t0);
  float acc[k_tokens] = {0, 0, 0, 0};
  warp_dot<T, k_tokens>(w + r * row_size, cols, x + t0 * cols, cols, nt, acc);
#pragma unroll
  for (int t = 0; t < k_tokens; ++t) {
    const float v = warp_sum(acc[t]);
    if (t < nt && threadIdx.x % k_warp == 0) y[(t0 + t) * rows + r] = v;
  }
}

}  // namespace

bool matmul(const void *w, uint32_t type, int64_t rows, int64_t cols, size_t row_size, const float *x, int64_t n, float *y,
            void *stream) {
  if (rows <= 0 || n <= 0) return true;
  const int64_t gy = (n + k_tokens - 1) / k_tokens, gx = (rows + k_rows - 1) / k_rows;
  if (gy > 65535 || gx > INT32_MAX) return false;
  const dim3 grid((unsigned)gx, (unsigned)gy);
  auto launch = [&](auto kernel) {
    kernel<<<grid, k_rows * k_warp, 0, (cudaStream_t)stream>>>((const uint8_t *)w, rows, cols, row_size, x, n, y);
    return launched();
  };
  HEARTH_CUDA_DISPATCH(type, return launch(matmul_kernel<T>))
}

}  // namespace hearth::cuda
