// Host entry points of the CUDA operators, callable from C++ without CUDA headers. Pointers are device pointers;
// `stream` is a cudaStream_t. Each returns false when the launch failed or the arguments have no kernel (an
// unknown weight type, a batch too large for the grid); none waits for the device. Weight types are
// hearth::dtype values (F32, F16, BF16, Q8_0, Q4_0), activation kinds hearth::ffn_kind values.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hearth::cuda {

// y[t][r] = W.row(r) . x[t]: one warp per row, four tokens per weight read.
bool matmul(const void *w, uint32_t type, int64_t rows, int64_t cols, size_t row_size, const float *x, int64_t n,
            float *y, void *stream);
bool rmsnorm(const float *x, const float *weight, int64_t n, int64_t width, float eps, float *y, void *stream);
bool rope(float *x, int64_t n, int32_t n_heads, int32_t head_dim, int32_t n_rot, float base, int32_t pos0, void *stream);
// The KV cache is F16: store_kv converts n rows of `width` floats into cache rows pos0.., attend reads them.
bool store_kv(void *cache, const float *src, int64_t n, int32_t pos0, int64_t width, void *stream);
bool attend(const float *q, const void *kcache, const void *vcache, int64_t n, int32_t pos0, int32_t n_head,
            int32_t n_head_kv, int32_t head_dim, float *out, void *stream);
bool add(float *x, const float *y, int64_t count, void *stream);
bool relu(float *x, int64_t count, void *stream);
bool activate(int32_t kind, const float *gate, float *up, int64_t count, void *stream);

// Neuron-aware FFN over K packed hot rows (see device_stream::hot_gate_up / hot_down / cold_lists).
bool hot_gate_up(const void *gate, const void *up, uint32_t type, int64_t K, int64_t cols, size_t row_size, int32_t kind,
                 const float *xn, int64_t n, const float *logits, int32_t n_ff, const int32_t *orig, float threshold,
                 float *a, void *stream);
// scratch: hot_down_scratch(n, cols) floats (lib/device.h), the partial sums of its fixed parts
bool hot_down(const void *w, uint32_t type, int64_t K, int64_t cols, size_t row_size, const float *a, int64_t n,
              float *scratch, float *y, void *stream);
bool cold_lists(const float *logits, int64_t n, int32_t n_ff, float threshold, const int32_t *row_of, int32_t *lists,
                int32_t *counts, void *stream);

}  // namespace hearth::cuda
