// The operators of the dense forward pass, on float activations laid out token-major ([n][width]).
// Parallel ones use tbb::parallel_for and so run in whatever task_arena the caller executes in.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "../kernels/cpu/kernels.h"
#include "model.h"

namespace hearth {

// The caller's scratch for activations quantized to the format a weight type's dot products read (Q8_0 with its
// q8_aux side data, Q8_1 or Q8_K). Operators that may run at the same time need their own.
struct q8_scratch {
  std::vector<uint8_t> blocks;
  std::vector<float> scale;
  std::vector<int32_t> bias;
  std::vector<int32_t> block_bias;
  std::vector<uint8_t> tokens;  // a batch's activations packed for the GEMM kernels
};
// The most a q8_scratch holds for n activation vectors of at most cols values, for the session's memory estimate.
size_t q8_scratch_bytes(int64_t n, int64_t cols);

// Y[t][r] = W.row(r) . X[t] for t < n. Weights whose dot product reads quantized activations (vec_dot_type) get
// them quantized first (into qs); each weight row is decoded once for up to four tokens, so prompts are
// matrix-matrix work.
void matmul(const matrix &w, const float *x, int64_t n, float *y, q8_scratch &qs);

// Activations in the format a weight type's dot kernel reads (floats; Q8_0 blocks with their side data; Q8_1 or
// Q8_K blocks, which carry their own sums).
struct activations {
  const uint8_t *data;
  size_t stride;  // bytes between tokens
  int64_t nb;     // Q8_0 blocks per token with q8_aux side data (0 for the other formats)
  const q8_scratch *qs;
  cpu::q8_aux aux(int64_t t) const {
    if (nb == 0) return {nullptr, nullptr, nullptr};
    return {qs->scale.data() + t * nb, qs->bias.data() + t * nb * 8, qs->block_bias.data() + t * nb};
  }
};
activations prepare_activations(dtype weight_type, const float *x, int64_t n, int64_t cols, q8_scratch &qs);
// The chosen tier's kernels for a weight type; UNSUPPORTED (naming the type) if it has none.
const cpu::type_kernels &cpu_kernels_for(dtype weight_type);
// The GEMM kernels' two buffers: the batch packed into buf (grown as needed; x, x_stride and aux as
// gemm_kernels::pack_tokens takes them), and the calling thread's panel of `bytes` (grown to the largest panel
// once per thread; valid until the thread's next call).
const uint8_t *pack_gemm_tokens(const cpu::gemm_kernels &gk, int64_t n, const void *x, size_t x_stride,
                                const cpu::q8_aux *aux, int64_t ntok, std::vector<uint8_t> &buf);
uint8_t *gemm_panel(size_t bytes);
// Batches through the tier's GEMM kernels (gk, the weight type's): ys[m][t * R + i] = row i of matrix m . x_t,
// the rows being all of matrix m's (R = its rows; idx NULL) or rows idx[0..K) of each (R = K). Each task packs a
// panel of rows and multiplies it by every token; the tokens are packed once, into qs. count <= 8.
void gemm_rows(const cpu::gemm_kernels &gk, const matrix *const *ws, float *const *ys, int count, const int32_t *idx,
               int64_t K, const activations &act, int64_t n, q8_scratch &qs);
// Several matrices with the same input and row length (Q, K, V; gate and up), as one parallel loop. count <= 8.
void matmul_shared(const matrix *const *ws, float *const *ys, int count, const float *x, int64_t n, q8_scratch &qs);

void rmsnorm(const float *x, const float *weight, int64_t n, int64_t width, float eps, float *y);
// (x - mean) / sqrt(var + eps) * weight + bias (bias may be null), per token.
void layernorm(const float *x, const float *weight, const float *bias, int64_t n, int64_t width, float eps, float *y);
// The norm a block spec names, with its weights (and bias, which may be null); the device's norm takes the same.
void norm(norm_kind kind, const float *x, const float *weight, const float *bias, int64_t n, int64_t width, float eps,
          float *y);
void norm(norm_kind kind, const norm_weights &w, float eps, const float *x, int64_t n, int64_t width, float *y);
// RMS norm of each head of width head_dim, in place, with head_dim weights shared by the heads (Q/K norms).
void head_norm(float *x, const float *weight, int64_t n, int32_t n_heads, int32_t head_dim, float eps);
// y[t] += b for each of n tokens of `width` values.
void add_bias(float *y, const float *b, int64_t n, int64_t width);
void add(float *x, const float *y, int64_t count);  // x += y
// logits = c * tanh(logits / c) (Gemma 2's final soft-capping)
void softcap(float *x, int64_t count, float c);
// up = ffn_act(form, gate, up) elementwise (gate unused without a gate).
void ffn_activate(const ffn_form &form, const float *gate, float *up_inout, int64_t count);
void embed(const matrix &tok_embd, const int32_t *tokens, int64_t n, float *x);
// x[t] += pos_embd.row(pos[t] + offset): learned positions (OPT).
void add_positions(const matrix &pos_embd, const int32_t *pos, int32_t offset, int64_t n, float *x);

}  // namespace hearth
