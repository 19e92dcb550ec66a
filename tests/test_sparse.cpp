// Sparse inference: the neuron-aware operators against float64 loops over the same active set; predictor masks;
// exact-gate equal to dense; planted statistics as requested; predictor-gated generation agreeing with dense;
// CATS reaching its target; determinism across thread counts; clear errors for modes a model cannot run.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "../kernels/cpu/fp16.h"
#include "../kernels/cpu/kernels.h"
#include "hearth.h"
#include "model.h"
#include "masks.h"
#include "sparse_mode.h"
#include "session.h"
#include "sparse_ffn.h"
#include "test_util.h"

using namespace hearth;

namespace {

// An FFN layer held in memory: gate, up and down_t rows of one type.
struct mem_layer {
  std::vector<uint8_t> gate, up, down_t;
  layer L;
  mem_layer(dtype t, int64_t d, int64_t ff, std::mt19937 &rng) {
    auto fill = [&](std::vector<uint8_t> &buf, matrix &m) {
      std::uniform_real_distribution<float> u(-1, 1);
      std::vector<float> row((size_t)d);
      buf.resize(row_bytes(t, d) * (size_t)ff);
      for (int64_t r = 0; r < ff; ++r) {
        for (float &x : row) x = u(rng);
        quantize_row(t, row.data(), buf.data() + r * row_bytes(t, d), d);
      }
      m.type = t;
      m.rows = ff;
      m.cols = d;
      m.data = buf.data();
      m.row_size = row_bytes(t, d);
      m.t = (const gguf_tensor *)1;  // "present"
    };
    fill(gate, L.gate);
    fill(up, L.up);
    fill(down_t, L.down_t);
  }
};

double decoded(const matrix &m, int64_t r, int64_t c) {
  std::vector<float> row((size_t)m.cols);
  dequantize_row(m.type, m.row(r), row.data(), m.cols);
  return row[(size_t)c];
}

// x as the dot kernels see it: in the weight type's activation format (Q8_0, Q8_1, Q8_K) for quantized weights.
std::vector<double> as_seen(dtype t, const float *x, int64_t d) {
  std::vector<double> out(x, x + d);
  const dtype a = traits(t).vec_dot_type;
  if (a != dtype::f32) {
    std::vector<uint8_t> q(row_bytes(a, d));
    std::vector<float> back((size_t)d);
    if (a == dtype::q8_0) cpu::ref_kernels().quantize_q8_0(x, q.data(), nullptr, nullptr, d);
    else quantize_row(a, x, q.data(), d);
    dequantize_row(a, q.data(), back.data(), d);
    out.assign(back.begin(), back.end());
  }
  return out;
}

}  // namespace

TEST_CASE("sparse FFN equals the float64 FFN restricted to the active set: types, tails, masks, threads") {
  std::mt19937 rng(21);
  const struct {
    dtype t;
    int64_t d;
  } shapes[] = {{dtype::f32, 75},   {dtype::f16, 61},    {dtype::bf16, 40},   {dtype::q8_0, 96},   {dtype::q4_0, 160},
                {dtype::q4_1, 64},   {dtype::q5_0, 96},   {dtype::q5_1, 32},   {dtype::iq4_nl, 64}, {dtype::q2_k, 256},
                {dtype::q3_k, 256},  {dtype::q4_k, 512},  {dtype::q5_k, 256},  {dtype::q6_k, 256},  {dtype::iq4_xs, 256}};
  for (const auto &sh : shapes)
    for (const ffn_form kind : {ffn_form{activation::relu, true, false}, ffn_form{activation::relu, true, true},
                                ffn_form{activation::silu, true, false}})
      for (int64_t n : {1, 3})
        for (int threads : {1, 2})
          for (int mask_kind = 0; mask_kind < 3; ++mask_kind) {  // empty, full, random
            const int64_t ff = 37, d = sh.d;
            mem_layer ml(sh.t, d, ff, rng);
            std::vector<float> x((size_t)(n * d));
            std::uniform_real_distribution<float> u(-1, 1);
            for (float &v : x) v = u(rng);
            ffn_masks m;
            m.reset(n, (int32_t)ff);
            for (int64_t t = 0; t < n; ++t)
              for (int32_t i = 0; i < ff; ++i)
                if (mask_kind == 1 || (mask_kind == 2 && rng() % 3 == 0)) m.add(t, i);
            m.finish();
            std::vector<float> y((size_t)(n * d), 123.0f);
            sparse_scratch s;
            q8_scratch qs;
            tbb::task_arena arena(threads);
            arena.execute([&] { sparse_ffn(ml.L, kind, x.data(), n, m, m.uni, nullptr, nullptr, y.data(), s, qs); });
            for (int64_t t = 0; t < n; ++t) {
              const std::vector<double> xs = as_seen(sh.t, x.data() + t * d, d);
              std::vector<double> want((size_t)d, 0.0);
              double mag = 1e-9;
              for (int32_t i : m.active[(size_t)t]) {
                double g = 0, up = 0;
                for (int64_t c = 0; c < d; ++c) {
                  g += decoded(ml.L.gate, i, c) * xs[(size_t)c];
                  up += decoded(ml.L.up, i, c) * xs[(size_t)c];
                }
                double a = kind.act == activation::silu ? up * g / (1 + std::exp(-g))
                           : !kind.act_on_up              ? (g > 0 ? up * g : 0)
                                                          : (g > 0 && up > 0 ? up * g : 0);
                for (int64_t c = 0; c < d; ++c) {
                  want[(size_t)c] += a * decoded(ml.L.down_t, i, c);
                  mag += std::fabs(a * decoded(ml.L.down_t, i, c));
                }
              }
              CAPTURE(type_name(sh.t));
              CAPTURE(kind.name());
              CAPTURE(n);
              CAPTURE(threads);
              CAPTURE(mask_kind);
              for (int64_t c = 0; c < d; ++c) CHECK(std::fabs(y[(size_t)(t * d + c)] - want[(size_t)c]) <= 1e-5 * mag + 1e-6);
            }
          }
}

