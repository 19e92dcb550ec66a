// Number formats against their definitions: IEEE half and bfloat16 conversions exhaustively, Q8_0 and Q4_0
// blocks byte for byte as llama.cpp lays them out, and quantize/dequantize round trips.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "../kernels/cpu/kernels.h"
#include "dtype.h"
#include "error.h"

using namespace hearth;

namespace {
// IEEE 754 binary16 by its definition.
double half_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  const double sign = s ? -1.0 : 1.0;
  if (e == 0) return sign * std::ldexp((double)m, -24);
  if (e == 31) return m ? NAN : sign * INFINITY;
  return sign * std::ldexp(1.0 + m / 1024.0, e - 15);
}
}  // namespace

TEST_CASE("fp16 to f32 is exact for all 65536 values, and f32 to fp16 rounds to nearest even") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const double want = half_value((uint16_t)h);
    const float got = fp16_to_f32((uint16_t)h);
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
      CHECK(std::isnan(fp16_to_f32(f32_to_fp16(got))));
      continue;
    }
    REQUIRE((double)got == want);
    REQUIRE(f32_to_fp16(got) == (uint16_t)h);  // round trip, signed zeros and infinities included
  }
  // Halfway cases between consecutive halves round to the even mantissa; just above rounds up.
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) {
    const uint16_t h = (uint16_t)(rng() % 0x7bff);  // finite positive, not the largest
    const double lo = half_value(h), hi = half_value((uint16_t)(h + 1));
    const float mid = (float)((lo + hi) / 2);
    if ((double)mid != (lo + hi) / 2) continue;  // not representable in float (never for these ranges)
    CHECK(f32_to_fp16(mid) == ((h & 1) ? h + 1 : h));
    CHECK(f32_to_fp16(std::nextafter(mid, INFINITY)) == h + 1);
    CHECK(f32_to_fp16(std::nextafter(mid, -INFINITY)) == h);
  }
  CHECK(f32_to_fp16(65520.0f) == 0x7c00);  // overflow to infinity
  CHECK(f32_to_fp16(65519.0f) == 0x7bff);
  CHECK(f32_to_fp16(1e-10f) == 0);
}

TEST_CASE("bf16 conversions") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32((uint16_t)h);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    REQUIRE(bits == h << 16);
    if (!std::isnan(f)) REQUIRE(f32_to_bf16(f) == h);
  }
  CHECK(f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80);  // halfway, even stays
  CHECK(f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);  // halfway, odd rounds up
}

TEST_CASE("Q8_0 block layout and round trip") {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = (j - 16) * 0.25f;
  uint8_t blk[34];
  quantize_row(dtype::q8_0, x, blk, 32);
  uint16_t d;
  std::memcpy(&d, blk, 2);
  const double scale = half_value(d);
  CHECK(scale == doctest::Approx(4.0 / 127).epsilon(1e-3));  // amax 4 -> d = 4/127
  for (int j = 0; j < 32; ++j) {
    CHECK((int8_t)blk[2 + j] == (int)std::nearbyint(x[j] / (4.0f / 127)));
  }
  float y[32];
  dequantize_row(dtype::q8_0, blk, y, 32);
  for (int j = 0; j < 32; ++j) CHECK(y[j] == (float)((int8_t)blk[2 + j] * scale));
}

TEST_CASE("Q4_0 block layout: low nibbles hold elements 0-15, high nibbles 16-31, scale from the signed max") {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = (float)(j % 16) - 8.0f;  // -8 .. 7
  x[31] = -8.5f;                                                // the largest magnitude, negative
  uint8_t blk[18];
  quantize_row(dtype::q4_0, x, blk, 32);
  uint16_t dh;
  std::memcpy(&dh, blk, 2);
  const double d = half_value(dh);
  CHECK(d == doctest::Approx(-8.5 / -8.0).epsilon(1e-3));  // d = max / -8 with max = -8.5
  for (int j = 0; j < 16; ++j) {
    const int lo = blk[2 + j] & 15, hi = blk[2 + j] >> 4;
    CHECK(std::fabs((lo - 8) * d - x[j]) <= d / 2 + 1e-3);
    CHECK(std::fabs((hi - 8) * d - x[j + 16]) <= d / 2 + 1e-3);
  }
  float y[32];
  dequantize_row(dtype::q4_0, blk, y, 32);
  for (int j = 0; j < 16; ++j) {
    CHECK(y[j] == (float)(((blk[2 + j] & 15) - 8) * d));
    CHECK(y[j + 16] == (float)(((blk[2 + j] >> 4) - 8) * d));
  }
}

