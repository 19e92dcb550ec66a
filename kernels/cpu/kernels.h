// CPU kernel tiers: one reference tier (scalar, always built, the test oracle) and SIMD tiers compiled in their
// own translation units with their own ISA flags: on x86-64 AVX2+FMA+F16C and AVX-512 with VNNI, on AArch64 NEON
// and NEON with the dot-product extension. One table is chosen at start-up; HEARTH_FORCE_ISA caps the choice
// (oneDNN's max-ISA idea): ref|avx2|avx512 on x86-64, ref|neon|dotprod on AArch64.
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

// The other llama.cpp layouts (ggml-common.h), byte for byte. 32-element blocks: values j and j + 16 share byte
// j of qs (low, high nibble); bit j of qh is the fifth bit of value j.
struct block_q4_1 {
  uint16_t d, m;   // value = q * d + m
  uint8_t qs[16];
};
struct block_q5_0 {
  uint16_t d;      // value = (q - 16) * d
  uint8_t qh[4];
  uint8_t qs[16];
};
struct block_q5_1 {
  uint16_t d, m;   // value = q * d + m
  uint8_t qh[4];
  uint8_t qs[16];
};
struct block_q8_1 {  // activations of Q4_1/Q5_1 dot products
  uint16_t d, s;   // s = d * sum(qs)
  int8_t qs[32];
};
struct block_iq4_nl {
  uint16_t d;      // value = kvalues_iq4nl[q] * d
  uint8_t qs[16];
};

// K-quants: 256-element super-blocks of 16 or 32-element sub-blocks with their own quantized scales.
inline constexpr int qk_k = 256;
struct block_q2_k {
  uint8_t scales[16];  // sub-block j (16 values): scale = d * (scales[j] & 15), min = dmin * (scales[j] >> 4)
  uint8_t qs[64];      // 2-bit values, four per byte (element 128h + 32s + l at bits 2s of byte 32h + l)
  uint16_t d, dmin;
};
struct block_q3_k {
  uint8_t hmask[32];   // the third bit of each value (element 32k + l at bit k of byte l)
  uint8_t qs[64];      // the low two bits, as Q2_K
  uint8_t scales[12];  // 16 signed 6-bit scales (+32), packed
  uint16_t d;
};
struct block_q4_k {
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins, packed (get_scale_min_k4 in lib/quants.cpp)
  uint8_t qs[128];     // element 64h + l (l < 32) low nibble of byte 32h + l, element 64h + 32 + l its high nibble
};
struct block_q5_k {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];      // fifth bit: element 32k + l at bit k of byte l
  uint8_t qs[128];
};
struct block_q6_k {
  uint8_t ql[128];     // low four bits
  uint8_t qh[64];      // high two bits
  int8_t scales[16];   // per 16 values
  uint16_t d;
};
struct block_q8_k {    // activations of K-quant and IQ4_XS dot products
  float d;
  int8_t qs[256];
  int16_t bsums[16];   // sums of each 16 values
};
struct block_iq4_xs {
  uint16_t d;
  uint16_t scales_h;   // high two bits of the 8 six-bit sub-block scales (+32)
  uint8_t scales_l[4]; // low four bits
  uint8_t qs[128];     // as IQ4_NL, per 32 values
};
static_assert(sizeof(block_q4_1) == 20 && sizeof(block_q5_0) == 22 && sizeof(block_q5_1) == 24 &&
                  sizeof(block_q8_1) == 36 && sizeof(block_iq4_nl) == 18,
              "32-element block sizes are ggml's");
static_assert(sizeof(block_q2_k) == 84 && sizeof(block_q3_k) == 110 && sizeof(block_q4_k) == 144 &&
                  sizeof(block_q5_k) == 176 && sizeof(block_q6_k) == 210 && sizeof(block_q8_k) == 292 &&
                  sizeof(block_iq4_xs) == 136,
              "super-block sizes are ggml's");

