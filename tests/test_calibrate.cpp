// The offline pipeline: profiler, predictor training, the calibrated PWRI file, and the placement solver (against
// exhaustive search).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "calibrate.h"
#include "gguf_writer.h"
#include "masks.h"
#include "gpuidx.h"
#include "offload.h"
#include "error.h"
#include "hearth.h"
#include "gguf.h"
#include "placement.h"
#include "session.h"
#include "synth.h"
#include "test_util.h"

using namespace hearth;

namespace {

// A planted ReGLU model in llama.cpp's dense layout, with a vocabulary large enough that its token embeddings sample
// the planted feature distribution well (a firing frequency is an average over the tokens seen).
synth_config dense_planted(dtype t = dtype::f16) {
  synth_config c;
  c.n_vocab = 6144, c.n_embd = 128, c.n_layer = 2, c.n_ff = 352, c.n_head = 4, c.n_head_kv = 2;
  c.type = t;
  c.ffn = "relu";
  c.sparsity = 0.9f;
  c.predictor_rank = 64;
  c.llama_layout = true;
  return c;
}

const std::string &dense_planted_path() {
  static const std::string path = [] {
    const std::string p = test::temp_path("planted-dense.gguf");
    write_synthetic_model(p, dense_planted(), builtin_corpus());
    return p;
  }();
  return path;
}

// Every token of the vocabulary once, in a seeded random order.
std::vector<int32_t> vocab_stream(int32_t n_vocab) {
  std::vector<int32_t> t;
  for (int32_t i = 3; i < n_vocab; ++i) t.push_back(i);
  std::shuffle(t.begin(), t.end(), std::mt19937(3));
  return t;
}

calibrate_config test_config(int32_t threads) {
  calibrate_config cfg;
  cfg.profile.n_threads = threads;
  cfg.profile.n_ctx = 512;
  cfg.profile.max_samples = 3072;
  return cfg;
}

// Calibration from a token stream (calibrate_model takes text; the stream gives the profiler every embedding).
calibration calibrate_tokens(const model &m, const calibrate_config &cfg) {
  calibration c;
  const std::vector<int32_t> toks = vocab_stream(m.hp().n_vocab);
  c.corpus_hash = fnv1a64(toks.data(), toks.size() * sizeof(int32_t));
  c.corpus_tokens = (int64_t)toks.size();
  c.profile = profile_activations(m, toks, cfg.profile);
  c.predictors = train_predictors(c.profile, m.hp().n_embd, m.hp().n_ff, cfg.trainer);
  return c;
}

struct calibrated {
  std::string path;
  calibration cal;
};

const calibrated &calibrated_model() {
  static const calibrated out = [] {
    const auto m = model::load(dense_planted_path());
    calibrated c;
    c.cal = calibrate_tokens(*m, test_config(2));
    c.path = test::temp_path("calibrated.gguf");
    write_calibrated_model(*m, c.cal, test_config(2), c.path);
    return c;
  }();
  return out;
}

}  // namespace

TEST_CASE("the profiler recovers the planted per-neuron frequencies") {
  const auto m = model::load(dense_planted_path());
  const calibration &c = calibrated_model().cal;
  CHECK(c.profile.tokens == m->hp().n_vocab - 3);
  for (int32_t l = 0; l < m->hp().n_layer; ++l) {
    const std::vector<float> planted = m->file().get_floats(fmt::format("hearth.synthetic.frequency.{}", l));
    REQUIRE((int32_t)planted.size() == m->hp().n_ff);
    const std::vector<float> got = c.profile.frequency(l);
    const double rho = rank_correlation(planted, got);
    double mean_p = 0, mean_g = 0;
    for (size_t i = 0; i < got.size(); ++i) mean_p += planted[i] / (double)got.size(), mean_g += got[i] / (double)got.size();
    MESSAGE(fmt::format("layer {}: rank correlation {:.4f}, mean frequency {:.4f} (planted {:.4f})", l, rho, mean_g, mean_p));
    CHECK(rho >= 0.95);
    CHECK(mean_g == doctest::Approx(mean_p).epsilon(0.05));
    // the counts are exact: recount the layer's samples' firing bits against the counts' totals
    const layer_samples &s = c.profile.samples[(size_t)l];
    CHECK(s.n == 3072);
  }
}

