// Neuron-aware FFN operators over neuron-major rows. A neuron is one contiguous row of ffn_gate, ffn_up and
// ffn_down_t, so an active neuron costs one dot product per gate/up row and one axpy of its down row, and an
// inactive one costs nothing: no dense conversion, no scratch proportional to n_ff x threads.
#pragma once
#include <cstdint>
#include <vector>

#include "model.h"
#include "ops.h"
#include "masks.h"

namespace hearth {

struct sparse_scratch {
  std::vector<float> g, u, a;  // n x K, compact over the active neurons
  std::vector<float> partial;  // k_down_parts x n_embd (decode) partial sums
  std::vector<int32_t> rows;   // the neurons a call computes (its caller's list)
  std::vector<uint8_t> tokens; // a batch's coefficients packed for the GEMM kernels
};

// The down projection is split into this many fixed parts of the active list, each summed into its own partial
// buffer and reduced in order: race-free, and the result does not depend on the thread count.
inline constexpr int k_down_parts = 8;

// out[t * K + j] = w.row(idx[j]) . x[t] for the K neurons idx (ascending).
void rows_dot(const matrix &w, const int32_t *idx, int64_t K, const float *x, int64_t n, float *out, q8_scratch &qs);
// The same for several matrices sharing x (gate and up): each neuron's rows in one pass, one parallel loop.
void rows_dot_shared(const matrix *const *ws, float *const *outs, int count, const int32_t *idx, int64_t K, const float *x,
                     int64_t n, q8_scratch &qs);
// y[t] = sum_j a[t * K + j] * w.row(idx[j]) (w neuron-major: n_ff rows of n_embd). Rows whose coefficients are
// all zero are skipped (exact, and what makes the down projection sparse) unless skip_zero is false: the dense
// mode reads every row, as a dense engine would, so that it is an honest baseline.
void rows_axpy(const matrix &w, const int32_t *idx, int64_t K, const float *a, int64_t n, float *y, sparse_scratch &s,
               bool skip_zero = true);

// The FFN output y (n x n_embd) over the neurons `rows` (ascending original ids: the masks' union, restricted to
// this device's neuron table), each counted only for the tokens whose mask has it. gate_dense and up_dense
// (n x n_ff), when given, hold values already computed densely (exact-gate and CATS modes, biases included);
// otherwise the needed rows are computed here, with the layer's gate/up biases. The down bias is not added.
void sparse_ffn(const ffn_weights &L, const ffn_form &form, const float *xn, int64_t n, const ffn_masks &m,
                const std::vector<int32_t> &rows, const float *gate_dense, const float *up_dense, float *y,
                sparse_scratch &s, q8_scratch &qs);

}  // namespace hearth