// IQ4_NL/IQ4_XS's 16 non-linear levels.
inline constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Side data of Q8_0 activations, computed once per matrix rather than once per weight row: each block's scale
// as a float, and each block's "Q4_0 bias": lane k (k < 8) = -8 * the sum of the block's bytes 4k..4k+3, the
// 8 int32 lanes a 256-bit byte dot product produces. With it a Q4_0 kernel multiplies the unsigned nibbles
// directly (sum((q - 8) x) = sum(q x) - 8 sum(x)). Column c uses scale + c * nb and bias + c * nb * 8.
// block_bias (c * nb on) holds each block's 8 lanes summed, the one correction a row-group kernel adds per block;
// only gemv_groups reads it, and may be NULL for the other kernels.
struct q8_aux {
  const float *scale;
  const int32_t *bias;
  const int32_t *block_bias;
};
// block_bias[b] = the sum of bias[8 b .. 8 b + 8), for nb blocks.
inline void sum_block_bias(const int32_t *bias, int64_t nb, int32_t *block_bias) {
  for (int64_t b = 0; b < nb; ++b) {
    int32_t s = 0;
    for (int k = 0; k < 8; ++k) s += bias[8 * b + k];
    block_bias[b] = s;
  }
}

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

// Attention of n_q query heads (1 <= n_q <= 8) that share one KV head, over n_pos consecutive cache positions,
// folded into an online softmax (so a context can be taken in pieces, and pieces computed apart can be merged).
// For head h: q_h = q + h * hd; m[h] is the running maximum score, l[h] the running sum of exp(s - m[h]), and
// acc + h * hd the running sum of exp(s - m[h]) * v_p. A score is s = scale * q_h . k_p, then cap * tanh(s / cap)
// if cap > 0. k and v point at this KV head's slice of the first position's cache row, each in its cache's
// element type (F32, F16 or Q8_0, whose slices must then be whole blocks: hd % 32 == 0); their rows are k_row and
// v_row bytes apart. Start with m = -inf, l = 0 and acc = 0; the attention output is acc / l.
using attend_fn = void (*)(int hd, int n_q, const float *q, const void *k, const void *v, size_t k_row, size_t v_row,
                           int64_t n_pos, float scale, float cap, float *m, float *l, float *acc);

// Row groups: a matrix repacked at load for the one-token product (decode's matrix-vector), 16 rows per group.
// Each 32-value block of a group holds its 16 rows' fp16 scales, then the rows' quant bytes interleaved four at a
// time: word k of lane r is row r's bytes 4k .. 4k + 3. One 512-bit load (or two 256-bit ones) then feeds a byte
// dot product per row, lane for lane, so a group's 16 sums come out in one register with no horizontal
// reduction, and one activation word broadcast serves 16 rows. A group's blocks follow each other; groups follow
// each other. The rows past a matrix's last row in its last group are zero. lib/row_groups.* converts.
inline constexpr int k_group_rows = 16;
struct block_q4_0x16 {
  uint16_t d[16];
  uint8_t qs[4][16][4];  // qs[k][r][j] = row r's qs[4k + j] (low nibble: value 4k + j, high: value 16 + 4k + j)
};
struct block_q8_0x16 {
  uint16_t d[16];
  uint8_t qs[8][16][4];  // qs[k][r][j] = row r's qs[4k + j] + 128 (stored as the byte ^ 0x80): unsigned, as
                         // VPDPBUSD's first operand wants it; the 128 * sum(x) it adds comes off with q8_aux's bias
};
static_assert(sizeof(block_q4_0x16) == 16 * sizeof(block_q4_0) && sizeof(block_q8_0x16) == 16 * sizeof(block_q8_0),
              "a group's block is its rows' blocks, rearranged");

// y[r] = row r . x for r < nrows, the rows in ceil(nrows / 16) consecutive groups of n-element rows from groups
// (x and aux as dot_fn's for one column). Each row's value is, over blocks in order, sum += float(integer block
// product) * (scale_w * scale_x) in float, a multiply then an add (no FMA: a fused one is not exact in every C
// library the reference may be built with, MinGW's among them), so it is the same in every tier bit for bit and
// whatever the row's place: no value depends on how the caller splits the groups.
using gemv_groups_fn = void (*)(int64_t n, const void *groups, int64_t nrows, const void *x, const q8_aux *aux, float *y);