TEST_CASE("rank correlation matches a float64 Spearman on small cases, ties included") {
  CHECK(rank_correlation({1, 2, 3, 4}, {10, 20, 30, 40}) == doctest::Approx(1.0));
  CHECK(rank_correlation({1, 2, 3, 4}, {4, 3, 2, 1}) == doctest::Approx(-1.0));
  // ranks a = (1, 2.5, 2.5, 4), b = (1, 2, 3, 4): Pearson of the ranks
  const double ra[] = {1, 2.5, 2.5, 4}, rb[] = {1, 2, 3, 4};
  double sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < 4; ++i) sab += (ra[i] - 2.5) * (rb[i] - 2.5), saa += (ra[i] - 2.5) * (ra[i] - 2.5), sbb += (rb[i] - 2.5) * (rb[i] - 2.5);
  CHECK(rank_correlation({1, 5, 5, 9}, {1, 2, 3, 4}) == doctest::Approx(sab / std::sqrt(saa * sbb)));
}

TEST_CASE("trained predictors reach the recall target on held-out tokens at under 10% of the FFN bytes") {
  const calibrated &c = calibrated_model();
  const auto m = model::load(c.path);
  REQUIRE(m->has_predictors());
  const layer &L0 = m->layers()[0];
  const double ffn_bytes = (double)(L0.up.bytes() + L0.gate.bytes() + L0.down_t.bytes());
  for (int32_t l = 0; l < m->hp().n_layer; ++l) {
    const trained_predictor &p = c.cal.predictors[(size_t)l];
    const layer &L = m->layers()[(size_t)l];
    const double share = (double)(L.fc1.bytes() + L.fc2.bytes()) / ffn_bytes;
    MESSAGE(fmt::format("layer {}: rank {}, held-out recall {:.4f}, precision {:.4f}, {:.2f}% of FFN bytes, sparsity {:.3f}, skew {:.3f}",
                        l, p.rank, p.recall, p.precision, 100 * share, p.sparsity, p.skew));
    CHECK(p.recall >= 0.99);
    CHECK(p.precision >= 0.5);
    CHECK(share < 0.10);
    CHECK(L.fc1.rows == p.rank);
    CHECK(p.rank % 32 == 0);  // whole Q8_0 blocks
    CHECK(L.threshold == p.threshold);
    // held-out recall recomputed independently through the file's (quantized) predictor: the library's mask
    // computation on fresh tokens against the dense model's true firings
  }
  // Independent check on tokens the trainer never saw as training rows: every 7th token of the stream, through the
  // written (quantized) predictors, against dense firings, in float64.
  const auto dense = model::load(dense_planted_path());
  const calibration &cal = c.cal;
  uint64_t tp = 0, pos = 0;
  for (int32_t l = 0; l < m->hp().n_layer; ++l) {
    const layer_samples &s = cal.profile.samples[(size_t)l];
    const layer &L = m->layers()[(size_t)l];
    const int64_t d = m->hp().n_embd, ff = m->hp().n_ff, r = L.fc1.rows;
    std::vector<float> row1((size_t)d), row2((size_t)r);
    const int64_t first_held = (int64_t)std::llround((double)s.n * 0.85);
    for (int64_t t = first_held; t < s.n; ++t) {
      std::vector<double> h((size_t)r);
      for (int64_t j = 0; j < r; ++j) {
        dequantize_row(L.fc1.type, L.fc1.row(j), row1.data(), d);
        double acc = 0;
        for (int64_t k = 0; k < d; ++k) acc += (double)row1[(size_t)k] * s.x[(size_t)(t * d + k)];
        h[(size_t)j] = std::max(acc, 0.0);
      }
      for (int64_t i = 0; i < ff; ++i) {
        dequantize_row(L.fc2.type, L.fc2.row(i), row2.data(), r);
        double logit = 0;
        for (int64_t j = 0; j < r; ++j) logit += (double)row2[(size_t)j] * h[(size_t)j];
        const bool fired = s.fired_at(t, i);
        pos += fired;
        tp += fired && logit >= L.threshold;
      }
    }
  }
  const double recall = (double)tp / (double)pos;
  MESSAGE(fmt::format("recall of the written predictors on held-out tokens (float64): {:.4f} of {} firings", recall, pos));
  CHECK(recall >= 0.985);  // the quantized predictor, slightly below the float training recall
}

