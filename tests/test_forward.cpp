// The dense forward pass against the float64 reference, over weight types, GQA and non-GQA shapes, every FFN
// variant and several prompt lengths.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "gguf_writer.h"
#include "model.h"
#include "reference.h"
#include "session.h"
#include "test_util.h"

using namespace hearth;

namespace {

// Worst relative logit error over every position of a prompt of n tokens, evaluated as one batch.
double worst_error(const synth_config &c, int n, int threads = 2) {
  const std::string path = test::synth_model(c);
  const auto m = model::load(path);
  session_config sc;
  sc.type_k = sc.type_v = dtype::f32;  // the float64 oracle keeps keys and values unrounded
  sc.n_threads = threads;
  sc.n_ctx = 128;
  session s(*m, sc);
  std::vector<int32_t> toks;
  for (int i = 0; i < n; ++i) toks.push_back(3 + (i * 37 + 11) % (c.n_vocab - 3));
  s.eval(toks.data(), n, true);
  const test::reference ref(path);
  const auto want = ref.logits(toks);
  double worst = 0;
  for (int i = 0; i < n; ++i) worst = std::max(worst, test::rel_error(s.logits(i), want[(size_t)i]));
  return worst;
}

}  // namespace

// Bounds: F32 weights are exact up to float rounding; F16/BF16 weights are converted exactly, so only float
// accumulation differs (BF16 and F16 keep the F32 bound with margin). Q8_0/Q4_0 dot products quantize the
// activations to Q8_0 (as llama.cpp does), an error of about 0.4% per element that compounds over layers.
TEST_CASE("dense logits match the float64 reference for every weight type") {
  const struct {
    dtype type;
    double bound;
  } cases[] = {{dtype::f32, 1e-4}, {dtype::f16, 1e-4}, {dtype::bf16, 1e-4}, {dtype::q8_0, 3e-2}, {dtype::q4_0, 3e-2}};
  for (const auto &k : cases)
    for (int n : {1, 5, 17}) {
      CAPTURE(type_name(k.type));
      CAPTURE(n);
      const double e = worst_error(test::small_config(k.type), n);
      MESSAGE(fmt::format("{} n={} rel error {:.2e}", type_name(k.type), n, e));
      CHECK(e < k.bound);
    }
}

TEST_CASE("hearth.ffn_activation: each value names one FFN form and every form written reads back") {
  const std::vector<std::pair<const char *, ffn_form>> expected = {
      {"silu", {activation::silu, true, false}},         {"gelu", {activation::gelu, true, false}},
      {"relu", {activation::relu, true, false}},         {"drelu", {activation::relu, true, true}},
      {"relu_nogate", {activation::relu, false, false}}, {"relu_sq", {activation::relu_sq, true, false}},
      {"relu_sq_nogate", {activation::relu_sq, false, false}},
  };
  for (const auto &[key, form] : expected) {
    CAPTURE(key);
    ffn_form got;
    REQUIRE(ffn_form_from_key(key, &got));
    CHECK(got == form);
    REQUIRE(ffn_form_key(form) != nullptr);
    CHECK(std::string(ffn_form_key(form)) == key);
  }
  ffn_form unused;
  CHECK_FALSE(ffn_form_from_key("relu-squared", &unused));  // activation_name, not a key
  CHECK(ffn_form_key({activation::gelu, false, false}) == nullptr);  // a llama file cannot hold an ungated GELU
}

TEST_CASE("every FFN variant, GQA and non-GQA, tied output") {
  for (const char *ffn : {"silu", "relu", "drelu", "relu_nogate"})
    for (int kv : {1, 2, 4}) {
      synth_config c = test::small_config(dtype::f32, ffn);
      c.n_head_kv = kv;
      c.tied_output = kv == 2;
      CAPTURE(ffn);
      CAPTURE(kv);
      CHECK(worst_error(c, 9) < 1e-4);
    }
}

TEST_CASE("head size not a multiple of the SIMD width and odd widths") {
  synth_config c = test::small_config(dtype::f32);
  c.n_embd = 72;  // head size 18
  c.n_head = 4;
  c.n_head_kv = 4;
  c.n_ff = 100;
  CHECK(worst_error(c, 7, 1) < 1e-4);
}

