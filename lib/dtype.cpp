#include "dtype.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "../kernels/cpu/fp16.h"
#include "error.h"
#include "quants.h"

namespace hearth {
namespace {

void f32_to_float(const void *src, float *dst, int64_t n) { std::memcpy(dst, src, (size_t)n * sizeof(float)); }
void f32_from_float(const float *src, void *dst, int64_t n) { std::memcpy(dst, src, (size_t)n * sizeof(float)); }
void f16_to_float(const void *src, float *dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = hearth_fp16_to_f32(((const uint16_t *)src)[i]);
}
void f16_from_float(const float *src, void *dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) ((uint16_t *)dst)[i] = hearth_f32_to_fp16(src[i]);
}
void bf16_to_float(const void *src, float *dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = hearth_bf16_to_f32(((const uint16_t *)src)[i]);
}
void bf16_from_float(const float *src, void *dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) ((uint16_t *)dst)[i] = hearth_f32_to_bf16(src[i]);
}

constexpr dtype F32 = dtype::f32, Q8_0 = dtype::q8_0, Q8_1 = dtype::q8_1, Q8_K = dtype::q8_k;
using namespace quants;

// Sizes from ggml's block definitions (ggml-common.h; QK_K = 256). Types hearth cannot compute are listed too,
// so that any llama.cpp file can be described and refused by name.
const dtype_traits k_rows[] = {
    // id            name       block bytes computable to_float       from_float       vec_dot cuda
    // (Q8_1 and Q8_K are activation formats: encoded and decoded, never read as weights.)
    {dtype::f32,     "F32",     1,    4,    true,  f32_to_float,  f32_from_float,  F32,    true},
    {dtype::f16,     "F16",     1,    2,    true,  f16_to_float,  f16_from_float,  F32,    true},
    {dtype::q4_0,    "Q4_0",    32,   18,   true,  decode_q4_0,   encode_q4_0,   Q8_0,   true},
    {dtype::q4_1,    "Q4_1",    32,   20,   true,  decode_q4_1,   encode_q4_1,   Q8_1,   true},
    {dtype::q5_0,    "Q5_0",    32,   22,   true,  decode_q5_0,   encode_q5_0,   Q8_0,   true},
    {dtype::q5_1,    "Q5_1",    32,   24,   true,  decode_q5_1,   encode_q5_1,   Q8_1,   true},
    {dtype::q8_0,    "Q8_0",    32,   34,   true,  decode_q8_0,   encode_q8_0,   Q8_0,   true},
    {dtype::q8_1,    "Q8_1",    32,   36,   false, decode_q8_1,   encode_q8_1,   F32,    false},
    {dtype::q2_k,    "Q2_K",    256,  84,   true,  decode_q2_k,   encode_q2_k,   Q8_K,   true},
    {dtype::q3_k,    "Q3_K",    256,  110,  true,  decode_q3_k,   encode_q3_k,   Q8_K,   true},
    {dtype::q4_k,    "Q4_K",    256,  144,  true,  decode_q4_k,   encode_q4_k,   Q8_K,   true},
    {dtype::q5_k,    "Q5_K",    256,  176,  true,  decode_q5_k,   encode_q5_k,   Q8_K,   true},
    {dtype::q6_k,    "Q6_K",    256,  210,  true,  decode_q6_k,   encode_q6_k,   Q8_K,   true},
    {dtype::q8_k,    "Q8_K",    256,  292,  false, decode_q8_k,   encode_q8_k,   F32,    false},
    {dtype::iq2_xxs, "IQ2_XXS", 256,  66,   false, nullptr,       nullptr,         F32,    false},
    {dtype::iq2_xs,  "IQ2_XS",  256,  74,   false, nullptr,       nullptr,         F32,    false},
    {dtype::iq3_xxs, "IQ3_XXS", 256,  98,   false, nullptr,       nullptr,         F32,    false},
    {dtype::iq1_s,   "IQ1_S",   256,  50,   false, nullptr,       nullptr,         F32,    false},
    {dtype::iq4_nl,  "IQ4_NL",  32,   18,   true,  decode_iq4_nl, encode_iq4_nl, Q8_0,   true},
    {dtype::iq3_s,   "IQ3_S",   256,  110,  false, nullptr,       nullptr,         F32,    false},
    {dtype::iq2_s,   "IQ2_S",   256,  82,   false, nullptr,       nullptr,         F32,    false},
    {dtype::iq4_xs,  "IQ4_XS",  256,  136,  true,  decode_iq4_xs, encode_iq4_xs, Q8_K,   true},
    {dtype::i8,      "I8",      1,    1,    false, nullptr,       nullptr,         F32,    false},
    {dtype::i16,     "I16",     1,    2,    false, nullptr,       nullptr,         F32,    false},
    {dtype::i32,     "I32",     1,    4,    false, nullptr,       nullptr,         F32,    false},
    {dtype::i64,     "I64",     1,    8,    false, nullptr,       nullptr,         F32,    false},
    {dtype::f64,     "F64",     1,    8,    false, nullptr,       nullptr,         F32,    false},
    {dtype::iq1_m,   "IQ1_M",   256,  56,   false, nullptr,       nullptr,         F32,    false},
    {dtype::bf16,    "BF16",    1,    2,    true,  bf16_to_float, bf16_from_float, F32,    true},
    {dtype::tq1_0,   "TQ1_0",   256,  54,   false, nullptr,       nullptr,         F32,    false},
    {dtype::tq2_0,   "TQ2_0",   256,  66,   false, nullptr,       nullptr,         F32,    false},
    {dtype::mxfp4,   "MXFP4",   32,   17,   false, nullptr,       nullptr,         F32,    false},
};