// The one-token product of float-like rows (F32, F16, BF16) as the file stores them, row after row: y[r] = row_r .
// x for nrows rows from w, row_bytes apart, x n floats. Four rows are read side by side (four weight streams per
// thread, one activation load for four rows), each row's sum formed exactly as the tier's dot forms it for one
// column, so the values are dot's bit for bit.
using gemv_rows_fn = void (*)(int64_t n, const void *w, size_t row_bytes, int64_t nrows, const float *x, float *y);

// Prompt GEMM. A panel of up to `rows` weight rows is packed once into the tier's own layout (quants decoded to
// bytes with one row per vector lane, scales to floats; float types to F32), then multiplied by every token of
// the batch while it stays in cache: a weight row is decoded once per matrix rather than once per four tokens,
// and each activation load feeds a whole panel of rows. The batch's activations are packed once too, into
// tiles of a few tokens whose values each kernel step reads at fixed offsets.
struct gemm_kernels {
  int rows;                           // panel height
  size_t (*panel_bytes)(int64_t n);   // the panel's size for rows of n elements
  // nrows (1 <= nrows <= rows) rows of n elements, anywhere in memory, into panel; the rows past nrows are zero
  void (*pack)(int64_t n, const void *const *rows, int nrows, void *panel);
  size_t (*tokens_bytes)(int64_t n, int64_t ntok);
  // ntok activation vectors (x and aux as dot_fn's) into tokens, tokens_bytes(n, ntok) bytes
  void (*pack_tokens)(int64_t n, const void *x, size_t x_stride, const q8_aux *aux, int64_t ntok, void *tokens);
  // y[t * y_stride + r] = row_r . x_t for t < ntok and r < nrows. A value's operations depend only on n: not on
  // ntok, the token's place in the batch or the row's in the panel.
  void (*run)(int64_t n, const void *panel, int nrows, const void *tokens, int64_t ntok, float *y, size_t y_stride);
  explicit operator bool() const { return run != nullptr; }
};

// The kernels of one weight type. A type's row is empty (dot == nullptr) when the tier has none for it; every
// tier has a row for every computable type (dtype_traits::computable), which the kernel tests check.
struct type_kernels {
  dot_fn dot;
  // The same for rows read one at a time (gathered neurons): no prefetching past the row's end, where the next
  // row in memory is usually one the caller skips; the caller prefetches the next row it will use.
  dot_fn gather_dot;
  dot_rows_fn dot_rows;  // nullptr for float types (their dot is already one stream per row)
  axpy_rows_fn axpy_rows;
  gemm_kernels gemm{};   // empty where the tier has none for the type (matmul then uses dot)
  // The one-token product over row groups (Q4_0, Q8_0); nullptr where the tier has none (the model then keeps
  // the type's matrices as the file has them).
  gemv_groups_fn gemv_groups = nullptr;
  // The one-token product over the file's rows for the float types; nullptr where the tier has none (matmul then
  // calls dot row by row).
  gemv_rows_fn gemv_rows = nullptr;
  // Neuron-major rows (ffn_down_t: row k is neuron k's output weights) as a panel of the tier's F32 GEMM, for a
  // batch's dense down projection: K rows, each read from its element c0 on (c0 a multiple of the F32 panel's
  // height R), the panel's element k of output column r (r < ncols <= R) at float k * R + r, zero beyond ncols.
  // nullptr where the tier has none for the type.
  void (*pack_columns)(int64_t K, const void *const *rows, int64_t c0, int ncols, void *panel) = nullptr;
  explicit operator bool() const { return dot != nullptr; }
};