TEST_CASE("quantize/dequantize round trips stay within half a quantization step") {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-3, 3);
  for (dtype t : {dtype::f16, dtype::bf16, dtype::q8_0, dtype::q4_0}) {
    std::vector<float> x(32 * 64), y(x.size());
    for (float &v : x) v = u(rng);
    std::vector<uint8_t> q(row_bytes(t, (int64_t)x.size()));
    quantize_row(t, x.data(), q.data(), (int64_t)x.size());
    dequantize_row(t, q.data(), y.data(), (int64_t)x.size());
    for (size_t b = 0; b < x.size() / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      const double step = t == dtype::q8_0 ? amax / 127.0 : t == dtype::q4_0 ? amax / 8.0 : 0.0;
      for (int j = 0; j < 32; ++j) {
        const double e = std::fabs(x[b * 32 + j] - y[b * 32 + j]);
        const double rel = t == dtype::f16 ? 1.0 / 2048 : 1.0 / 256;
        // Q4_0 spans -8d..7d with d from the signed extreme, so the opposite side can clip by up to one step.
        const double bound = t == dtype::q4_0 ? step * 1.01 : step / 2 * 1.01 + rel * std::fabs(x[b * 32 + j]);
        CHECK(e <= bound + 1e-7);
      }
    }
  }
}

TEST_CASE("traits rows: ggml's block geometry for every type it defines, unknown ids described, never thrown") {
  // (id, elements per block, bytes per block) from ggml-common.h's block structs (QK_K = 256)
  const struct {
    uint32_t id;
    int64_t elems, bytes;
    const char *name;
  } want[] = {{0, 1, 4, "F32"},        {1, 1, 2, "F16"},          {2, 32, 18, "Q4_0"},     {3, 32, 20, "Q4_1"},
              {6, 32, 22, "Q5_0"},     {7, 32, 24, "Q5_1"},       {8, 32, 34, "Q8_0"},     {9, 32, 36, "Q8_1"},
              {10, 256, 84, "Q2_K"},   {11, 256, 110, "Q3_K"},    {12, 256, 144, "Q4_K"},  {13, 256, 176, "Q5_K"},
              {14, 256, 210, "Q6_K"},  {15, 256, 292, "Q8_K"},    {16, 256, 66, "IQ2_XXS"}, {17, 256, 74, "IQ2_XS"},
              {18, 256, 98, "IQ3_XXS"}, {19, 256, 50, "IQ1_S"},   {20, 32, 18, "IQ4_NL"},  {21, 256, 110, "IQ3_S"},
              {22, 256, 82, "IQ2_S"},  {23, 256, 136, "IQ4_XS"},  {24, 1, 1, "I8"},        {25, 1, 2, "I16"},
              {26, 1, 4, "I32"},       {27, 1, 8, "I64"},         {28, 1, 8, "F64"},       {29, 256, 56, "IQ1_M"},
              {30, 1, 2, "BF16"},      {34, 256, 54, "TQ1_0"},    {35, 256, 66, "TQ2_0"},  {39, 32, 17, "MXFP4"}};
  for (const auto &w : want) {
    const dtype_traits &r = traits((dtype)w.id);
    CAPTURE(w.name);
    CHECK(r.block_elems == w.elems);
    CHECK(r.block_bytes == w.bytes);
    CHECK(std::string(r.name) == w.name);
    CHECK(type_name((dtype)w.id) == w.name);
  }
  for (uint32_t id : {4u, 5u, 31u, 36u, 40u, 200u, 0xffffffffu}) {
    CHECK(!known((dtype)id));
    CHECK(type_name((dtype)id) == "type " + std::to_string(id));
    CHECK_THROWS_AS(row_bytes((dtype)id, 32), hearth::error);
  }
  // A type hearth cannot compute is refused by name: the IQ1-IQ3 grids, ternary and MXFP4 types.
  float x[256] = {};
  uint8_t buf[512];
  for (dtype t : {dtype::iq2_xxs, dtype::iq2_xs, dtype::iq2_s, dtype::iq3_xxs, dtype::iq3_s, dtype::iq1_s, dtype::iq1_m,
                  dtype::tq1_0, dtype::tq2_0, dtype::mxfp4}) {
    CAPTURE(type_name(t));
    CHECK(!traits(t).computable);
    try {
      quantize_row(t, x, buf, 256);
      FAIL("encoded");
    } catch (const hearth::error &e) {
      CHECK(e.status() == HEARTH_ERR_UNSUPPORTED);
      CHECK(std::string(e.what()).find(type_name(t)) != std::string::npos);
    }
  }
}