struct slot_table {
  dtype_traits slots[k_dtype_slots + 1];  // the last one: every id past the table
  slot_table() {
    for (uint32_t i = 0; i <= k_dtype_slots; ++i) slots[i] = {(dtype)i, nullptr, 0, 0, false, nullptr, nullptr, F32, false};
    for (const dtype_traits &r : k_rows) slots[(uint32_t)r.id] = r;
  }
};

const slot_table &table() {
  static const slot_table t;
  return t;
}

}  // namespace

const dtype_traits &traits(dtype t) {
  const uint32_t id = (uint32_t)t;
  return table().slots[id < k_dtype_slots ? id : k_dtype_slots];
}

std::string type_name(dtype t) {
  const dtype_traits &r = traits(t);
  return r.name ? std::string(r.name) : fmt::format("type {}", (uint32_t)t);
}

size_t row_bytes(dtype t, int64_t n) {
  const dtype_traits &r = traits(t);
  if (r.block_elems <= 0) fail(HEARTH_ERR_UNSUPPORTED, "the size of " + type_name(t) + " is unknown");
  return (size_t)(n / r.block_elems * r.block_bytes);
}

bool parse_type(const std::string &name, dtype *out) {
  std::string up = name;
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return (char)std::toupper(c); });
  for (const dtype_traits &r : k_rows)
    if (up == r.name && r.computable) {
      *out = r.id;
      return true;
    }
  return false;
}

std::string computable_type_names() {
  std::string s;
  for (const dtype_traits &r : k_rows)
    if (r.computable) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}

float fp16_to_f32(uint16_t h) { return hearth_fp16_to_f32(h); }
uint16_t f32_to_fp16(float f) { return hearth_f32_to_fp16(f); }
float bf16_to_f32(uint16_t h) { return hearth_bf16_to_f32(h); }
uint16_t f32_to_bf16(float f) { return hearth_f32_to_bf16(f); }

void quantize_row(dtype t, const float *src, void *dst, int64_t n) {
  const dtype_traits &r = traits(t);
  if (!r.from_float) fail(HEARTH_ERR_UNSUPPORTED, "hearth cannot encode " + type_name(t) + " (it encodes " + computable_type_names() + ")");
  if (n % r.block_elems)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("{} values do not divide into {} blocks of {}", n, type_name(t), r.block_elems));
  r.from_float(src, dst, n);
}

void dequantize_row(dtype t, const void *src, float *dst, int64_t n) {
  const dtype_traits &r = traits(t);
  if (!r.to_float) fail(HEARTH_ERR_UNSUPPORTED, "hearth cannot decode " + type_name(t) + " (it decodes " + computable_type_names() + ")");
  if (n % r.block_elems)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("{} values do not divide into {} blocks of {}", n, type_name(t), r.block_elems));
  r.to_float(src, dst, n);
}

}  // namespace hearth