struct kernel_table {
  const char *isa;
  type_kernels types[k_dtype_slots];  // indexed by the weight's dtype id
  // n % 32 == 0; scale and bias (each may be NULL) receive the q8_aux data of the blocks (see above). Rounds half
  // to even in every tier (identical bytes); non-finite inputs encode as 0 and do not count towards the scale.
  void (*quantize_q8_0)(const float *x, void *y, float *scale, int32_t *bias, int64_t n);
  // n % 256 == 0: Q8_K (the super-block types' activations), llama.cpp's quantize_row_q8_K bytes in every tier;
  // non-finite inputs encode as 0.
  void (*quantize_q8_k)(const float *x, void *y, int64_t n);
  void (*axpy_f32)(int64_t n, float a, const float *x, float *y);  // y += a * x
  attend_fn attend_kv[3][3];  // by the K and the V cache's type: kv_index
  const type_kernels &of(dtype t) const { return types[(uint32_t)t < k_dtype_slots ? (uint32_t)t : 0]; }
};

// The KV cache's element types, as indices of kernel_table::attend_kv (-1: not a KV cache type).
inline int kv_index(dtype t) { return t == dtype::f32 ? 0 : t == dtype::f16 ? 1 : t == dtype::q8_0 ? 2 : -1; }

const kernel_table &ref_kernels();
// Fills the rows of the block types beyond Q4_0/Q8_0 (kernels/cpu/avx2/quants.cpp) into an AVX2-compatible table.
void add_avx2_quant_kernels(kernel_table &t);
// Fills the attention kernels of the KV cache types (kernels/cpu/avx2/attention.cpp).
void add_avx2_attention_kernels(kernel_table &t);
// Fill the prompt GEMM kernels (kernels/cpu/avx2/gemm.cpp, kernels/cpu/avx512/gemm.cpp).
void add_avx2_gemm_kernels(kernel_table &t);
void add_avx512_gemm_kernels(kernel_table &t);
// ... and of the super-block types Q2_K..Q6_K (kernels/cpu/avx2/gemm_kquants.cpp, kernels/cpu/avx512/gemm_kquants.cpp).
void add_avx2_kquant_gemm_kernels(kernel_table &t);
void add_avx512_kquant_gemm_kernels(kernel_table &t);
// ... and the one-token products over row groups (kernels/cpu/avx2/gemv_groups.cpp, kernels/cpu/avx512/gemv_groups.cpp).
void add_avx2_gemv_kernels(kernel_table &t);
void add_avx512_gemv_kernels(kernel_table &t);
// Fills the NEON attention kernels (kernels/cpu/neon/attention.cpp), shared by both AArch64 tiers, and each
// tier's prompt GEMM (kernels/cpu/neon/gemm.cpp, compiled with and without +dotprod).
void add_neon_attention_kernels(kernel_table &t);
void add_neon_gemm_kernels(kernel_table &t);
void add_neon_dotprod_gemm_kernels(kernel_table &t);
// ... and each tier's one-token products over row groups (kernels/cpu/neon/gemv_groups.cpp, with and without +dotprod).
void add_neon_gemv_kernels(kernel_table &t);
void add_neon_dotprod_gemv_kernels(kernel_table &t);
const kernel_table *avx2_kernels();          // nullptr when not compiled in (no_simd.cpp)
const kernel_table *avx512_kernels();        // nullptr when not compiled in
const kernel_table *neon_kernels();          // nullptr when not compiled in
const kernel_table *neon_dotprod_kernels();  // nullptr when not compiled in

// The tier for this machine, capped by HEARTH_FORCE_ISA; chosen once.
const kernel_table &kernels();
// Every tier this machine can run (for tests and benchmarks).
int available_tiers(const kernel_table **out, int cap);

// What the dispatcher needs to know of the CPU (and the OS's support for the wider registers).
struct cpu_features {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false;
  bool neon = false, dotprod = false;  // AArch64: Advanced SIMD (asimd) and its dot products (asimddp)
};
cpu_features detect_cpu_features();
// The tier for these features under a HEARTH_FORCE_ISA-style cap ("ref", "avx2", "avx512", "neon", "dotprod";
// nullptr: none). The AVX2 tier is compiled with FMA and F16C, so it needs all three.
const kernel_table &choose_tier(const cpu_features &f, const char *cap);

}  // namespace hearth::cpu
