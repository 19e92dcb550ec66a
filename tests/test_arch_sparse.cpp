// Sparse modes on each architecture's own FFN, through its unit: the exact gate equals dense for the ReLU
// families (ReluFalcon's and OPT's gate-less ReLU, where up's activation is the mask), `hearth calibrate` turns
// their dense files into PowerInfer-layout ones that load under the same unit (ffn_down_t, predictors on the FFN's
// pre-norm input, as PowerInfer's falcon and OPT graphs take them) and compute the same dense logits, and CATS
// runs on the gated SiLU/GELU FFNs (Phi-3's fused gate/up, Gemma's GeGLU, Qwen 3) at the share it was fitted to.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

#include "calibrate.h"
#include "error.h"
#include "hearth.h"
#include "model.h"
#include "session.h"
#include "synth.h"
#include "test_util.h"

using namespace hearth;

namespace {

synth_config arch_config(const std::string &arch) {
  synth_config c = test::small_config(dtype::f32);
  c.arch = arch;
  c.tokenizer = "bpe";
  c.pre = "qwen2";
  if (arch == "falcon") c.falcon_norm2 = true, c.ffn = "relu_nogate";
  return c;
}

// The last position's logits of a prompt and 8 greedy steps, in one mode.
std::vector<std::vector<float>> run(const model &m, int32_t mode, float cats = 0.5f, double *share = nullptr) {
  session_config sc;
  sc.n_ctx = 64;
  sc.n_threads = 2;
  sc.sparse_mode = mode;
  sc.cats_sparsity = cats;
  session s(m, sc);
  std::vector<int32_t> toks;
  m.tok().encode("The hearth warms the room, and the kettle sings.", true, false, toks);
  s.eval(toks.data(), (int32_t)toks.size(), false);
  std::vector<std::vector<float>> out;
  const int32_t nv = m.hp().n_vocab;
  for (int step = 0; step < 8; ++step) {
    const float *l = s.logits(-1);
    out.emplace_back(l, l + nv);
    const int32_t t = (int32_t)(std::max_element(l, l + nv) - l);
    s.eval(&t, 1, false);
  }
  if (share) *share = (double)s.stats().active / (double)s.stats().neurons;
  return out;
}

double max_rel(const std::vector<std::vector<float>> &a, const std::vector<std::vector<float>> &b) {
  double err = 0, mag = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a[i].size(); ++j)
      err = std::max(err, (double)std::fabs(a[i][j] - b[i][j])), mag = std::max(mag, (double)std::fabs(b[i][j]));
  return err / mag;
}

}  // namespace

TEST_CASE("ReluFalcon and OPT: exact gate equals dense, calibrate writes a PowerInfer-layout file of the same unit") {
  for (const char *arch : {"falcon", "opt"}) {
    CAPTURE(std::string(arch));
    const std::string path = test::synth_model(arch_config(arch));
    const auto m = model::load(path);
    REQUIRE(m->hp().block.ffn.relu_family());
    REQUIRE_FALSE(m->hp().block.ffn.gated);
    const auto dense = run(*m, HEARTH_SPARSE_DENSE);
    double share = 1;
    const auto exact = run(*m, HEARTH_SPARSE_EXACT_GATE, 0, &share);
    MESSAGE(fmt::format("{}: exact gate computes {:.1f}% of the neurons", arch, 100 * share));
    CHECK(share < 0.75);  // random weights: about half of up's values are negative
    CHECK(max_rel(exact, dense) < 1e-5);

    calibrate_config cfg;
    cfg.profile.n_threads = 2;
    cfg.profile.n_ctx = 256;
    const calibration cal = calibrate_model(*m, std::string(builtin_corpus()), cfg);
    REQUIRE(cal.predictors.size() == (size_t)m->hp().n_layer);
    const std::string out = test::temp_path(std::string("calibrated-") + arch + ".gguf");
    write_calibrated_model(*m, cal, cfg, out);
    const auto s = model::load(out);
    CHECK(s->hp().arch == arch);
    CHECK(s->file().pwri());
    CHECK(s->has_predictors());
    CHECK(s->neuron_major());
    CHECK(s->hp().block.ffn == m->hp().block.ffn);
    if (std::string(arch) == "opt") CHECK(!s->layers()[0].bdown.empty());
    CHECK(max_rel(run(*s, HEARTH_SPARSE_DENSE), dense) < 1e-5);  // the transposed down is the same FFN
    CHECK(max_rel(run(*s, HEARTH_SPARSE_EXACT_GATE), dense) < 1e-5);
    double pshare = 1;
    const auto pred = run(*s, HEARTH_SPARSE_PREDICTOR, 0, &pshare);
    MESSAGE(fmt::format("{}: predictors compute {:.1f}% of the neurons, logits within {:.2g} of dense", arch, 100 * pshare,
                        max_rel(pred, dense)));
    CHECK(pshare < 1.0);
    CHECK(pshare >= share);  // a predictor at ~99% recall computes at least the firing neurons' share
  }
}

