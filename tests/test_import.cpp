// hearth import: safetensors weights under a GGUF template. Values arrive exactly (F32) or rounded once (F16,
// Q8_0 by hearth's quantizer); a tensor missing, extra or mis-shaped, and a malformed safetensors file, are
// refused naming what is wrong.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dtype.h"
#include "error.h"
#include "gguf.h"
#include "import.h"
#include "model.h"
#include "safetensors.h"
#include "synth.h"
#include "test_util.h"

using namespace hearth;

namespace {

struct st_in {
  std::string name;
  std::vector<int64_t> shape;  // row-major
  std::vector<float> values;
};

// A safetensors file written plainly: 8-byte little-endian header length, the JSON header, the F32 data.
std::string write_st(const std::string &name, const std::vector<st_in> &ts, const std::string &header_override = "") {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  size_t off = 0;
  for (const st_in &t : ts) {
    std::string shape;
    for (int64_t e : t.shape) shape += fmt::format("{}{}", shape.empty() ? "" : ",", e);
    header += fmt::format(",\"{}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", t.name, shape, off,
                          off + t.values.size() * 4);
    off += t.values.size() * 4;
  }
  header += "}";
  if (!header_override.empty()) header = header_override;
  std::string blob;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) blob += (char)(uint8_t)(n >> (8 * i));
  blob += header;
  for (const st_in &t : ts) blob.append((const char *)t.values.data(), t.values.size() * 4);
  const std::vector<uint8_t> bytes(blob.begin(), blob.end());
  const std::string path = test::temp_path(name);
  test::write_file(path, bytes);
  return path;
}

// Random values for every tensor of a template, by GGUF name, in PyTorch's shape.
std::vector<st_in> weights_for(const gguf_file &tmpl) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uni(-1, 1);
  std::vector<st_in> out;
  for (const gguf_tensor &t : tmpl.tensors()) {
    st_in s{t.name, std::vector<int64_t>(t.ne, t.ne + t.n_dims), {}};
    std::reverse(s.shape.begin(), s.shape.end());
    s.values.resize((size_t)t.n_elements());
    for (float &v : s.values) v = uni(rng);
    out.push_back(std::move(s));
  }
  return out;
}

void expect_refused(const std::string &st, const std::string &tmpl_path, const std::string &what) {
  CAPTURE(what);
  try {
    const auto t = gguf_file::open(tmpl_path);
    const auto w = safetensors_file::open(st);
    import_weights(*t, *w, {}, test::temp_path("refused.gguf"));
    FAIL("imported");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_BAD_FORMAT);
    CHECK(std::string(e.what()).find(what) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("import writes the safetensors values under the template's metadata, exactly in F32, rounded in F16/Q8_0") {
  const std::string tmpl_path = test::synth_model(test::small_config(dtype::f32));
  const auto tmpl = gguf_file::open(tmpl_path);
  const std::vector<st_in> ws = weights_for(*tmpl);
  const auto st = safetensors_file::open(write_st("w.safetensors", ws));
  CHECK(st->metadata().at("format") == "pt");
  for (dtype type : {dtype::f32, dtype::f16, dtype::q8_0}) {
    CAPTURE(type_name(type));
    import_options opt;
    opt.matrix_type = type;
    opt.meta_f32 = {{"hearth.training.heldout_perplexity", 12.5f}};
    const std::string out = test::temp_path("imported-" + type_name(type) + ".gguf");
    import_weights(*tmpl, *st, opt, out);
    const auto f = gguf_file::open(out);
    CHECK(f->get_float("hearth.training.heldout_perplexity", 0) == 12.5);
    CHECK(f->get_string("general.architecture", "") == "llama");
    CHECK(model::load(out)->vocab_data().n_vocab() == 512);  // the template's vocabulary, and a loadable model
    for (const st_in &s : ws) {
      const gguf_tensor *t = f->tensor(s.name);
      REQUIRE(t);
      const dtype want = t->n_dims >= 2 ? type : dtype::f32;
      CHECK(t->type == want);
      const int64_t cols = t->ne[0], rows = t->n_elements() / cols;
      std::vector<float> row((size_t)cols), ref((size_t)cols);
      std::vector<uint8_t> q(row_bytes(want, cols));
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(want, t->data + r * row_bytes(want, cols), row.data(), cols);
        // the oracle: the value itself (F32) or one round trip through the type
        quantize_row(want, s.values.data() + r * cols, q.data(), cols);
        dequantize_row(want, q.data(), ref.data(), cols);
        for (int64_t c = 0; c < cols; ++c) REQUIRE(row[(size_t)c] == ref[(size_t)c]);
        if (want == dtype::f32)
          for (int64_t c = 0; c < cols; ++c) REQUIRE(row[(size_t)c] == s.values[(size_t)(r * cols + c)]);
      }
    }
  }
}

TEST_CASE("import refuses missing, extra and mis-shaped tensors and malformed safetensors files, naming them") {
  const std::string tmpl_path = test::synth_model(test::small_config(dtype::f32));
  const auto tmpl = gguf_file::open(tmpl_path);
  std::vector<st_in> ws = weights_for(*tmpl);
  {
    std::vector<st_in> v = ws;
    v.erase(v.begin() + 3);
    expect_refused(write_st("missing.safetensors", v), tmpl_path, "the weights have no tensor '" + ws[3].name + "'");
  }
  {
    std::vector<st_in> v = ws;
    v.push_back({"blk.9.attn_q.weight", {2, 2}, {1, 2, 3, 4}});
    expect_refused(write_st("extra.safetensors", v), tmpl_path, "the template has no tensor 'blk.9.attn_q.weight'");
  }
  {
    std::vector<st_in> v = ws;
    for (st_in &s : v)  // transposed: n_embd x n_ff instead of PyTorch's n_ff x n_embd
      if (s.name == "blk.0.ffn_up.weight") std::swap(s.shape[0], s.shape[1]);
    expect_refused(write_st("shape.safetensors", v), tmpl_path, "tensor 'blk.0.ffn_up.weight' has shape 64x160 in the weights");
  }
  auto malformed = [&](const std::string &header, const std::string &what) {
    CAPTURE(what);
    try {
      safetensors_file::open(write_st("bad.safetensors", {{"x", {2}, {1, 2}}}, header));
      FAIL("opened");
    } catch (const error &e) {
      CHECK(e.status() == HEARTH_ERR_BAD_FORMAT);
      CHECK(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  malformed("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", "lies outside the file");
  malformed("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "has 8 bytes, its F32 shape needs 12");
  malformed("{\"x\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unknown dtype 'Q9'");
  malformed("{\"x\":{\"shape\":[2]}}", "lacks dtype, shape or data_offsets");
  // a shape whose product overflows 64 bits back to the 8 bytes given
  malformed("{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,8]}}", "a shape larger than the file");
  malformed("not json", "the header is not JSON");
  {  // an empty tensor is valid and reads as no values
    const auto f = safetensors_file::open(
        write_st("empty-tensor.safetensors", {}, "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}"));
    REQUIRE(f->tensors().size() == 1);
    CHECK(f->tensors()[0].to_f32().empty());
  }
  malformed("[1,2]", "not a JSON object");
  {
    const std::string p = test::temp_path("short.safetensors");
    test::write_file(p, {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'});
    try {
      safetensors_file::open(p);
      FAIL("opened");
    } catch (const error &e) {
      CHECK(std::string(e.what()).find("header length runs past the file") != std::string::npos);
    }
  }
}
