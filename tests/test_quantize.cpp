// Whole models in the new block types: dense logits against the float64 reference for every type, `hearth
// quantize` (tools/quantize.h) mixtures with the tensor types llama-quantize gives each name, requantized logits
// against the F32 source, thread-count stability, and the refusals for rows that do not fit a type's blocks.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <map>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "model.h"
#include "quantize.h"
#include "reference.h"
#include "session.h"
#include "test_util.h"

using namespace hearth;

namespace {

// Rows of 256 (n_embd) and 512 (n_ff), so every type fits without a fallback.
synth_config k_config(dtype t, int layers = 2) {
  synth_config c = test::small_config(t);
  c.n_embd = 256, c.n_ff = 512, c.n_head = 4, c.n_head_kv = 2, c.n_layer = layers;
  return c;
}

std::vector<std::vector<float>> run_logits(const std::string &path, const std::vector<int32_t> &toks, int threads = 2) {
  const auto m = model::load(path);
  session_config sc;
  sc.n_threads = threads;
  sc.n_ctx = 64;
  session s(*m, sc);
  s.eval(toks.data(), (int32_t)toks.size(), true);
  std::vector<std::vector<float>> out;
  const int64_t nv = m->hp().n_vocab;
  for (size_t i = 0; i < toks.size(); ++i) out.emplace_back(s.logits((int32_t)i), s.logits((int32_t)i) + nv);
  return out;
}

std::vector<int32_t> prompt(int n, int vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(3 + (i * 37 + 11) % (vocab - 3));
  return t;
}

double worst_rel(const std::vector<std::vector<float>> &got, const std::vector<std::vector<double>> &want) {
  double w = 0;
  for (size_t i = 0; i < got.size(); ++i) w = std::max(w, test::rel_error(got[i].data(), want[i]));
  return w;
}

}  // namespace

// The engine against the float64 reference over the same (decoded) weights: what remains is the activation
// quantization (Q8_0 for Q5_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K for the super-block types), of the same order as
// Q8_0's bound in test_forward.
TEST_CASE("dense logits of every new weight type match the float64 reference") {
  for (dtype t : {dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::iq4_nl, dtype::q2_k, dtype::q3_k, dtype::q4_k, dtype::q5_k,
                  dtype::q6_k, dtype::iq4_xs}) {
    const synth_config c = k_config(t);
    const std::string path = test::synth_model(c);
    const std::vector<int32_t> toks = prompt(9, c.n_vocab);
    const double e = worst_rel(run_logits(path, toks), test::reference(path).logits(toks));
    MESSAGE(fmt::format("{}: rel error {:.2e}", type_name(t), e));
    CAPTURE(type_name(t));
    CHECK(e < 3e-2);
  }
}

