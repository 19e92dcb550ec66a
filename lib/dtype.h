// Tensor element types: one traits row per type (llama.cpp's ggml_type_traits), the only place that knows a
// type's block geometry, its conversions and the activation format its dot products read. Everything else (the
// loader, the operators, the kernel tables, the CUDA dispatch, the tests) asks these rows instead of switching on
// the type. Adding a computable type is a row here, its block layout in kernels/cpu/kernels.h and its kernels in
// each tier (docs/architecture.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "dtype_id.h"

namespace hearth {

using to_float_fn = void (*)(const void *src, float *dst, int64_t n);
using from_float_fn = void (*)(const float *src, void *dst, int64_t n);

struct dtype_traits {
  dtype id;
  const char *name;         // ggml's name ("Q4_0"); nullptr for an id ggml does not define
  int64_t block_elems;      // elements per block (1 for plain types); 0 when the id is unknown
  int64_t block_bytes;
  bool computable;          // hearth runs it: to_float, from_float and CPU kernels in every tier
  to_float_fn to_float;     // reference decoding (nullptr unless computable)
  from_float_fn from_float; // reference encoding, llama.cpp's quantize_row_*_ref rounding (nullptr likewise)
  dtype vec_dot_type;       // the activations its dot products read: F32 (floats) or a quantized format
  bool cuda;                // the CUDA kernels read it (kernels/cuda/common.cuh, HEARTH_CUDA_DISPATCH)
};

// The row of a type id; an id ggml does not define gets a row with name nullptr and block_elems 0 (never
// throws, so `hearth inspect` can describe any file).
const dtype_traits &traits(dtype t);
inline bool known(dtype t) { return traits(t).block_elems > 0; }
// "Q4_0", or "type 200" for an unknown id.
std::string type_name(dtype t);
// Bytes of n elements; n must be a multiple of the block size and the type known.
size_t row_bytes(dtype t, int64_t n);
// "f16", "Q4_0", ... (case-insensitive), computable types only.
bool parse_type(const std::string &name, dtype *out);
// The computable types, in id order (for tests and messages).
std::string computable_type_names();

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

// The traits' conversions; throw hearth::error (UNSUPPORTED, naming the type) for a type that is not computable.
// Non-finite inputs never reach a float-to-integer conversion: they encode as 0 and do not count towards a
// block's scale.
void quantize_row(dtype t, const float *src, void *dst, int64_t n);
void dequantize_row(dtype t, const void *src, float *dst, int64_t n);

}  // namespace hearth
