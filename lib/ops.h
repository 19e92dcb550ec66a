// The operators of the dense forward pass, on float activations laid out token-major ([n][width]).
// Parallel ones use tbb::parallel_for and so run in whatever task_arena the caller executes in.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "../kernels/cpu/kernels.h"
#include "model.h"

namespace hearth {

// Y[t][r] = W.row(r) . X[t] for t < n. Quantized weights get their activations quantized to Q8_0 first (into
// qbuf); each weight row is decoded once for up to four tokens, so prompts are matrix-matrix work.
// The caller's scratch for activations quantized to Q8_0, with their q8_aux side data.
struct q8_scratch {
  std::vector<uint8_t> blocks;
  std::vector<float> scale;
  std::vector<int32_t> bias;
};
void matmul(const matrix &w, const float *x, int64_t n, float *y, q8_scratch &qs);

// Activations in the format a weight type's dot kernel reads (floats, or Q8_0 blocks with their side data).
struct activations {
  const uint8_t *data;
  size_t stride;  // bytes between tokens
  int64_t nb;     // Q8_0 blocks per token (0 for floats)
  const q8_scratch *qs;
  cpu::q8_aux aux(int64_t t) const { return {qs->scale.data() + t * nb, qs->bias.data() + t * nb * 8}; }
};
activations prepare_activations(dtype weight_type, const float *x, int64_t n, int64_t cols, q8_scratch &qs);
// The chosen tier's kernels for a weight type; UNSUPPORTED (naming the type) if it has none.
const cpu::type_kernels &cpu_kernels_for(dtype weight_type);
// Y[t] = sum_i A[t][i] * W.row(i) for the neuron-major down projection (ffn_down_t); zero activations are
// skipped exactly. Threads own disjoint column slices of Y, so the reduction is race-free.
// Several matrices with the same input and row length (Q, K, V; gate and up), as one parallel loop. count <= 8.
void matmul_shared(const matrix *const *ws, float *const *ys, int count, const float *x, int64_t n, q8_scratch &qs);
void matmul_t(const matrix &w, const float *a, int64_t n, float *y);

void rmsnorm(const float *x, const float *weight, int64_t n, int64_t width, float eps, float *y);
// llama.cpp's "normal" RoPE: rotates pairs (2i, 2i+1) of the first n_rot dims of every head by pos * base^(-2i/n_rot).
void rope(float *x, int64_t n, int32_t n_heads, int32_t head_dim, int32_t n_rot, float base, const int32_t *pos);
// Causal attention: query t (position pos0 + t) sees cache rows 0..pos0+t; query head h reads KV head
// h / (n_head / n_head_kv). q and out are [n][n_head * head_dim], the caches [position][n_head_kv * head_dim].
void attend(const float *q, const float *kcache, const float *vcache, int64_t n, int32_t pos0, int32_t n_head,
            int32_t n_head_kv, int32_t head_dim, float *out);
// One neuron's activation from its gate and up values (gate unused for ffn_kind::relu).
inline float ffn_act(ffn_kind kind, float g, float u) {
  switch (kind) {
    case ffn_kind::silu_gated: return u * g / (1.0f + std::exp(-g));
    case ffn_kind::relu_gated: return g > 0.0f ? u * g : 0.0f;
    case ffn_kind::drelu: return g > 0.0f && u > 0.0f ? u * g : 0.0f;
    case ffn_kind::relu: return u > 0.0f ? u : 0.0f;
  }
  return 0.0f;
}
void ffn_activate(ffn_kind kind, const float *gate, float *up_inout, int64_t count);
void embed(const matrix &tok_embd, const int32_t *tokens, int64_t n, float *x);

}  // namespace hearth