TEST_CASE("hearth quantize gives each tensor the type llama-quantize's rules give it") {
  synth_config c = k_config(dtype::f32, 8);
  const std::string src = test::synth_model(c);
  const std::string out = test::temp_path("q4km.gguf");
  const std::vector<quantized_tensor> rep = quantize_model(src, out, *find_quant_target("Q4_K_M"), {});
  // Q4_K_M for 8 layers, written from llama.cpp's rules: the output matrix Q6_K; attn_v and ffn_down Q6_K in the
  // layers use_more_bits picks (i < n/8, i >= 7n/8, (i - n/8) % 3 == 2: 0, 3, 6, 7), Q4_K elsewhere; norms F32.
  const auto f = gguf_file::open(out);
  std::map<std::string, dtype> got;
  for (const gguf_tensor &t : f->tensors()) got[t.name] = t.type;
  CHECK(got["output.weight"] == dtype::q6_k);
  CHECK(got["token_embd.weight"] == dtype::q4_k);
  CHECK(got["output_norm.weight"] == dtype::f32);
  for (int l = 0; l < 8; ++l) {
    CAPTURE(l);
    const bool more = l == 0 || l == 3 || l == 6 || l == 7;
    const std::string b = fmt::format("blk.{}.", l);
    CHECK(got[b + "attn_v.weight"] == (more ? dtype::q6_k : dtype::q4_k));
    CHECK(got[b + "ffn_down.weight"] == (more ? dtype::q6_k : dtype::q4_k));
    for (const char *n : {"attn_q.weight", "attn_k.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight"})
      CHECK(got[b + n] == dtype::q4_k);
    CHECK(got[b + "attn_norm.weight"] == dtype::f32);
  }
  CHECK(f->get_uint("general.file_type", 0) == 15);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  size_t fallbacks = 0;
  for (const quantized_tensor &t : rep) fallbacks += t.fallback;
  CHECK(fallbacks == 0);

  // The other mixtures' signatures, from the same rules.
  const auto types_of = [&](const char *target, bool pure = false) {
    quantize_options o;
    o.pure = pure;
    const std::string p = test::temp_path(std::string(target) + (pure ? "-pure" : "") + ".gguf");
    quantize_model(src, p, *find_quant_target(target), o);
    std::map<std::string, dtype> m;
    const auto file = gguf_file::open(p);
    for (const gguf_tensor &t : file->tensors()) m[t.name] = t.type;
    return m;
  };
  auto q = types_of("Q5_K_M");
  CHECK(q["blk.3.ffn_down.weight"] == dtype::q6_k);
  CHECK(q["blk.1.ffn_down.weight"] == dtype::q5_k);
  q = types_of("Q4_K_S");  // attn_v Q5_K in the first four layers, ffn_down Q5_K below n/8
  CHECK(q["blk.3.attn_v.weight"] == dtype::q5_k);
  CHECK(q["blk.4.attn_v.weight"] == dtype::q4_k);
  CHECK(q["blk.0.ffn_down.weight"] == dtype::q5_k);
  CHECK(q["blk.1.ffn_down.weight"] == dtype::q4_k);
  q = types_of("Q3_K_M");  // attn_v Q5_K in two layers then Q4_K; ffn_down Q4_K (non-Falcon); attn_output Q4_K
  CHECK(q["blk.1.attn_v.weight"] == dtype::q5_k);
  CHECK(q["blk.2.attn_v.weight"] == dtype::q4_k);
  CHECK(q["blk.5.ffn_down.weight"] == dtype::q4_k);
  CHECK(q["blk.5.attn_output.weight"] == dtype::q4_k);
  CHECK(q["blk.5.attn_q.weight"] == dtype::q3_k);
  q = types_of("Q2_K");  // n_gqa = 2: attn_v Q3_K; ffn_down and attn_output Q3_K
  CHECK(q["blk.5.attn_v.weight"] == dtype::q3_k);
  CHECK(q["blk.5.ffn_down.weight"] == dtype::q3_k);
  CHECK(q["blk.5.ffn_up.weight"] == dtype::q2_k);
  q = types_of("Q4_0");  // a legacy base: the output matrix still Q6_K
  CHECK(q["output.weight"] == dtype::q6_k);
  CHECK(q["blk.0.ffn_down.weight"] == dtype::q4_0);
  q = types_of("Q4_K_M", true);  // --pure: the base type everywhere
  CHECK(q["output.weight"] == dtype::q4_k);
  CHECK(q["blk.0.attn_v.weight"] == dtype::q4_k);
}

TEST_CASE("quantized models against their F32 source: error ordered by bits, identical tokens on 1 and 2 threads") {
  const synth_config c = k_config(dtype::f32, 4);
  const std::string src = test::synth_model(c);
  const std::vector<int32_t> toks = prompt(7, c.n_vocab);
  const auto want = test::reference(src).logits(toks);
  double prev = 1e9;
  for (const char *target : {"Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"}) {
    const std::string p = test::temp_path(std::string("src-") + target + ".gguf");
    quantize_model(src, p, *find_quant_target(target), {});
    const double e = worst_rel(run_logits(p, toks), want);
    MESSAGE(fmt::format("{}: rel error against the F32 source {:.3e}", target, e));
    CAPTURE(target);
    // Random weights quantize worse than trained ones (no outlier structure for the scales to use); the bounds
    // are those of each type's step on gaussian values, compounded over 4 layers.
    const std::string tn = target;
    const double bound = tn == "Q2_K" ? 1.0 : tn == "Q3_K_M" ? 0.6 : tn == "Q4_K_M" ? 0.3 : tn == "Q5_K_M" ? 0.2 : tn == "Q6_K" ? 0.1 : 0.05;
    CHECK(e < bound);
    CHECK(e < prev * 1.05);  // more bits, less error
    prev = e;
    // Thread counts change the work split, never the values.
    const auto one = run_logits(p, toks, 1), two = run_logits(p, toks, 2);
    for (size_t i = 0; i < toks.size(); ++i) CHECK(one[i] == two[i]);
  }
}

