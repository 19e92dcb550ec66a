// Tensor element types by ggml's numbering, as GGUF files store them. A header of its own (an enum and nothing
// else) so the kernel translation units, compiled for their own ISAs, and the CUDA files can share it.
#pragma once
#include <cstdint>

namespace hearth {

enum class dtype : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23,
  i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
  tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};

// One past the largest id above: tables indexed by type id have this many slots.
inline constexpr uint32_t k_dtype_slots = 40;

}  // namespace hearth
