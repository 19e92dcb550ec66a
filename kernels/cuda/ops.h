// Host entry points of the CUDA operators, callable from C++ without CUDA headers. Pointers are device pointers;
// `stream` is a cudaStream_t. Each returns false when the launch failed or the arguments have no kernel (an
// unknown weight type, a batch too large for the grid); none waits for the device. Weight types are
// hearth::dtype values (those with dtype_traits::cuda), activations encoded by act_code below.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hearth::cuda {

// An FFN's activation for the kernels: hearth::activation (bits 0-1), gated (bit 2), act_on_up (bit 3); the
// device ties the activation values to hearth's enum by static_assert (cuda_device.cu).
constexpr int32_t act_silu = 0, act_gelu = 1, act_relu = 2, act_relu_sq = 3;
constexpr int32_t act_code(int32_t act, bool gated, bool act_on_up) { return act | (gated ? 4 : 0) | (act_on_up ? 8 : 0); }

// hot_down splits its rows into fixed parts whose partial sums take scratch: one definition for the kernel's
// launch and the allocator (lib/device.h).
inline constexpr int64_t hot_down_parts(int64_t n) { return n == 1 ? 32 : 8; }
inline constexpr size_t hot_down_scratch(int64_t n, int64_t cols) { return (size_t)(hot_down_parts(n) * n) * (size_t)cols; }

// Whether the kernels read weights of this type (HEARTH_CUDA_DISPATCH's list).
bool has_kernels(uint32_t type);

// y[t][r] = W.row(r) . x[t]: one warp per row, four tokens per weight read.
bool matmul(const void *w, uint32_t type, int64_t rows, int64_t cols, size_t row_size, const float *x, int64_t n,
            float *y, void *stream);
bool rmsnorm(const float *x, const float *weight, int64_t n, int64_t width, float eps, float *y, void *stream);
// (x - mean) / sqrt(var + eps) * weight + bias (bias may be null)
bool layernorm(const float *x, const float *weight, const float *bias, int64_t n, int64_t width, float eps, float *y,
               void *stream);
bool add_bias(float *y, const float *b, int64_t n, int64_t width, void *stream);
// Pair i of position p turns by p * freq[i] (freq: n_rot / 2 <= 256 host values, passed in the launch), both values
// then scaled by mscale; neox: pairs (i, i + n_rot/2) instead of (2i, 2i + 1).
bool rope(float *x, int64_t n, int32_t n_heads, int32_t head_dim, int32_t n_rot, const double *freq, double mscale, bool neox,
          int32_t pos0, void *stream);
// The KV cache is F16: store_kv converts n rows of `width` floats into cache rows pos0.., attend reads them.
bool store_kv(void *cache, const float *src, int64_t n, int32_t pos0, int64_t width, void *stream);
// Scores scale * q.k, then softcap * tanh(score / softcap) when softcap > 0; window > 0: a query at p sees keys
// p - window + 1 .. p.
bool attend(const float *q, const void *kcache, const void *vcache, int64_t n, int32_t pos0, int32_t n_head,
            int32_t n_head_kv, int32_t head_dim, float scale, float softcap, int32_t window, float *out, void *stream);
bool add(float *x, const float *y, int64_t count, void *stream);
bool relu(float *x, int64_t count, void *stream);
bool add_scaled(float *x, const float *y, float w, int64_t count, void *stream);  // x += w y
bool zero(float *x, int64_t count, void *stream);
bool activate(int32_t act_code, const float *gate, float *up, int64_t count, void *stream);

// Neuron-aware FFN over K packed hot rows (see device_stream::hot_gate_up / hot_down / cold_lists).
// bgate, bup: K biases in compact row order, or null.
bool hot_gate_up(const void *gate, const void *up, uint32_t type, int64_t K, int64_t cols, size_t row_size, int32_t act_code,
                 const float *bgate, const float *bup, const float *xn, int64_t n, const float *logits, int32_t n_ff,
                 const int32_t *orig, float threshold, float *a, void *stream);
// scratch: hot_down_scratch(n, cols) floats, the partial sums of its fixed parts
bool hot_down(const void *w, uint32_t type, int64_t K, int64_t cols, size_t row_size, const float *a, int64_t n,
              float *scratch, float *y, void *stream);
bool cold_lists(const float *logits, int64_t n, int32_t n_ff, float threshold, const int32_t *row_of, int32_t *lists,
                int32_t *counts, void *stream);

}  // namespace hearth::cuda