TEST_CASE("a K-quant tensor whose rows do not divide into 256 values, or whose data is cut short, is refused by name") {
  const std::string good = test::synth_model(k_config(dtype::q4_k));
  const auto f = gguf_file::open(good);
  auto rewrite = [&](int64_t add_cols, bool truncate) {
    gguf_writer w;
    for (const gguf_kv &kv : f->kvs()) w.set_value(kv.key, kv.value);
    for (const gguf_tensor &t : f->tensors()) {
      std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
      w.add_tensor(t.name, t.type, ne, [&t](uint8_t *dst, size_t n) { std::memcpy(dst, t.data, std::min(n, t.size)); });
    }
    const std::string p = test::temp_path("kq-bad.gguf");
    w.write(p);
    std::vector<uint8_t> bytes = test::read_file(p);
    if (add_cols) {
      // Patch ffn_up's ne[0] from 256 to 256 + add_cols in the header (the first u64 256 after its name).
      const std::string name = "blk.0.ffn_up.weight";
      const auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
      REQUIRE(at != bytes.end());
      const size_t pos = (size_t)(at - bytes.begin()) + name.size() + 4;  // n_dims (u32), then ne[0] (u64)
      int64_t ne0;
      std::memcpy(&ne0, bytes.data() + pos, 8);
      REQUIRE(ne0 == 256);
      ne0 += add_cols;
      std::memcpy(bytes.data() + pos, &ne0, 8);
    }
    if (truncate) bytes.resize(bytes.size() - 100);
    test::write_file(p, bytes);
    return p;
  };
  hearth_model *m = nullptr;
  CHECK(hearth_model_load(rewrite(32, false).c_str(), nullptr, &m) == HEARTH_ERR_BAD_FORMAT);
  std::string msg = hearth_last_error();
  CHECK(msg.find("blk.0.ffn_up.weight") != std::string::npos);
  CHECK(msg.find("Q4_K") != std::string::npos);
  CHECK(hearth_model_load(rewrite(0, true).c_str(), nullptr, &m) == HEARTH_ERR_BAD_FORMAT);
  msg = hearth_last_error();
  CHECK(msg.find("'" + f->tensors().back().name + "'") != std::string::npos);  // the last tensor is the one cut short
  CHECK(msg.find("truncated") != std::string::npos);
  CHECK(m == nullptr);
}

TEST_CASE("hearth quantize refuses a quantized source unless asked, and rows a type cannot hold") {
  const std::string q8 = test::synth_model(k_config(dtype::q8_0));
  try {
    quantize_model(q8, test::temp_path("rq.gguf"), *find_quant_target("Q4_K_M"), {});
    FAIL("requantized without --allow-requantize");
  } catch (const hearth::error &e) {
    CHECK(e.status() == HEARTH_ERR_INVALID_ARGUMENT);
    CHECK(std::string(e.what()).find("--allow-requantize") != std::string::npos);
  }
  quantize_options o;
  o.allow_requantize = true;
  CHECK_NOTHROW(quantize_model(q8, test::temp_path("rq.gguf"), *find_quant_target("Q4_K_M"), o));
  // rows of 64 (small_config): K-quants fall back as llama.cpp does (Q4_K -> Q5_0, Q6_K -> Q8_0)
  const std::string small = test::synth_model(test::small_config(dtype::f32));
  const auto rep = quantize_model(small, test::temp_path("fb.gguf"), *find_quant_target("Q4_K_M"), {});
  for (const quantized_tensor &t : rep)
    if (t.name == "blk.0.attn_q.weight") CHECK(t.to == dtype::q5_0);
    else if (t.name == "output.weight") CHECK(t.to == dtype::q8_0);
  CHECK(find_quant_target("q4_k_m") != nullptr);
  CHECK(find_quant_target("Q4_K") == find_quant_target("Q4_K_M"));
  CHECK(find_quant_target("IQ2_XXS") == nullptr);
}