TEST_CASE("generation with trained predictors agrees with dense greedy output") {
  const auto m = model::load(calibrated_model().path);
  session_config sc;
  sc.n_ctx = 300;
  sc.sparse_mode = HEARTH_SPARSE_DENSE;
  session dense(*m, sc);
  sc.sparse_mode = HEARTH_SPARSE_PREDICTOR;
  session sparse(*m, sc);
  std::vector<int32_t> toks = {1, 100, 200, 300};
  dense.eval(toks.data(), 4, false);
  sparse.eval(toks.data(), 4, false);
  int same = 0;
  const int positions = 256;
  const int32_t nv = m->hp().n_vocab;
  for (int i = 0; i < positions; ++i) {
    const float *ld = dense.logits(-1), *ls = sparse.logits(-1);
    const int32_t t = (int32_t)(std::max_element(ld, ld + nv) - ld);
    same += (int32_t)(std::max_element(ls, ls + nv) - ls) == t;
    dense.eval(&t, 1, false);
    sparse.eval(&t, 1, false);
  }
  const double active = (double)sparse.stats().active / (double)sparse.stats().neurons;
  MESSAGE(fmt::format("trained predictors: greedy agreement {}/{}, {:.1f}% of neurons computed", same, positions, 100 * active));
  CHECK(same >= positions * 95 / 100);
  CHECK(active < 0.3);
}

TEST_CASE("the calibrated file has PowerInfer's PWRI structure and hearth's record") {
  const auto f = gguf_file::open(calibrated_model().path);
  const synth_config c = dense_planted();
  CHECK(f->pwri());
  CHECK(f->version() == 3);
  CHECK(f->get_string("general.architecture", "") == "llama");
  const gguf_value *thr = f->find("powerinfer.sparse_threshold");
  REQUIRE(thr);
  CHECK(thr->type == gguf_type::f32);
  CHECK(f->get_string("hearth.ffn_activation", "") == "relu");
  for (const char *k : {"hearth.calibration.corpus_fnv1a64", "hearth.calibration.corpus_tokens", "hearth.calibration.seed"})
    CHECK(f->find(k) != nullptr);
  for (const char *k : {"hearth.calibration.sparsity", "hearth.calibration.skewness", "hearth.calibration.recall",
                        "hearth.calibration.precision", "hearth.sparse_thresholds"})
    CHECK(f->get_floats(k).size() == (size_t)c.n_layer);
  const std::vector<float> f0 = f->get_floats("hearth.calibration.frequency.0");
  CHECK(f0.size() == (size_t)c.n_ff);
  // tensors: ffn_down replaced by ffn_down_t [n_embd, n_ff]; fc1 [n_embd, r], fc2 [r, n_ff] after it; nothing else new
  const auto src = gguf_file::open(dense_planted_path());
  CHECK(f->tensors().size() == src->tensors().size() + 2 * (size_t)c.n_layer);
  for (int32_t l = 0; l < c.n_layer; ++l) {
    CAPTURE(l);
    CHECK(f->tensor(fmt::format("blk.{}.ffn_down.weight", l)) == nullptr);
    const gguf_tensor *dt = f->tensor(fmt::format("blk.{}.ffn_down_t.weight", l));
    const gguf_tensor *fc1 = f->tensor(fmt::format("blk.{}.fc1.weight", l));
    const gguf_tensor *fc2 = f->tensor(fmt::format("blk.{}.fc2.weight", l));
    REQUIRE((dt && fc1 && fc2));
    CHECK((dt->n_dims == 2 && dt->ne[0] == c.n_embd && dt->ne[1] == c.n_ff && dt->type == dtype::f16));
    CHECK((fc1->n_dims == 2 && fc1->ne[0] == c.n_embd && fc1->ne[1] == fc2->ne[0] && fc2->ne[1] == c.n_ff));
    CHECK(fc1->type == dtype::q8_0);
    // down_t is the exact transpose of the F16 down (no requantization for a float source)
    const gguf_tensor *down = src->tensor(fmt::format("blk.{}.ffn_down.weight", l));
    const auto *a = (const uint16_t *)down->data, *b = (const uint16_t *)dt->data;
    bool same = true;
    for (int64_t r = 0; r < c.n_embd && same; ++r)
      for (int64_t i = 0; i < c.n_ff && same; ++i) same = a[r * c.n_ff + i] == b[i * c.n_embd + r];
    CHECK(same);
    // the layer's other tensors are copied byte for byte
    const gguf_tensor *q0 = src->tensor(fmt::format("blk.{}.attn_q.weight", l)), *q1 = f->tensor(fmt::format("blk.{}.attn_q.weight", l));
    REQUIRE((q0 && q1));
    CHECK(std::equal(q0->data, q0->data + q0->size, q1->data));
  }
}