// A batch of two or more tokens goes through the GEMM kernels, whose values depend on neither the batch's size
// nor a token's place in it, nor on the threads; one token at a time goes through dot, whose sums run in
// another order, so it agrees to float rounding.
TEST_CASE("batch and chunked evaluation agree exactly, 1 thread equals 2, token by token agrees to rounding") {
  for (dtype t : {dtype::q4_0, dtype::f16}) {
    CAPTURE(type_name(t));
    const synth_config c = test::small_config(t);
    const auto m = model::load(test::synth_model(c));
    std::vector<int32_t> toks = {1, 40, 41, 300, 7, 99, 12, 13};
    session_config sc;
    sc.n_ctx = 64;
    sc.n_threads = 2;
    session batch(*m, sc);
    batch.eval(toks.data(), (int32_t)toks.size(), true);
    sc.n_batch = 3;  // chunks of 3, 3 and 2 tokens
    session chunked(*m, sc);
    chunked.eval(toks.data(), (int32_t)toks.size(), true);
    sc.n_batch = 256;
    sc.n_threads = 1;
    session one_thread(*m, sc);
    one_thread.eval(toks.data(), (int32_t)toks.size(), true);
    session single(*m, sc);
    double worst = 0;
    for (size_t i = 0; i < toks.size(); ++i) {
      single.eval(&toks[i], 1, false);
      const float *a = single.logits(-1), *b = batch.logits((int32_t)i);
      const float *ch = chunked.logits((int32_t)i), *o = one_thread.logits((int32_t)i);
      float mag = 0;
      for (int v = 0; v < c.n_vocab; ++v) mag = std::max(mag, std::fabs(b[v]));
      for (int v = 0; v < c.n_vocab; ++v) {
        REQUIRE(ch[v] == b[v]);
        REQUIRE(o[v] == b[v]);
        worst = std::max(worst, (double)std::fabs(a[v] - b[v]) / mag);
      }
    }
    MESSAGE(fmt::format("{}: token by token against the batch, worst difference {:.2e} of the largest logit", type_name(t), worst));
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("neuron-major ffn_down_t gives the same logits as ffn_down") {
  // Build a file whose down projections are stored transposed (PowerInfer's layout), from a dense one.
  const synth_config c = test::small_config(dtype::f32, "relu");
  const std::string dense = test::synth_model(c);
  const auto f = gguf_file::open(dense);
  gguf_writer w;
  w.set_pwri(true);
  for (const gguf_kv &kv : f->kvs()) w.set_value(kv.key, kv.value);
  for (const gguf_tensor &t : f->tensors()) {
    const bool down = t.name.find("ffn_down.weight") != std::string::npos;
    const std::string name = down ? t.name.substr(0, t.name.find("ffn_down")) + "ffn_down_t.weight" : t.name;
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    if (down) std::swap(ne[0], ne[1]);
    const gguf_tensor *src = &t;
    w.add_tensor(name, t.type, ne, [src, down](uint8_t *dst, size_t bytes) {
      if (!down) return (void)std::memcpy(dst, src->data, bytes);
      const float *s = (const float *)src->data;
      float *o = (float *)dst;
      for (int64_t r = 0; r < src->ne[1]; ++r)
        for (int64_t col = 0; col < src->ne[0]; ++col) o[col * src->ne[1] + r] = s[r * src->ne[0] + col];
    });
  }
  const std::string pwri = test::temp_path("down_t.gguf");
  w.write(pwri);
  const auto md = model::load(dense);
  const auto mt = model::load(pwri);
  CHECK(mt->file().pwri());
  CHECK(mt->hp().block.ffn == ffn_form{activation::relu, true, false});
  CHECK(mt->layers()[0].down_t);
  session_config sc;
  sc.type_k = sc.type_v = dtype::f32;  // the float64 oracle keeps keys and values unrounded
  sc.n_ctx = 32;
  session a(*md, sc), b(*mt, sc);
  std::vector<int32_t> toks = {1, 5, 9, 200, 201, 202};
  a.eval(toks.data(), 6, true);
  b.eval(toks.data(), 6, true);
  const test::reference ref(pwri);
  const auto want = ref.logits(toks);
  for (int i = 0; i < 6; ++i) {
    CHECK(test::rel_error(b.logits(i), want[(size_t)i]) < 1e-4);
    CHECK(test::rel_error(a.logits(i), want[(size_t)i]) < 1e-4);
  }
}
