// The block types beyond Q4_0/Q8_0 against llama.cpp itself: tests/data/quant-vectors holds the bytes that
// llama.cpp's quantizers (ggml-quants.c, as llama-quantize calls them without an importance matrix) wrote for
// eight fixed inputs, and the floats its dequantizers decoded from them (tools/quant-vectors makes them). hearth
// must reproduce both bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "dtype.h"
#include "error.h"

using namespace hearth;

namespace {

constexpr int64_t k_n = 512;  // values per input case
constexpr int k_cases = 8;    // gaussian, small weights with outliers, positive, zero, constant, wide range, sparse, tiny

std::vector<uint8_t> read_file(const std::string &name) {
  std::ifstream f(std::string(HEARTH_TEST_DATA) + "/quant-vectors/" + name, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), name);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<float> as_floats(const std::vector<uint8_t> &b) {
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

const char *const k_case_names[k_cases] = {"gaussian", "weights+outliers", "positive", "zero", "constant",
                                           "wide range", "sparse", "tiny"};

}  // namespace

TEST_CASE("every type's quantization is byte-identical to llama.cpp's, and its dequantization bit-identical") {
  const std::vector<float> inputs = as_floats(read_file("inputs.f32"));
  REQUIRE(inputs.size() == (size_t)(k_n * k_cases));
  for (const char *name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL",
                           "IQ4_XS"}) {
    dtype t;
    REQUIRE(parse_type(name, &t));
    const size_t bytes = row_bytes(t, k_n);
    const std::vector<uint8_t> want = read_file(std::string(name) + ".bin");
    const std::vector<float> want_deq = as_floats(read_file(std::string(name) + ".deq.f32"));
    REQUIRE(want.size() == bytes * k_cases);
    for (int c = 0; c < k_cases; ++c) {
      CAPTURE(name);
      CAPTURE(k_case_names[c]);
      std::vector<uint8_t> got(bytes);
      quantize_row(t, inputs.data() + c * k_n, got.data(), k_n);
      CHECK(std::memcmp(got.data(), want.data() + c * bytes, bytes) == 0);
      std::vector<float> deq(k_n);
      dequantize_row(t, want.data() + c * bytes, deq.data(), k_n);
      CHECK(std::memcmp(deq.data(), want_deq.data() + c * k_n, k_n * 4) == 0);
    }
  }
}

TEST_CASE("the activation formats Q8_1 and Q8_K encode as llama.cpp's reference rows") {
  const std::vector<float> inputs = as_floats(read_file("inputs.f32"));
  for (const dtype t : {dtype::q8_1, dtype::q8_k}) {
    const size_t bytes = row_bytes(t, k_n);
    const std::vector<uint8_t> want = read_file(type_name(t) + ".bin");
    REQUIRE(want.size() == bytes * k_cases);
    for (int c = 0; c < k_cases; ++c) {
      CAPTURE(type_name(t));
      CAPTURE(k_case_names[c]);
      std::vector<uint8_t> got(bytes);
      quantize_row(t, inputs.data() + c * k_n, got.data(), k_n);
      CHECK(std::memcmp(got.data(), want.data() + c * bytes, bytes) == 0);
    }
  }
}

TEST_CASE("each type's round trip stays within its step on random blocks, and non-finite inputs encode as 0") {
  std::mt19937 rng(21);
  std::normal_distribution<float> g(0.0f, 1.0f);
  // Largest |error| relative to the block's largest magnitude that each type's levels allow (a little above half
  // a step: K-quant scales are themselves quantized).
  const struct {
    dtype t;
    double rel;
  } types[] = {{dtype::q4_1, 0.07}, {dtype::q5_0, 0.04}, {dtype::q5_1, 0.035}, {dtype::iq4_nl, 0.11},
               {dtype::q2_k, 0.45}, {dtype::q3_k, 0.2},  {dtype::q4_k, 0.1},   {dtype::q5_k, 0.05},
               {dtype::q6_k, 0.025}, {dtype::iq4_xs, 0.12}};
  for (const auto &ty : types)
    for (int trial = 0; trial < 20; ++trial) {
      const int64_t n = 256 * (1 + trial % 3);
      std::vector<float> x((size_t)n);
      for (float &v : x) v = g(rng) * (trial % 4 == 0 ? 1e-3f : 1.0f);
      std::vector<uint8_t> q(row_bytes(ty.t, n));
      quantize_row(ty.t, x.data(), q.data(), n);
      std::vector<float> y((size_t)n);
      dequantize_row(ty.t, q.data(), y.data(), n);
      for (int64_t b = 0; b < n; b += 32) {  // per 32 values: within the type's step of that sub-block's range
        double amax = 0, err = 0;
        for (int64_t j = b; j < b + 32; ++j) amax = std::max(amax, (double)std::fabs(x[(size_t)j]));
        for (int64_t j = b; j < b + 32; ++j) err = std::max(err, (double)std::fabs(y[(size_t)j] - x[(size_t)j]));
        CAPTURE(type_name(ty.t));
        CHECK(err <= ty.rel * 2 * amax + 1e-7);
      }
      if (trial == 0) {  // NaN and infinities: finite output, and the rest of the block keeps its values
        x[5] = NAN, x[70] = INFINITY, x[200] = -INFINITY;
        quantize_row(ty.t, x.data(), q.data(), n);
        dequantize_row(ty.t, q.data(), y.data(), n);
        for (float v : y) CHECK(std::isfinite(v));
      }
    }
}

TEST_CASE("encoding or decoding a length that does not divide into the type's blocks is refused") {
  std::vector<float> x(300, 0.5f);
  std::vector<uint8_t> q(1024);
  for (const dtype t : {dtype::q4_k, dtype::q6_k, dtype::q4_1, dtype::iq4_xs}) {
    CAPTURE(type_name(t));
    CHECK_THROWS_AS(quantize_row(t, x.data(), q.data(), 300), hearth::error);
    CHECK_THROWS_AS(dequantize_row(t, q.data(), x.data(), 300), hearth::error);
  }
}