TEST_CASE("the same inputs and seed give a byte-identical calibrated file on any thread count") {
  const auto m = model::load(dense_planted_path());
  const calibration c1 = calibrate_tokens(*m, test_config(1));
  const std::string p1 = test::temp_path("cal-1thread.gguf");
  write_calibrated_model(*m, c1, test_config(1), p1);
  CHECK(test::read_file(p1) == test::read_file(calibrated_model().path));
}

TEST_CASE("calibration refuses what it cannot do, with a reason") {
  synth_config c = dense_planted();
  c.sparsity = 0;
  c.ffn = "silu";
  const std::string path = test::temp_path("swiglu.gguf");
  write_synthetic_model(path, c, builtin_corpus());
  const auto m = model::load(path);
  try {
    calibrate_model(*m, std::string(builtin_corpus()), test_config(1));
    FAIL("a SwiGLU model was calibrated");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_UNSUPPORTED);
    CHECK(std::string(e.what()).find("SwiGLU") != std::string::npos);
  }
  // an already sparse file
  const auto sparse = model::load(calibrated_model().path);
  try {
    write_calibrated_model(*sparse, calibrated_model().cal, test_config(1), test::temp_path("again.gguf"));
    FAIL("a PWRI file was calibrated again");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_INVALID_ARGUMENT);
  }
  // a fixed rank that is not whole Q8_0 blocks: refused up front
  {
    const auto dm = model::load(dense_planted_path());
    calibrate_config cfg = test_config(1);
    cfg.trainer.fixed_rank = 48;
    try {
      calibrate_model(*dm, std::string(builtin_corpus()), cfg);
      FAIL("rank 48 with Q8_0 predictors was accepted");
    } catch (const error &e) {
      CHECK(e.status() == HEARTH_ERR_INVALID_ARGUMENT);
      CHECK(std::string(e.what()).find("multiple") != std::string::npos);
    }
  }
  // cancellation from the progress callback
  const auto dm = model::load(dense_planted_path());
  try {
    calibrate_model(*dm, std::string(builtin_corpus()), test_config(1), [](const char *, int64_t, int64_t) { return false; });
    FAIL("not cancelled");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_CANCELLED);
  }
}

// ---- placement ------------------------------------------------------------------------------------------------

namespace {

// Exhaustive search: every subset of every layer's neurons, every dense choice, the output.
double brute_force(const placement_input &in, int64_t *best_bytes) {
  const size_t L = in.layers.size();
  const double per_byte = 1.0 / in.cpu_bandwidth - 1.0 / in.gpu_bandwidth;
  std::vector<int64_t> min_n(L);
  size_t bits = 1;
  for (size_t l = 0; l < L; ++l) {
    const double g = (double)in.layers[l].neuron_bytes * per_byte;
    min_n[l] = std::max<int64_t>(1, (int64_t)std::ceil(in.sync_seconds / g));
    bits += in.layers[l].frequency.size() + 1;
  }
  double best = 0;
  *best_bytes = 0;
  for (uint64_t mask = 0; mask < (1ull << bits); ++mask) {
    uint64_t m = mask, bytes = 0;
    double v = 0;
    bool ok = true;
    if (m & 1) bytes += in.output_bytes, v += (double)in.output_bytes * per_byte;
    m >>= 1;
    for (size_t l = 0; l < L && ok; ++l) {
      const placement_layer_input &li = in.layers[l];
      if (m & 1) bytes += li.attention_bytes, v += (double)li.attention_bytes * per_byte;
      m >>= 1;
      int64_t k = 0;
      for (size_t i = 0; i < li.frequency.size(); ++i, m >>= 1)
        if (m & 1) ++k, bytes += li.neuron_bytes, v += li.frequency[i] * (double)li.neuron_bytes * per_byte;
      if (k > 0) {
        v -= in.sync_seconds;
        ok = k >= min_n[l];
      }
    }
    if (ok && bytes <= in.budget && v > best + 1e-18) best = v, *best_bytes = (int64_t)bytes;
  }
  return best;
}

}  // namespace

