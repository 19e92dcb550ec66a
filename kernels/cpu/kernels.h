// CPU kernel tiers: one reference tier (scalar, always built, the test oracle) and SIMD tiers (AVX2+FMA+F16C,
// AVX-512 with VNNI) compiled in their own translation units with their own ISA flags. One table is chosen at
// start-up; HEARTH_FORCE_ISA=ref|avx2|avx512 caps the choice (oneDNN's max-ISA idea).
//
// Only PODs and plain function pointers live here, so the ISA translation units share no inline code that the
// linker could merge into a variant compiled for a newer ISA.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../../lib/dtype_id.h"

namespace hearth::cpu {

inline constexpr int qk8_0 = 32;
inline constexpr int qk4_0 = 32;

// llama.cpp block layouts, byte for byte.
struct block_q8_0 {
  uint16_t d;      // fp16 scale
  int8_t qs[32];   // value j = qs[j] * d
};
struct block_q4_0 {
  uint16_t d;      // fp16 scale
  uint8_t qs[16];  // value j = ((qs[j] & 15) - 8) * d, value j+16 = ((qs[j] >> 4) - 8) * d
};
static_assert(sizeof(block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(block_q4_0) == 18, "Q4_0 block is 18 bytes");

// Side data of Q8_0 activations, computed once per matrix rather than once per weight row: each block's scale
// as a float, and each block's "Q4_0 bias": lane k (k < 8) = -8 * the sum of the block's bytes 4k..4k+3, the
// 8 int32 lanes a 256-bit byte dot product produces. With it a Q4_0 kernel multiplies the unsigned nibbles
// directly (sum((q - 8) x) = sum(q x) - 8 sum(x)). Column c uses scale + c * nb and bias + c * nb * 8.
struct q8_aux {
  const float *scale;
  const int32_t *bias;
};

// Dot products of one weight row of n elements against ncols activation vectors (1 <= ncols <= 4) laid out
// x, x + x_stride, ... bytes apart: out[c] = dot(w, x_c). The activation format depends on the weight type:
// float for F32/F16/BF16 weights (aux unused, may be NULL), Q8_0 blocks plus aux for Q8_0/Q4_0 weights.
// Decoding a weight block once for several tokens is what makes prompt processing matrix-matrix work rather
// than one GEMV per token.
using dot_fn = void (*)(int64_t n, const void *w, const void *x, size_t x_stride, const q8_aux *aux, int ncols,
                        float *out);

// Dot products of nrows weight rows (anywhere in memory) against one Q8_0 activation vector: out[r] = row_r . x.
// Rows are processed four at a time, so x, its scales and its bias are loaded once per four rows and four
// independent memory streams are in flight: the gate and up rows of gathered neurons.
using dot_rows_fn = void (*)(int64_t n, const void *const *rows, int nrows, const void *x, const q8_aux *aux, float *out);

// Neuron-aware down projection: y[0:n) += sum_k coef[k] * row_k[0:n) over nrows weight rows of one type, each
// pointing at the first element of a block-aligned slice (n a multiple of the block size, except for float
// types). Rows are taken in pairs so each slice of y is loaded and stored once per two neurons.
using axpy_rows_fn = void (*)(int64_t n, const void *const *rows, const float *coef, int nrows, float *y);

// The kernels of one weight type. A type's row is empty (dot == nullptr) when the tier has none for it; every
// tier has a row for every computable type (dtype_traits::computable), which the kernel tests check.
struct type_kernels {
  dot_fn dot;
  // The same for rows read one at a time (gathered neurons): no prefetching past the row's end, where the next
  // row in memory is usually one the caller skips; the caller prefetches the next row it will use.
  dot_fn gather_dot;
  dot_rows_fn dot_rows;  // nullptr for float types (their dot is already one stream per row)
  axpy_rows_fn axpy_rows;
  explicit operator bool() const { return dot != nullptr; }
};

struct kernel_table {
  const char *isa;
  type_kernels types[k_dtype_slots];  // indexed by the weight's dtype id
  // n % 32 == 0; scale and bias (each may be NULL) receive the q8_aux data of the blocks (see above). Rounds half
  // to even in every tier (identical bytes); non-finite inputs encode as 0 and do not count towards the scale.
  void (*quantize_q8_0)(const float *x, void *y, float *scale, int32_t *bias, int64_t n);
  void (*axpy_f32)(int64_t n, float a, const float *x, float *y);  // y += a * x
  const type_kernels &of(dtype t) const { return types[(uint32_t)t < k_dtype_slots ? (uint32_t)t : 0]; }
};

const kernel_table &ref_kernels();
const kernel_table *avx2_kernels();    // nullptr when not compiled in
const kernel_table *avx512_kernels();  // nullptr when not compiled in

// The tier for this machine, capped by HEARTH_FORCE_ISA; chosen once.
const kernel_table &kernels();
// Every tier this machine can run (for tests and benchmarks).
int available_tiers(const kernel_table **out, int cap);

// What the dispatcher needs to know of the CPU (and the OS's support for the wider registers).
struct cpu_features {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false;
};
cpu_features detect_cpu_features();
// The tier for these features under a HEARTH_FORCE_ISA-style cap ("ref", "avx2", "avx512"; nullptr: none). The
// AVX2 tier is compiled with FMA and F16C, so it needs all three.
const kernel_table &choose_tier(const cpu_features &f, const char *cap);

}  // namespace hearth::cpu
