// Weights repacked into row groups at load (model::repack_for_decode): which matrices, and that a repacked model
// computes what the file's layout computes (a prompt bit for bit, decode to float rounding).
#include <doctest/doctest.h>

#include <vector>

#include "../kernels/cpu/kernels.h"
#include "model.h"
#include "reference.h"
#include "session.h"
#include "test_util.h"

using namespace hearth;

namespace {

std::shared_ptr<const model> load(const std::string &path, bool repack) {
  model_config mc;
  mc.repack = repack;
  return model::load(path, mc);
}

std::vector<int32_t> prompt_tokens(int n, int vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(3 + (i * 37 + 11) % (vocab - 3));
  return t;
}

// The logits of a 9-token prompt (one batch, every position) and then of 6 tokens fed one at a time.
std::vector<std::vector<float>> run(const model &m, int vocab) {
  session_config sc;
  sc.n_threads = 2;
  sc.n_ctx = 64;
  session s(m, sc);
  const std::vector<int32_t> toks = prompt_tokens(15, vocab);
  std::vector<std::vector<float>> out;
  s.eval(toks.data(), 9, true);
  for (int i = 0; i < 9; ++i) out.emplace_back(s.logits(i), s.logits(i) + vocab);
  for (int i = 9; i < 15; ++i) {
    s.eval(&toks[(size_t)i], 1, true);
    out.emplace_back(s.logits(-1), s.logits(-1) + vocab);
  }
  return out;
}

}  // namespace

TEST_CASE("a repacked Q4_0 model computes what the file's layout does") {
  for (dtype t : {dtype::q4_0}) {
    CAPTURE(type_name(t));
    synth_config c = test::small_config(t);
    c.n_vocab = 500;  // an output matrix whose last group is partial
    const std::string path = test::synth_model(c);
    const auto packed = load(path, true), plain = load(path, false);
    const bool tier_has = cpu::kernels().of(t).gemv_groups != nullptr;
    // which matrices: every one a token reads whole (this dense file: attention, FFN, output)
    uint64_t want = packed->output().bytes();
    for (const layer &L : packed->layers())
      for (const matrix *w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) {
        CHECK(bool(w->groups) == tier_has);
        want += w->bytes();
      }
    CHECK(bool(packed->output().groups) == tier_has);
    CHECK(packed->repacked_bytes() == (tier_has ? want : 0));
    CHECK(plain->repacked_bytes() == 0);
    for (const layer &L : plain->layers()) CHECK(L.wq.groups == nullptr);
    CHECK(!packed->tok_embd().groups);

    const auto a = run(*packed, c.n_vocab), b = run(*plain, c.n_vocab);
    // the prompt's GEMM reads rows unpacked from the groups: the same bytes, the same values
    for (int i = 0; i < 9; ++i) CHECK(a[(size_t)i] == b[(size_t)i]);
    // one token at a time the row-group kernel sums in another order than the file layout's dot: rounding only,
    // and both against the float64 reference
    const test::reference ref(path);
    const auto exact = ref.logits(prompt_tokens(15, c.n_vocab));
    for (int i = 9; i < 15; ++i) {
      std::vector<double> bd(b[(size_t)i].begin(), b[(size_t)i].end());
      CHECK(test::rel_error(a[(size_t)i].data(), bd) < 1e-4);
      CHECK(test::rel_error(a[(size_t)i].data(), exact[(size_t)i]) < 3e-2);
    }
  }
}

TEST_CASE("a sparse file keeps its FFN rows as they are and other types are not repacked") {
  synth_config c = test::small_config(dtype::q4_0, "relu");
  c.n_embd = 128;
  c.predictor_rank = 64;
  c.sparsity = 0.8f;  // PowerInfer layout with predictors: the FFN's rows are gathered per token
  const auto m = load(test::synth_model(c), true);
  REQUIRE(m->has_predictors());
  const bool tier_has = cpu::kernels().of(dtype::q4_0).gemv_groups != nullptr;
  for (const layer &L : m->layers()) {
    CHECK(bool(L.wq.groups) == tier_has);
    CHECK(bool(L.wo.groups) == tier_has);
    CHECK(!L.gate.groups);
    CHECK(!L.up.groups);
    CHECK(!L.down_t.groups);
    CHECK(!L.fc1.groups);
  }
  // F16, and Q8_0, whose row groups measured no faster (lib/repack.cpp): as the file has them
  for (dtype t : {dtype::f16, dtype::q8_0}) CHECK(load(test::synth_model(test::small_config(t)), true)->repacked_bytes() == 0);
}