TEST_CASE("placement is optimal against exhaustive search and keeps every constraint") {
  std::mt19937 rng(21);
  for (int trial = 0; trial < 150; ++trial) {
    placement_input in;
    const int L = 1 + (int)(rng() % 3);
    int total = 0;
    for (int l = 0; l < L; ++l) {
      placement_layer_input li;
      const int n = 1 + (int)(rng() % 5);
      total += n + 1;
      for (int i = 0; i < n; ++i) li.frequency.push_back((float)(rng() % 1000) / 1000.0f);
      li.neuron_bytes = 100 * (1 + rng() % 3);
      li.attention_bytes = rng() % 3 ? 100 * (rng() % 12) : 0;
      in.layers.push_back(li);
    }
    if (total > 16) continue;
    in.output_bytes = rng() % 2 ? 100 * (1 + rng() % 6) : 0;
    in.budget = 100 * (rng() % 25);
    in.cpu_bandwidth = 1e9;
    in.gpu_bandwidth = 1e10;
    in.sync_seconds = (double)(rng() % 4) * 100 * 0.9e-9 * 0.7;  // 0 to ~2 neurons' worth
    const placement p = solve_placement(in);
    int64_t bb;
    const double want = brute_force(in, &bb);
    CAPTURE(trial);
    CHECK(p.saved_seconds == doctest::Approx(want).epsilon(1e-9));
    CHECK(placement_value(in, p) == doctest::Approx(p.saved_seconds).epsilon(1e-9));
    CHECK(p.bytes <= in.budget);
    uint64_t bytes = p.output_on_gpu ? in.output_bytes : 0;
    for (size_t l = 0; l < in.layers.size(); ++l) {
      const placement_layer &pl = p.layers[l];
      bytes += (pl.attention_on_gpu ? in.layers[l].attention_bytes : 0) + pl.gpu_neurons.size() * in.layers[l].neuron_bytes;
      CHECK((pl.gpu_neurons.empty() || (int64_t)pl.gpu_neurons.size() >= pl.min_neurons));
      CHECK(std::is_sorted(pl.gpu_neurons.begin(), pl.gpu_neurons.end()));
    }
    CHECK(bytes == p.bytes);
  }
}

TEST_CASE("placement of an 80-layer, 28672-neuron model: constraints, coarse units, timing") {
  placement_input in;
  std::mt19937 rng(5);
  const std::vector<float> curve = planted_frequencies(28672, 0.9f, 0.2f, 0.8f);
  for (int l = 0; l < 80; ++l) {
    placement_layer_input li;
    li.frequency = curve;
    std::shuffle(li.frequency.begin(), li.frequency.end(), rng);
    li.neuron_bytes = 3 * 4608;  // Q4_0 gate + up + down rows of 8192
    li.attention_bytes = 4 * 8192ull * 8192 * 9 / 16;
    in.layers.push_back(std::move(li));
  }
  in.output_bytes = 32000ull * 8192 * 9 / 16;
  in.budget = 24ull << 30;
  const placement p = solve_placement(in);
  MESSAGE(fmt::format("80 x 28672 neurons, 24 GiB: solved in {:.1f} ms (unit {} bytes); {:.1f}% of firings on the GPU, "
                      "{} layers' attention, {:.2f} GiB used",
                      p.solve_ms, p.unit, 100 * p.gpu_firing_share,
                      std::count_if(p.layers.begin(), p.layers.end(), [](const placement_layer &x) { return x.attention_on_gpu; }),
                      p.bytes / 1073741824.0));
  CHECK(p.bytes <= in.budget);
  CHECK(p.bytes > in.budget * 0.98);  // coarse units lose at most a little of the budget
  CHECK(p.gpu_firing_share > 0.5);
  // the hot neurons of a layer are its most frequent
  for (const placement_layer &pl : p.layers) {
    if (pl.gpu_neurons.empty()) continue;
    CHECK((int64_t)pl.gpu_neurons.size() >= pl.min_neurons);
  }
}

