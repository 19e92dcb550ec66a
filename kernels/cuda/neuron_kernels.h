// Neuron-aware GPU operators over the GPU neuron table (F16 rows), callable from C++ without CUDA headers. Every
// function returns false on a CUDA error (the caller then falls back to the CPU) and never aborts. Pointers are
// device pointers; `stream` is a cudaStream_t passed as void*.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hearth::gpu {

// out[j] = W.row(idx[j]) . x for j < K: W holds F16 rows of n elements, row_stride elements apart. One warp per
// row, eight rows per block; no synchronisation between blocks.
bool gather_dot_f16(const void *W, size_t row_stride, const int32_t *idx, int32_t K, const float *x, int32_t n,
                    float *out, void *stream);

// y[c] = sum_j a[j] * W.row(idx[j])[c] for c < d, rows with a[j] == 0 skipped. The rows are split into `parts`
// fixed segments, each summed into partial[p * d + c], then reduced in order: deterministic, no atomics.
// partial must hold parts * d floats.
bool axpy_rows_f16(const void *W, size_t row_stride, const int32_t *idx, const float *a, int32_t K, int32_t d,
                   float *partial, int32_t parts, float *y, void *stream);

// The ascending indices i < n with logits[i] >= threshold, written to idx; *count (device) receives how many.
// One block of 1024 threads (n up to 1 << 20).
bool compact_mask(const float *logits, int32_t n, float threshold, int32_t *idx, int32_t *count, void *stream);

// Device memory and copies for tests and the executor (thin wrappers that report failure).
void *device_alloc(size_t bytes);
void device_free(void *p);
bool copy_to_device(void *dst, const void *src, size_t bytes);
bool copy_to_host(void *dst, const void *src, size_t bytes);
bool synchronize();

}  // namespace hearth::gpu