TEST_CASE("planted frequencies have the requested mean and hot-set coverage") {
  for (float sp : {0.8f, 0.9f, 0.97f}) {  // 80% in the hottest 20% needs sparsity >= 0.755 (p <= 0.98)
    const std::vector<float> p = planted_frequencies(11008, sp, 0.2f, 0.8f);
    double sum = 0, top = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      sum += p[i];
      if (i < p.size() / 5) top += p[i];
      if (i) CHECK(p[i] <= p[i - 1]);
    }
    CHECK(sum / p.size() == doctest::Approx(1 - sp).epsilon(1e-3));
    CHECK(top / sum == doctest::Approx(0.8).epsilon(5e-3));
  }
}

namespace {
synth_config planted_config(const std::string &ffn = "relu", dtype t = dtype::q8_0) {
  synth_config c = test::small_config(t, ffn);
  c.n_embd = 256;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.n_ff = 1024;
  c.n_layer = 2;
  c.n_vocab = 1408;
  c.sparsity = 0.9f;
  c.predictor_rank = 64;
  return c;
}
}  // namespace

TEST_CASE("a planted model fires with the requested sparsity and skew, measured by running it") {
  const synth_config c = planted_config();
  const auto m = model::load(test::synth_model(c));
  CHECK(m->file().pwri());
  CHECK(m->has_predictors());
  CHECK(m->neuron_major());
  session_config sc;
  sc.n_ctx = 1400;
  sc.n_batch = 128;
  sc.sparse_mode = HEARTH_SPARSE_EXACT_GATE;  // true firings: gate > 0
  sc.count_neurons = true;
  session s(*m, sc);
  std::vector<int32_t> toks;
  for (int32_t t = 3; t < 1403; ++t) toks.push_back(t);  // every token once: the frequencies are over embeddings
  s.eval(toks.data(), (int32_t)toks.size(), false);
  const sparse_stats &st = s.stats();
  const double active = (double)st.active / (double)st.neurons;
  MESSAGE(fmt::format("planted sparsity 0.90: measured {:.4f}", 1 - active));
  CHECK(1 - active == doctest::Approx(0.9).epsilon(0.02));
  for (int il = 0; il < c.n_layer; ++il) {
    std::vector<uint64_t> f(st.fired.begin() + il * c.n_ff, st.fired.begin() + (il + 1) * c.n_ff);
    std::sort(f.rbegin(), f.rend());
    const double all = (double)std::accumulate(f.begin(), f.end(), uint64_t(0));
    const double top = (double)std::accumulate(f.begin(), f.begin() + c.n_ff / 5, uint64_t(0));
    MESSAGE(fmt::format("layer {}: hottest 20% cover {:.3f} of firings (planted 0.80)", il, top / all));
    CHECK(top / all == doctest::Approx(0.8).epsilon(0.05));
  }
}