TEST_CASE("CATS on the gated SiLU/GELU FFNs of phi3, gemma2, gemma3 and qwen3 skips the share it was fitted to") {
  for (const char *arch : {"phi3", "gemma2", "gemma3", "qwen3"}) {
    CAPTURE(std::string(arch));
    const auto m = model::load(test::synth_model(arch_config(arch)));
    REQUIRE(m->hp().block.ffn.gated);
    REQUIRE_FALSE(m->hp().block.ffn.relu_family());
    const auto dense = run(*m, HEARTH_SPARSE_DENSE);
    double share = 1;
    const auto cats = run(*m, HEARTH_SPARSE_CATS, 0.5f, &share);
    // the prompt's last logits (the greedy continuations may part ways after it)
    const double err = max_rel({cats[0]}, {dense[0]});
    MESSAGE(fmt::format("{}: CATS 50% computes {:.1f}% of the neurons, logits within {:.2g} of dense", arch, 100 * share, err));
    CHECK(share > 0.35);
    CHECK(share < 0.65);
    CHECK(err > 0);    // neurons were really skipped
    CHECK(err < 0.5);  // and the small activations they had mattered little
  }
}

TEST_CASE("synth's neuron-major layout without planting: ffn_down_t, and the exact gate skips its rows exactly") {
  synth_config c = arch_config("falcon");
  c.neuron_major = true;
  const auto m = model::load(test::synth_model(c));
  CHECK(m->neuron_major());
  CHECK_FALSE(m->has_predictors());
  double share = 1;
  const auto exact = run(*m, HEARTH_SPARSE_EXACT_GATE, 0, &share);
  CHECK(share < 0.75);
  CHECK(max_rel(exact, run(*m, HEARTH_SPARSE_DENSE)) < 1e-5);
  // The bytes a decoded token reads: dense minus the down rows of the inactive neurons; up is read once, by the
  // mask pass (a gate-less FFN's "gate"), not again per active neuron.
  session_config sc;
  sc.n_ctx = 64;
  sc.n_threads = 2;
  double bytes[2];
  uint64_t active = 0, neurons = 0;
  for (int mode : {HEARTH_SPARSE_DENSE, HEARTH_SPARSE_EXACT_GATE}) {
    sc.sparse_mode = mode;
    session s(*m, sc);
    const int32_t toks[4] = {1, 300, 301, 302};
    s.eval(toks, 1, false);
    s.reset_stats();
    for (int i = 1; i < 4; ++i) s.eval(&toks[i], 1, false);
    bytes[mode == HEARTH_SPARSE_EXACT_GATE] = s.stats().decode_bytes / 3;
    if (mode == HEARTH_SPARSE_EXACT_GATE) active = s.stats().active, neurons = s.stats().neurons;
  }
  const double down_row = (double)m->layers()[0].down_t.row_size;
  CHECK(bytes[1] == doctest::Approx(bytes[0] - down_row * (double)(neurons - active) / 3).epsilon(1e-9));
}