TEST_CASE(".gpuidx files round-trip and bad ones are refused") {
  placement p;
  p.layers.resize(3);
  p.layers[0].gpu_neurons = {0, 5, 7};
  p.layers[2].gpu_neurons = {1};
  const std::string path = test::temp_path("x.gpuidx");
  write_gpuidx(path, p, 10, 123456);
  const auto f = gguf_file::open(path);
  CHECK(f->pwri());
  CHECK(f->get_string("general.architecture", "") == "generic.gpu_index");
  CHECK(f->get_uint("split.vram_capacity", 0) == 123456);
  CHECK(f->get_uint("generic.gpu_index.block_count", 0) == 3);
  REQUIRE(f->tensors().size() == 6);
  CHECK(f->tensors()[0].name == "blk.0.gpu_idx");
  CHECK(f->tensors()[1].name == "blk.0.gpu_bucket");
  CHECK(f->tensors()[1].n_elements() == 3);
  const placement q = read_gpuidx(path, 3, 10);
  for (int l = 0; l < 3; ++l) CHECK(q.layers[(size_t)l].gpu_neurons == p.layers[(size_t)l].gpu_neurons);
  CHECK_THROWS_AS(read_gpuidx(path, 4, 10), error);   // wrong layer count
  CHECK_THROWS_AS(read_gpuidx(path, 3, 11), error);   // wrong n_ff
  CHECK_THROWS_AS(read_gpuidx(dense_planted_path(), 2, 352), error);  // not an index file
}

// ---- regressions ----------------------------------------------------------------------------------------------

namespace {

// The validation/test split the trainer uses (70 / 15 / 15).
struct rows {
  int64_t v0, v1, t0, n;
};
rows split_of(const layer_samples &s, double holdout) {
  const int64_t n_test = std::max<int64_t>(1, (int64_t)std::llround((double)s.n * holdout));
  const int64_t n_train = std::max<int64_t>(1, s.n - 2 * n_test);
  const int64_t v1 = std::min(s.n, n_train + n_test);
  return {n_train, v1, v1, s.n};
}

// The written predictor of layer l, run as a session runs it (predict_masks), on sample rows [r0, r1): its logits.
std::vector<float> file_logits(const layer &L, const layer_samples &s, int64_t d, int64_t r0, int64_t r1) {
  const int64_t n = r1 - r0;
  std::vector<float> hidden((size_t)(n * L.fc1.rows)), logits((size_t)(n * L.fc2.rows));
  ffn_masks m;
  q8_scratch qs;
  predict_masks(L.fc1, L.fc2, s.x.data() + r0 * d, n, 0.0f, m, hidden.data(), logits.data(), qs);
  return logits;
}

}  // namespace

TEST_CASE("reported recall and precision are those of the predictor as written, in its stored type") {
  const auto m = model::load(dense_planted_path());
  calibrate_config cfg = test_config(2);
  cfg.predictor_type = dtype::q4_0;  // coarse enough that float and stored weights disagree on some decisions
  cfg.trainer.predictor_type = dtype::q4_0;
  const calibration c = calibrate_tokens(*m, cfg);
  const std::string path = test::temp_path("cal-q4.gguf");
  write_calibrated_model(*m, c, cfg, path);
  const auto w = model::load(path);
  const int64_t d = w->hp().n_embd, ff = w->hp().n_ff;
  for (int32_t l = 0; l < w->hp().n_layer; ++l) {
    const layer &L = w->layers()[(size_t)l];
    CHECK(L.fc1.type == dtype::q4_0);
    const layer_samples &s = c.profile.samples[(size_t)l];
    const rows r = split_of(s, cfg.trainer.holdout);
    const std::vector<float> lg = file_logits(L, s, d, r.t0, r.n);
    uint64_t tp = 0, pos = 0, pred = 0;
    for (int64_t t = r.t0; t < r.n; ++t)
      for (int64_t i = 0; i < ff; ++i) {
        const bool y = s.fired_at(t, i), p = lg[(size_t)((t - r.t0) * ff + i)] >= L.threshold;
        pos += y, pred += p, tp += y && p;
      }
    CAPTURE(l);
    CHECK(c.predictors[(size_t)l].recall == doctest::Approx((double)tp / (double)pos).epsilon(1e-12));
    CHECK(c.predictors[(size_t)l].precision == doctest::Approx((double)tp / (double)pred).epsilon(1e-12));
  }
}

