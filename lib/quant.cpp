#include "quant.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "../kernels/cpu/fp16.h"
#include "../kernels/cpu/kernels.h"
#include "error.h"

namespace hearth {
namespace {

struct entry {
  uint32_t id;
  type_info info;
};

// Sizes from ggml's block definitions (QK_K = 256 for the k-quants). Types hearth cannot compute are still
// listed so that `hearth inspect` can describe any llama.cpp file.
const entry k_types[] = {
    {0, {"F32", 1, 4, true}},         {1, {"F16", 1, 2, true}},         {2, {"Q4_0", 32, 18, true}},
    {3, {"Q4_1", 32, 20, false}},     {6, {"Q5_0", 32, 22, false}},     {7, {"Q5_1", 32, 24, false}},
    {8, {"Q8_0", 32, 34, true}},      {9, {"Q8_1", 32, 36, false}},     {10, {"Q2_K", 256, 84, false}},
    {11, {"Q3_K", 256, 110, false}},  {12, {"Q4_K", 256, 144, false}},  {13, {"Q5_K", 256, 176, false}},
    {14, {"Q6_K", 256, 210, false}},  {15, {"Q8_K", 256, 292, false}},  {24, {"I8", 1, 1, false}},
    {25, {"I16", 1, 2, false}},       {26, {"I32", 1, 4, false}},       {27, {"I64", 1, 8, false}},
    {28, {"F64", 1, 8, false}},       {30, {"BF16", 1, 2, true}},
};

}  // namespace

const type_info *find_type(uint32_t type) {
  for (const entry &e : k_types)
    if (e.id == type) return &e.info;
  return nullptr;
}

const type_info &info(dtype t) {
  const type_info *i = find_type((uint32_t)t);
  if (!i) fail(HEARTH_ERR_UNSUPPORTED, "unknown tensor type " + std::to_string((uint32_t)t));
  return *i;
}

size_t row_bytes(dtype t, int64_t n) {
  const type_info &i = info(t);
  return (size_t)(n / i.block_elems * i.block_bytes);
}

bool parse_type(const std::string &name, dtype *out) {
  std::string up = name;
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return (char)std::toupper(c); });
  for (const entry &e : k_types)
    if (up == e.info.name && e.info.computable) {
      *out = (dtype)e.id;
      return true;
    }
  return false;
}

float fp16_to_f32(uint16_t h) { return hearth_fp16_to_f32(h); }
uint16_t f32_to_fp16(float f) { return hearth_f32_to_fp16(f); }
float bf16_to_f32(uint16_t h) { return hearth_bf16_to_f32(h); }
uint16_t f32_to_bf16(float f) { return hearth_f32_to_bf16(f); }

void quantize_row(dtype t, const float *src, void *dst, int64_t n) {
  switch (t) {
    case dtype::f32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case dtype::f16:
      for (int64_t i = 0; i < n; ++i) ((uint16_t *)dst)[i] = f32_to_fp16(src[i]);
      return;
    case dtype::bf16:
      for (int64_t i = 0; i < n; ++i) ((uint16_t *)dst)[i] = f32_to_bf16(src[i]);
      return;
    case dtype::q8_0:
      cpu::ref_kernels().quantize_q8_0(src, dst, nullptr, nullptr, n);
      return;
    case dtype::q4_0: {
      cpu::block_q4_0 *y = (cpu::block_q4_0 *)dst;
      for (int64_t b = 0; b < n / 32; ++b) {
        const float *x = src + b * 32;
        float amax = 0.0f, max = 0.0f;  // the value of largest magnitude, with its sign
        for (int j = 0; j < 32; ++j)
          if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
          }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        for (int j = 0; j < 16; ++j) {
          const int q0 = std::min(15, (int)(int8_t)(x[j] * id + 8.5f));
          const int q1 = std::min(15, (int)(int8_t)(x[j + 16] * id + 8.5f));
          y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
      }
      return;
    }
    default:
      fail(HEARTH_ERR_UNSUPPORTED, std::string("cannot quantize to ") + type_name(t));
  }
}

void dequantize_row(dtype t, const void *src, float *dst, int64_t n) {
  switch (t) {
    case dtype::f32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case dtype::f16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(((const uint16_t *)src)[i]);
      return;
    case dtype::bf16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(((const uint16_t *)src)[i]);
      return;
    case dtype::q8_0: {
      const cpu::block_q8_0 *x = (const cpu::block_q8_0 *)src;
      for (int64_t b = 0; b < n / 32; ++b) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < 32; ++j) dst[b * 32 + j] = x[b].qs[j] * d;
      }
      return;
    }
    case dtype::q4_0: {
      const cpu::block_q4_0 *x = (const cpu::block_q4_0 *)src;
      for (int64_t b = 0; b < n / 32; ++b) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < 16; ++j) {
          dst[b * 32 + j] = ((x[b].qs[j] & 15) - 8) * d;
          dst[b * 32 + j + 16] = ((x[b].qs[j] >> 4) - 8) * d;
        }
      }
      return;
    }
    default:
      fail(HEARTH_ERR_UNSUPPORTED, std::string("cannot dequantize ") + type_name(t));
  }
}

}  // namespace hearth