TEST_CASE("a PowerInfer file stays PWRI when quantized: ffn_down_t requantized along n_embd, predictors untouched") {
  synth_config c = k_config(dtype::f16, 2);
  c.n_ff = 1024, c.n_vocab = 1408, c.ffn = "relu", c.sparsity = 0.9f, c.predictor_rank = 64;
  const std::string src = test::synth_model(c);
  const std::string out = test::temp_path("pwri-q4km.gguf");
  quantize_model(src, out, *find_quant_target("Q4_K_M"), {});
  const auto a = gguf_file::open(src), b = gguf_file::open(out);
  CHECK(b->pwri());
  REQUIRE(a->tensors().size() == b->tensors().size());
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    const gguf_tensor &ta = a->tensors()[i], &tb = b->tensors()[i];
    CAPTURE(ta.name);
    CHECK(ta.name == tb.name);
    if (ta.name.find(".fc1.") != std::string::npos || ta.name.find(".fc2.") != std::string::npos) {
      CHECK(tb.type == ta.type);
      CHECK(std::memcmp(ta.data, tb.data, ta.size) == 0);
    }
  }
  CHECK(b->tensor("blk.0.ffn_down_t.weight")->type == dtype::q4_k);  // use_more_bits(0, 2) is false
  CHECK(b->tensor("blk.1.ffn_down_t.weight")->type == dtype::q6_k);  // i >= 7n/8
  CHECK(b->tensor("blk.0.ffn_up.weight")->type == dtype::q4_k);
  // and it runs sparse: the predictor mode computes a fraction of the neurons, with logits near dense
  const auto m = model::load(out);
  session_config sc;
  sc.n_ctx = 64;
  sc.sparse_mode = HEARTH_SPARSE_PREDICTOR;
  session s(*m, sc);
  const std::vector<int32_t> toks = prompt(6, c.n_vocab);
  s.eval(toks.data(), (int32_t)toks.size(), false);
  CHECK(s.stats().active < s.stats().neurons / 4);
}

TEST_CASE("the IQ1-IQ3 grid types are recognised and refused at load by name, with the tensor") {
  const std::string good = test::synth_model(k_config(dtype::q4_k));
  const auto f = gguf_file::open(good);
  for (const dtype t : {dtype::iq2_xxs, dtype::iq2_xs, dtype::iq2_s, dtype::iq3_xxs, dtype::iq3_s, dtype::iq1_s, dtype::iq1_m}) {
    gguf_writer w;
    for (const gguf_kv &kv : f->kvs()) w.set_value(kv.key, kv.value);
    for (const gguf_tensor &tt : f->tensors()) {
      std::vector<int64_t> ne(tt.ne, tt.ne + tt.n_dims);
      w.add_tensor(tt.name, tt.name == "blk.1.ffn_gate.weight" ? t : tt.type, ne, nullptr);
    }
    const std::string p = test::temp_path("iq.gguf");
    w.write(p);
    hearth_model *m = nullptr;
    CAPTURE(type_name(t));
    CHECK(hearth_model_load(p.c_str(), nullptr, &m) == HEARTH_ERR_UNSUPPORTED);
    const std::string msg = hearth_last_error();
    CHECK(msg.find(type_name(t)) != std::string::npos);
    CHECK(msg.find("blk.1.ffn_gate.weight") != std::string::npos);
    CHECK(m == nullptr);
  }
}
