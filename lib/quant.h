// Tensor element types (ggml's numbering, as stored in GGUF), their block geometry, and row conversion.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace hearth {

enum class dtype : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30,
};

struct type_info {
  const char *name;
  int64_t block_elems;  // elements per block (1 for plain types)
  int64_t block_bytes;
  bool computable;      // hearth has kernels for it (dequantize + dot)
};

// nullptr for a type number hearth does not know (the GGUF reader rejects those).
const type_info *find_type(uint32_t type);
const type_info &info(dtype t);
inline const char *type_name(dtype t) { return info(t).name; }
// Bytes of n elements; n must be a multiple of the block size.
size_t row_bytes(dtype t, int64_t n);
bool parse_type(const std::string &name, dtype *out);  // "f16", "Q4_0", ... (case-insensitive)

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

// Reference conversions (llama.cpp's quantize_row_*_ref semantics); throw for non-computable types.
void quantize_row(dtype t, const float *src, void *dst, int64_t n);
void dequantize_row(dtype t, const void *src, float *dst, int64_t n);

}  // namespace hearth