TEST_CASE("exact-gate mode gives the dense logits on ReGLU and dReLU models, neuron-major or not") {
  for (const char *ffn : {"relu", "drelu"})
    for (bool planted : {false, true}) {
      synth_config c = planted ? planted_config(ffn, dtype::f32) : test::small_config(dtype::f32, ffn);
      const auto m = model::load(test::synth_model(c));
      session_config sc;
      sc.n_ctx = 64;
      sc.sparse_mode = HEARTH_SPARSE_DENSE;
      session dense(*m, sc);
      sc.sparse_mode = HEARTH_SPARSE_EXACT_GATE;
      session exact(*m, sc);
      std::vector<int32_t> toks = {1, 17, 300, 301, 40, 41, 42, 500};
      dense.eval(toks.data(), 8, true);
      exact.eval(toks.data(), 4, true);  // a batch, then single tokens
      CAPTURE(ffn);
      CAPTURE(planted);
      auto rel_diff = [&](const float *a, const float *b) {  // max |a - b| / max |b|
        double err = 0, mag = 0;
        for (int v = 0; v < m->hp().n_vocab; ++v) {
          err = std::max(err, (double)std::fabs(a[v] - b[v]));
          mag = std::max(mag, (double)std::fabs(b[v]));
        }
        return err / mag;
      };
      for (int i = 0; i < 4; ++i) CHECK(rel_diff(exact.logits(i), dense.logits(i)) < 1e-5);
      for (size_t i = 4; i < toks.size(); ++i) exact.eval(&toks[i], 1, false);
      CHECK(rel_diff(exact.logits(-1), dense.logits(7)) < 1e-5);
      CHECK(exact.stats().active < exact.stats().neurons);  // it did skip neurons
    }
}

TEST_CASE("planted predictors: sparse greedy tokens agree with dense, results independent of thread count") {
  for (const auto &[ffn, type] : {std::pair{"relu", dtype::q4_0}, std::pair{"drelu", dtype::q4_0}, std::pair{"relu", dtype::q4_k},
                                  std::pair{"drelu", dtype::q6_k}}) {
    const synth_config c = planted_config(ffn, type);
    CAPTURE(type_name(type));
    const auto m = model::load(test::synth_model(c));
    session_config sc;
    sc.n_ctx = 200;
    sc.n_threads = 2;
    sc.sparse_mode = HEARTH_SPARSE_DENSE;
    session dense(*m, sc);
    sc.sparse_mode = HEARTH_SPARSE_PREDICTOR;
    session sparse(*m, sc);
    sc.n_threads = 1;
    session sparse1(*m, sc);
    std::vector<int32_t> toks = {1, 100, 200, 300};
    for (session *s : {&dense, &sparse, &sparse1}) s->eval(toks.data(), 4, false);
    int same = 0;
    const int positions = 128;
    for (int i = 0; i < positions; ++i) {
      const float *ld = dense.logits(-1), *ls = sparse.logits(-1), *l1 = sparse1.logits(-1);
      const int32_t t = (int32_t)(std::max_element(ld, ld + m->hp().n_vocab) - ld);
      same += (int32_t)(std::max_element(ls, ls + m->hp().n_vocab) - ls) == t;
      for (int v = 0; v < m->hp().n_vocab; ++v) REQUIRE(ls[v] == l1[v]);  // 1 thread == 2 threads, bit for bit
      for (session *s : {&dense, &sparse, &sparse1}) s->eval(&t, 1, false);
    }
    const double active = (double)sparse.stats().active / (double)sparse.stats().neurons;
    MESSAGE(fmt::format("{} {}: predictor-gated greedy agrees with dense on {}/{} positions, {:.1f}% of neurons computed",
                        ffn, type_name(type), same, positions, 100 * active));
    CHECK(same >= positions * 95 / 100);
    CHECK(active < 0.2);
  }
}

TEST_CASE("per-layer thresholds: +inf computes nothing, -inf everything (= dense)") {
  const synth_config c = planted_config("relu", dtype::f32);
  const auto m = model::load(test::synth_model(c));
  session_config sc;
  sc.n_ctx = 32;
  sc.sparse_mode = HEARTH_SPARSE_DENSE;
  session dense(*m, sc);
  sc.sparse_mode = HEARTH_SPARSE_PREDICTOR;
  session s(*m, sc);
  std::vector<int32_t> toks = {1, 5, 6, 7};
  s.set_threshold(-1, INFINITY);
  s.eval(toks.data(), 4, false);
  CHECK(s.stats().active == 0);
  s.reset();
  s.reset_stats();
  s.set_threshold(-1, -INFINITY);
  s.eval(toks.data(), 4, true);
  dense.eval(toks.data(), 4, true);
  CHECK(s.stats().active == s.stats().neurons);
  for (int i = 0; i < 4; ++i)
    for (int v = 0; v < m->hp().n_vocab; ++v) CHECK(s.logits(i)[v] == doctest::Approx(dense.logits(i)[v]).epsilon(1e-4));
  CHECK_THROWS(s.set_threshold(5, 0.0f));
}