TEST_CASE("PowerInfer's one threshold is the global value that best matches the per-layer thresholds") {
  const calibrated &cal = calibrated_model();
  const auto f = gguf_file::open(cal.path);
  const auto w = model::load(cal.path);
  const float global = (float)f->get_float("powerinfer.sparse_threshold", 99.0);
  const int64_t d = w->hp().n_embd, ff = w->hp().n_ff;
  // Independently: the decisions of every layer's validation rows under one threshold t, against its own.
  std::vector<std::vector<float>> val;
  std::vector<float> own;
  for (int32_t l = 0; l < w->hp().n_layer; ++l) {
    const layer_samples &s = cal.cal.profile.samples[(size_t)l];
    const rows r = split_of(s, test_config(2).trainer.holdout);
    val.push_back(file_logits(w->layers()[(size_t)l], s, d, r.v0, r.v1));
    own.push_back(w->layers()[(size_t)l].threshold);
  }
  auto agreement = [&](float t) {
    uint64_t same = 0, all = 0;
    for (size_t l = 0; l < val.size(); ++l)
      for (float x : val[l]) same += (x >= t) == (x >= own[l]), ++all;
    return (double)same / (double)all;
  };
  const double chosen = agreement(global);
  MESSAGE(fmt::format("per-layer thresholds {} / {}, global {}: agreement {:.5f} (at 0: {:.5f})", own[0], own[1], global, chosen,
                      agreement(0.0f)));
  for (float t : own) CHECK(chosen >= agreement(t) - 1e-3);  // no layer's threshold does better as the global one
  CHECK(chosen >= agreement(0.0f) - 1e-3);
  CHECK(f->get_float("hearth.calibration.global_threshold_agreement", 0) == doctest::Approx(chosen).epsilon(1e-2));
  (void)ff;
}

TEST_CASE("calibrating an F32 model to F32 reports no conversion") {
  const std::string path = test::temp_path("planted-f32.gguf");
  write_synthetic_model(path, dense_planted(dtype::f32), builtin_corpus());
  const auto m = model::load(path);
  calibrate_config cfg = test_config(2);
  cfg.convert_weights = true;
  cfg.weight_type = dtype::f32;
  cfg.profile.max_samples = 512;
  cfg.trainer.max_epochs = 4;
  const calibration c = calibrate_tokens(*m, cfg);
  const std::string out = test::temp_path("f32-f32.gguf");
  write_calibrated_model(*m, c, cfg, out);
  const auto f = gguf_file::open(out);
  const std::string notes = f->get_string("hearth.calibration.notes", "");
  CHECK(notes.find("converted") == std::string::npos);
  // and the FFN bytes the report divides by are the written file's
  const auto w = model::load(out);
  for (int32_t l = 0; l < w->hp().n_layer; ++l) {
    const layer &L = w->layers()[(size_t)l];
    CHECK(output_ffn_bytes(*m, cfg, l) == L.gate.bytes() + L.up.bytes() + L.down_t.bytes());
  }
  cfg.weight_type = dtype::q8_0;  // a real conversion is reported, and the bytes follow the output type
  const std::string out_q8 = test::temp_path("f32-q8_0.gguf");
  write_calibrated_model(*m, c, cfg, out_q8);
  CHECK(gguf_file::open(out_q8)->get_string("hearth.calibration.notes", "").find("converted to Q8_0") != std::string::npos);
  const auto q = model::load(out_q8);
  const layer &Q = q->layers()[0];
  CHECK(output_ffn_bytes(*m, cfg, 0) == Q.gate.bytes() + Q.up.bytes() + Q.down_t.bytes());
}