TEST_CASE("every computable type has kernels in every tier, activation formats follow vec_dot_type") {
  const cpu::kernel_table *tiers[8];
  const int n = cpu::available_tiers(tiers, 8);
  for (uint32_t id = 0; id < k_dtype_slots; ++id) {
    const dtype_traits &r = traits((dtype)id);
    for (int k = 0; k < n; ++k) {
      CAPTURE(tiers[k]->isa);
      CAPTURE(type_name((dtype)id));
      const cpu::type_kernels &tk = tiers[k]->of((dtype)id);
      CHECK(bool(tk) == r.computable);
      if (r.computable) {
        CHECK(bool(tk.gather_dot));
        CHECK(bool(tk.axpy_rows));
        // the multi-row kernel exists exactly for the types whose activations are quantized
        CHECK(bool(tk.dot_rows) == (r.vec_dot_type != dtype::f32));
      }
    }
    if (r.computable) CHECK((r.to_float && r.from_float));
  }
}

TEST_CASE("non-finite values never reach a float-to-int conversion: weights and activations encode them as 0") {
  std::vector<float> x(64);
  for (int j = 0; j < 64; ++j) x[(size_t)j] = (float)(j - 32) * 0.1f;
  x[3] = NAN, x[9] = INFINITY, x[40] = -INFINITY, x[41] = -NAN;
  for (dtype t : {dtype::q8_0, dtype::q4_0}) {
    std::vector<uint8_t> q(row_bytes(t, 64));
    quantize_row(t, x.data(), q.data(), 64);
    std::vector<float> y(64);
    dequantize_row(t, q.data(), y.data(), 64);
    for (int j : {3, 9, 40, 41}) CHECK(std::fabs(y[(size_t)j]) <= 0.26f);  // 0, up to a Q4_0 step of the finite values
    for (float v : y) CHECK(std::isfinite(v));
    // the scale comes from the finite values alone
    float amax = 0;
    for (int j = 32; j < 64; ++j)
      if (std::isfinite(x[(size_t)j])) amax = std::max(amax, std::fabs(x[(size_t)j]));
    CHECK(std::fabs(y[63] - x[63]) <= amax / 7);
  }
  // The activation quantizer of every tier: identical bytes, and the non-finite lanes are 0.
  const cpu::kernel_table *tiers[8];
  const int n = cpu::available_tiers(tiers, 8);
  std::vector<uint8_t> want(row_bytes(dtype::q8_0, 64));
  cpu::ref_kernels().quantize_q8_0(x.data(), want.data(), nullptr, nullptr, 64);
  CHECK((int8_t)want[2 + 3] == 0);
  CHECK((int8_t)want[2 + 9] == 0);
  CHECK((int8_t)want[36 + 8] == 0);
  for (int k = 0; k < n; ++k) {
    std::vector<uint8_t> got(want.size());
    tiers[k]->quantize_q8_0(x.data(), got.data(), nullptr, nullptr, 64);
    CAPTURE(tiers[k]->isa);
    CHECK(got == want);
  }
}