TEST_CASE("predictor masks are the neurons whose logit reaches the threshold") {
  const synth_config c = planted_config("relu", dtype::f32);
  const auto m = model::load(test::synth_model(c));
  const layer &L = m->layers()[0];
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x((size_t)(2 * c.n_embd));
  for (float &v : x) v = u(rng);
  ffn_masks masks;
  std::vector<float> hidden((size_t)(2 * L.fc1.rows)), logits((size_t)(2 * c.n_ff));
  q8_scratch qs;
  predict_masks(L.fc1, L.fc2, x.data(), 2, 0.25f, masks, hidden.data(), logits.data(), qs);
  // The reference quantizes what the kernels quantize: x before fc1 and the hidden layer before fc2 (Q8_0).
  for (int t = 0; t < 2; ++t) {
    const std::vector<double> xs = as_seen(L.fc1.type, x.data() + t * c.n_embd, c.n_embd);
    std::vector<float> h((size_t)L.fc1.rows);
    for (int64_t r = 0; r < L.fc1.rows; ++r) {
      double s = 0;
      for (int64_t j = 0; j < c.n_embd; ++j) s += decoded(L.fc1, r, j) * xs[(size_t)j];
      h[(size_t)r] = (float)std::max(s, 0.0);
    }
    const std::vector<double> hs = as_seen(L.fc2.type, h.data(), L.fc1.rows);
    int checked = 0;
    for (int32_t i = 0; i < c.n_ff; ++i) {
      double l = 0;
      for (int64_t r = 0; r < L.fc1.rows; ++r) l += decoded(L.fc2, i, r) * hs[(size_t)r];
      if (std::fabs(l - 0.25) < 1e-3) continue;  // too close to call in float
      const bool in = std::binary_search(masks.active[(size_t)t].begin(), masks.active[(size_t)t].end(), i);
      CHECK(in == (l >= 0.25));
      ++checked;
    }
    CHECK(checked > c.n_ff * 9 / 10);
  }
}

TEST_CASE("CATS on a SwiGLU model skips about the requested share of neurons") {
  const synth_config c = test::small_config(dtype::f32, "silu");
  const auto m = model::load(test::synth_model(c));
  session_config sc;
  sc.n_ctx = 256;
  sc.sparse_mode = HEARTH_SPARSE_CATS;
  sc.cats_sparsity = 0.6f;
  session s(*m, sc);
  std::vector<int32_t> toks;
  m->tok().encode("People gathered around a fire to cook, to keep warm and to tell stories.", true, false, toks);
  s.eval(toks.data(), (int32_t)toks.size(), false);
  const double active = (double)s.stats().active / (double)s.stats().neurons;
  MESSAGE(fmt::format("CATS target 60% sparsity: measured {:.1f}% of neurons computed", 100 * active));
  CHECK(active == doctest::Approx(0.4).epsilon(0.1 / 0.4));  // within 0.3..0.5
  for (int il = 0; il < c.n_layer; ++il) CHECK(s.threshold(il) > 0.0f);
}

TEST_CASE("modes a model cannot run are refused with a reason") {
  auto status = [](const synth_config &c, int32_t mode) {
    hearth_model *m = nullptr;
    REQUIRE(hearth_model_load(test::synth_model(c).c_str(), nullptr, &m) == HEARTH_OK);
    hearth_session_params p;
    hearth_session_params_init(&p);
    p.n_ctx = 32;
    p.sparse_mode = mode;
    hearth_session *s = nullptr;
    const hearth_status st = hearth_session_create(m, &p, &s);
    if (st == HEARTH_OK) CHECK(std::string(hearth_session_mode(s)).size() > 0);
    hearth_session_free(s);
    hearth_model_free(m);
    return st;
  };
  const synth_config silu = test::small_config(dtype::q8_0, "silu"), relu = test::small_config(dtype::q8_0, "relu");
  CHECK(status(silu, HEARTH_SPARSE_PREDICTOR) == HEARTH_ERR_UNSUPPORTED);
  CHECK(std::string(hearth_last_error()).find("predictor") != std::string::npos);
  CHECK(status(silu, HEARTH_SPARSE_EXACT_GATE) == HEARTH_ERR_UNSUPPORTED);
  CHECK(status(relu, HEARTH_SPARSE_CATS) == HEARTH_ERR_UNSUPPORTED);
  CHECK(status(relu, 99) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(status(relu, HEARTH_SPARSE_EXACT_GATE) == HEARTH_OK);
  CHECK(status(silu, HEARTH_SPARSE_CATS) == HEARTH_OK);
  CHECK(status(planted_config(), HEARTH_SPARSE_AUTO) == HEARTH_OK);
}
