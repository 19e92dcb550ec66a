// The two tiny models trained on real text (tests/data/tiny, made by tools/tiny-models/train.py): hearth's
// held-out perplexity equals the training script's PyTorch figure for the same F16 weights; the exact gate
// equals dense; predictors from `hearth calibrate` stay within 0.5% of dense; Q8_0 within 0.5% and Q4_0 within 3%.
// And hearth's perplexity() itself against perplexity from the float64 reference's logits.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

#include "calibrate.h"
#include "hearth.h"
#include "model.h"
#include "names.h"
#include "perplexity.h"
#include "quantize.h"
#include "reference.h"
#include "session.h"
#include "test_util.h"

using namespace hearth;

namespace {

std::string data(const std::string &name) { return std::string(HEARTH_TEST_DATA) + "/tiny/" + name; }

std::vector<int32_t> heldout(const model &m) {
  std::vector<int32_t> toks;
  m.tok().encode(test::read_text(data("jargon-heldout.txt")), false, false, toks);
  return toks;
}

perplexity_result ppl(const model &m, int32_t mode) {
  session_config sc;
  sc.n_ctx = (int32_t)m.file().get_float("hearth.training.heldout_window", 128);  // written as F32 by hearth import
  sc.n_threads = 2;
  sc.n_batch = sc.n_ctx;
  sc.sparse_mode = mode;
  return perplexity(m, heldout(m), sc);
}

}  // namespace

TEST_CASE("perplexity() equals the perplexity of the float64 reference's logits over the same windows") {
  const std::string path = data("jargon-reglu.gguf");
  const auto m = model::load(path);
  std::vector<int32_t> toks = heldout(*m);
  toks.resize(2 * 128 + 37);  // two whole windows and a short one
  session_config sc;
  sc.n_ctx = 128;
  sc.n_threads = 2;
  const perplexity_result got = perplexity(*m, toks, sc);
  const test::reference ref(path);
  double nll = 0;
  int64_t n = 0;
  for (size_t first = 0; first + 2 <= toks.size(); first += 128) {
    const std::vector<int32_t> w(toks.begin() + (long)first, toks.begin() + (long)std::min(toks.size(), first + 128));
    const std::vector<std::vector<double>> lg = ref.logits(w);
    for (size_t i = 0; i + 1 < w.size(); ++i, ++n) {
      double mx = -1e300, sum = 0;
      for (double v : lg[i]) mx = std::max(mx, v);
      for (double v : lg[i]) sum += std::exp(v - mx);
      nll += std::log(sum) + mx - lg[i][(size_t)w[i + 1]];
    }
  }
  CHECK(got.scored == n);
  CHECK(got.windows == 3);
  CHECK(std::fabs(got.nll - nll / (double)n) < 1e-5 * nll / (double)n);
}

TEST_CASE("the trained tiny models: PyTorch's perplexity, exact = dense, predictors within 0.5%, Q8_0 and Q4_0") {
  for (const char *file : {"jargon-reglu.gguf", "jargon-drelu.gguf"}) {
    CAPTURE(std::string(file));
    const std::string path = data(file);
    const auto m = model::load(path);
    REQUIRE(m->hp().block.ffn.relu_family());
    const double torch_ppl = m->file().get_float("hearth.training.heldout_perplexity", 0);
    REQUIRE(torch_ppl > 1);
    const perplexity_result dense = ppl(*m, HEARTH_SPARSE_DENSE);
    MESSAGE(fmt::format("{}: hearth {:.6f}, PyTorch {:.6f} over {} tokens", file, dense.perplexity, torch_ppl, dense.scored));
    CHECK(std::fabs(dense.perplexity - torch_ppl) < 5e-5 * torch_ppl);  // 4 significant digits and more

    const perplexity_result exact = ppl(*m, HEARTH_SPARSE_EXACT_GATE);
    MESSAGE(fmt::format("{}: exact gate {:.6f}, {:.1f}% of neurons", file, exact.perplexity, 100 * exact.neuron_share));
    CHECK(std::fabs(exact.perplexity - dense.perplexity) < 1e-5 * dense.perplexity);
    CHECK(exact.neuron_share < 0.8);

    calibrate_config cfg;
    cfg.profile.n_threads = 2;
    cfg.profile.n_ctx = 128;
    cfg.profile.max_samples = 2048;  // half the CLI's default: the test's time, at the same recall target
    const calibration cal = calibrate_model(*m, test::read_text(data("jargon-calibration.txt")), cfg);
    const std::string sparse_path = test::temp_path(std::string("calibrated-") + file);
    write_calibrated_model(*m, cal, cfg, sparse_path);
    const auto sm = model::load(sparse_path);
    const perplexity_result pred = ppl(*sm, HEARTH_SPARSE_PREDICTOR);
    MESSAGE(fmt::format("{}: predictors {:.6f} ({:+.3f}%), {:.1f}% of neurons", file, pred.perplexity,
                        100 * (pred.perplexity / dense.perplexity - 1), 100 * pred.neuron_share));
    CHECK(std::fabs(pred.perplexity / dense.perplexity - 1) < 0.005);
    CHECK(pred.neuron_share < 1.0);

    for (const auto &[type, tol] : {std::pair{"Q8_0", 0.005}, std::pair{"Q4_0", 0.03}}) {
      const std::string q = test::temp_path(std::string(type) + "-" + file);
      quantize_model(path, q, *find_quant_target(type), quantize_options{});
      const auto qm = model::load(q);
      const perplexity_result r = ppl(*qm, HEARTH_SPARSE_DENSE);
      MESSAGE(fmt::format("{}: {} {:.6f} ({:+.3f}%)", file, type, r.perplexity, 100 * (r.perplexity / dense.perplexity - 1)));
      CHECK(std::fabs(r.perplexity / dense.perplexity - 1) < tol);
    }
  }
}