// Regression: hearth wrote I32 as ggml's 26, which PowerInfer's reader (whose ggml numbers I32 18) took for an
// unknown type and divided by its zero block size.
TEST_CASE(".gpuidx files use PowerInfer's type numbering, and both numberings read") {
  placement p;
  p.layers.resize(2);
  p.layers[0].gpu_neurons = {1, 2};
  p.layers[1].gpu_neurons = {0};
  const std::string path = test::temp_path("interop.gpuidx");
  write_gpuidx(path, p, 4, 1000);
  // the type field of each tensor info, read from the bytes: every one is 18
  const std::vector<uint8_t> raw = test::read_file(path);
  const auto f = gguf_file::open(path);
  size_t found = 0;
  for (const gguf_tensor &t : f->tensors()) {
    // name (8 + len), n_dims (4), dims (8 each), then the type
    const std::string key = t.name;
    const auto at = std::search(raw.begin(), raw.end(), key.begin(), key.end());
    REQUIRE(at != raw.end());
    const size_t type_at = (size_t)(at - raw.begin()) + key.size() + 4 + 8 * (size_t)t.n_dims;
    uint32_t type;
    std::memcpy(&type, raw.data() + type_at, 4);
    CHECK(type == 18u);
    CHECK(t.type == dtype::i32);
    ++found;
  }
  CHECK(found == 4);
  // hearth 0.1's files: the same layout with I32 as 26
  gguf_writer old;
  old.set_str("general.architecture", "generic.gpu_index");
  old.set_u64("split.vram_capacity", 1000);
  old.set_u32("generic.gpu_index.block_count", 2);
  const std::vector<std::vector<int32_t>> idx = {{0, 1, 1, 0}, {1, 0, 0, 0}}, buckets = {{1, 2}, {0}};
  for (int l = 0; l < 2; ++l) {
    const auto a = idx[(size_t)l], b = buckets[(size_t)l];
    old.add_tensor(fmt::format("blk.{}.gpu_idx", l), dtype::i32, {4}, [a](uint8_t *dst, size_t n) { std::memcpy(dst, a.data(), n); });
    old.add_tensor(fmt::format("blk.{}.gpu_bucket", l), dtype::i32, {(int64_t)b.size()},
                   [b](uint8_t *dst, size_t n) { std::memcpy(dst, b.data(), n); });
  }
  const std::string old_path = test::temp_path("old.gpuidx");
  old.write(old_path);  // GGUF magic: I32 as 26
  std::vector<uint8_t> bytes = test::read_file(old_path);
  std::memcpy(bytes.data(), "PWRI", 4);  // as hearth 0.1 wrote them: PWRI magic, type 26
  test::write_file(old_path, bytes);
  for (const std::string &q : {path, old_path}) {
    const placement r = read_gpuidx(q, 2, 4);
    CHECK(r.layers[0].gpu_neurons == std::vector<int32_t>{1, 2});
    CHECK(r.layers[1].gpu_neurons == std::vector<int32_t>{0});
  }
}

TEST_CASE("a measured profile planted by synth: its quantiles per layer, and the profiler measures it back") {
  // Quantile resampling: 4 measured values onto 8 neurons, descending, each value twice; clamped into (0, 1).
  const std::vector<std::vector<float>> two = {{0.5f, 0.0f, 1.0f, 0.25f}, {0.1f, 0.2f, 0.3f, 0.4f}};
  CHECK(profile_frequencies(two, 0, 2, 8) == std::vector<float>{0.98f, 0.98f, 0.5f, 0.5f, 0.25f, 0.25f, 1e-4f, 1e-4f});
  CHECK(profile_frequencies(two, 1, 2, 2) == std::vector<float>{0.3f, 0.1f});  // the midpoints of two halves
  CHECK(profile_frequencies(two, 3, 8, 2) == std::vector<float>{0.5f, 0.0001f});  // layer 3 of 8 -> profile 0

  // A skewed profile unlike the power law: a flat tenth of the neurons at 0.6, the rest at 0.05
  std::vector<std::vector<float>> measured(2, std::vector<float>(100, 0.05f));
  for (auto &l : measured) std::fill(l.begin(), l.begin() + 10, 0.6f);
  synth_config c = dense_planted();
  c.profile = measured;
  c.sparsity = 1 - (10 * 0.6f + 90 * 0.05f) / 100;
  const std::string path = test::temp_path("planted-profile.gguf");
  write_synthetic_model(path, c, builtin_corpus());
  CHECK(measured_profile(path).size() == 2);  // the planted record, as a profile
  const auto m = model::load(path);
  const calibration cal = calibrate_tokens(*m, test_config(2));
  for (int32_t l = 0; l < 2; ++l) {
    const std::vector<float> got = cal.profile.frequency(l);
    std::vector<float> sorted = got;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    double hot = 0, cold = 0;
    const size_t n_hot = sorted.size() / 10;
    for (size_t i = 0; i < sorted.size(); ++i) (i < n_hot ? hot : cold) += sorted[i];
    hot /= (double)n_hot, cold /= (double)(sorted.size() - n_hot);
    MESSAGE(fmt::format("layer {}: hottest tenth fires {:.3f} (planted 0.6), the rest {:.3f} (planted 0.05)", l, hot, cold));
    CHECK(hot == doctest::Approx(0.6).epsilon(0.1));
    CHECK(cold == doctest::Approx(0.05).epsilon(0.2));
  }
}
