#include "predictor_trainer.h"

#include <fmt/format.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>

#include "../kernels/cpu/kernels.h"
#include "error.h"
#include "ops.h"
#include "splitmix.h"

namespace hearth {
namespace {

struct rng64 {
  uint64_t s;
  uint64_t next() {
    const uint64_t r = splitmix64(s);
    s += 0x9e3779b97f4a7c15ull;
    return r;
  }
  float uniform() { return (float)(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
};

struct adam {
  std::vector<float> m, v;
  int64_t t = 0;
  explicit adam(size_t n) : m(n, 0.0f), v(n, 0.0f) {}
  void step(std::vector<float> &w, const std::vector<float> &g, float lr) {
    ++t;
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.0f / (1.0f - std::pow(b1, (float)t)), c2 = 1.0f / (1.0f - std::pow(b2, (float)t));
    for (size_t i = 0; i < w.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      w[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
    }
  }
};

// fc2 is held transposed (rank rows of n_ff) while training, so that every operation runs over long rows: the
// forward pass adds one n_ff row per active hidden unit, the backward pass mirrors it.
class net {
 public:
  net(int64_t d, int64_t ff, int32_t r, uint64_t seed) : d_(d), ff_(ff), r_(r), fc1((size_t)(r * d)), fc2t((size_t)(ff * r)) {
    rng64 g{seed};
    const float a1 = std::sqrt(3.0f / (float)d), a2 = std::sqrt(3.0f / (float)r);
    for (float &w : fc1) w = a1 * (2 * g.uniform() - 1);
    for (float &w : fc2t) w = a2 * (2 * g.uniform() - 1);
  }
  // logits (ff) and hidden (r) of one input
  void forward(const float *x, float *h, float *logits) const {
    const auto &K = cpu::kernels();
    std::fill(logits, logits + ff_, 0.0f);
    for (int64_t j = 0; j < r_; ++j) {
      K.of(dtype::f32).dot(d_, fc1.data() + j * d_, x, 0, nullptr, 1, &h[j]);
      h[j] = std::max(h[j], 0.0f);
      if (h[j] > 0.0f) K.axpy_f32(ff_, h[j], fc2t.data() + j * ff_, logits);
    }
  }
  std::vector<float> fc2() const {  // n_ff x rank, the file's layout
    std::vector<float> out(fc2t.size());
    for (int64_t j = 0; j < r_; ++j)
      for (int64_t i = 0; i < ff_; ++i) out[(size_t)(i * r_ + j)] = fc2t[(size_t)(j * ff_ + i)];
    return out;
  }
  int64_t d_, ff_;
  int32_t r_;
  std::vector<float> fc1, fc2t;
};

struct eval_result {
  double recall = 0, precision = 0;
};

// Recall and precision of firing at threshold t over sample rows [r0, r1).
eval_result evaluate(const net &nt, const layer_samples &s, int64_t r0, int64_t r1, float t) {
  std::vector<float> h((size_t)nt.r_), lg((size_t)nt.ff_);
  uint64_t tp = 0, pos = 0, pred = 0;
  for (int64_t row = r0; row < r1; ++row) {
    nt.forward(s.x.data() + row * nt.d_, h.data(), lg.data());
    for (int64_t i = 0; i < nt.ff_; ++i) {
      const bool y = s.fired_at(row, i), p = lg[(size_t)i] >= t;
      pos += y;
      pred += p;
      tp += y && p;
    }
  }
  return {pos ? (double)tp / (double)pos : 1.0, pred ? (double)tp / (double)pred : 1.0};
}

// The highest threshold whose recall over sample rows [r0, r1) is at least `recall`, and the precision there.
float pick_threshold(const net &nt, const layer_samples &s, int64_t r0, int64_t r1, double recall) {
  std::vector<float> h((size_t)nt.r_), lg((size_t)nt.ff_), pos_logits;
  for (int64_t row = r0; row < r1; ++row) {
    nt.forward(s.x.data() + row * nt.d_, h.data(), lg.data());
    for (int64_t i = 0; i < nt.ff_; ++i)
      if (s.fired_at(row, i)) pos_logits.push_back(lg[(size_t)i]);
  }
  if (pos_logits.empty()) return 0.0f;
  const size_t k = (size_t)std::floor((1.0 - recall) * (double)pos_logits.size());
  std::nth_element(pos_logits.begin(), pos_logits.begin() + (long)k, pos_logits.end());
  return std::min(0.0f, pos_logits[k]);  // never above PowerInfer's default of 0
}

// The train / validation / test split of n samples (70 / 15 / 15).
struct split {
  int64_t v0, v1, t0;
};
split split_rows(int64_t n, double holdout) {
  const int64_t n_test = std::max<int64_t>(1, (int64_t)std::llround((double)n * holdout));
  const int64_t n_val = n_test, n_train = std::max<int64_t>(1, n - n_val - n_test);
  const int64_t v1 = std::min(n, n_train + n_val);
  return {n_train, v1, v1};
}

// The threshold with `recall` of the firing samples' logits at or above it (never above PowerInfer's default 0).
float threshold_for(std::vector<float> pos_logits, double recall) {
  if (pos_logits.empty()) return 0.0f;
  const size_t k = (size_t)std::floor((1.0 - recall) * (double)pos_logits.size());
  std::nth_element(pos_logits.begin(), pos_logits.begin() + (long)k, pos_logits.end());
  return std::min(0.0f, pos_logits[k]);
}

// The trained predictor as it will be stored (quantized to its type) and run (the engine's matmul, activations
// quantized as the dot product wants): final threshold from validation rows, recall and precision on test rows.
void evaluate_stored(const layer_samples &s, int64_t d, int64_t ff, const trainer_config &cfg, trained_predictor &p) {
  const split sp = split_rows(s.n, cfg.holdout);
  const dtype t = cfg.predictor_type;
  const int64_t r = p.rank;
  std::vector<uint8_t> b1(row_bytes(t, d) * (size_t)r), b2(row_bytes(t, r) * (size_t)ff);
  for (int64_t j = 0; j < r; ++j) quantize_row(t, p.fc1.data() + j * d, b1.data() + j * row_bytes(t, d), d);
  for (int64_t i = 0; i < ff; ++i) quantize_row(t, p.fc2.data() + i * r, b2.data() + i * row_bytes(t, r), r);
  matrix fc1, fc2;
  fc1.type = fc2.type = t;
  fc1.rows = r, fc1.cols = d, fc1.data = b1.data(), fc1.row_size = row_bytes(t, d);
  fc2.rows = ff, fc2.cols = r, fc2.data = b2.data(), fc2.row_size = row_bytes(t, r);
  q8_scratch qs;
  auto logits_of = [&](int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0;
    std::vector<float> h((size_t)(n * r)), lg((size_t)(n * ff));
    if (n <= 0) return lg;
    matmul(fc1, s.x.data() + r0 * d, n, h.data(), qs);
    for (float &v : h) v = std::max(v, 0.0f);
    matmul(fc2, h.data(), n, lg.data(), qs);
    return lg;
  };
  const bool has_val = sp.v1 > sp.v0;
  const int64_t c0 = has_val ? sp.v0 : 0, c1 = has_val ? sp.v1 : sp.v0;  // rows that choose the threshold
  const std::vector<float> val = logits_of(c0, c1);
  std::vector<float> pos;
  for (int64_t row = c0; row < c1; ++row)
    for (int64_t i = 0; i < ff; ++i)
      if (s.fired_at(row, i)) pos.push_back(val[(size_t)((row - c0) * ff + i)]);
  const double aim = cfg.target_recall + 0.3 * (1.0 - cfg.target_recall);  // as fit() aims
  p.threshold = threshold_for(pos, aim);
  // an ascending sample of the validation logits, for the one threshold PowerInfer reads
  const size_t stride = std::max<size_t>(1, val.size() / 65536);
  p.val_logits.clear();
  for (size_t k = 0; k < val.size(); k += stride) p.val_logits.push_back(val[k]);
  std::sort(p.val_logits.begin(), p.val_logits.end());
  p.val_decisions = val.size();
  // recall and precision on the test rows (the validation rows when there are none)
  const int64_t e0 = sp.t0 < s.n ? sp.t0 : c0, e1 = sp.t0 < s.n ? s.n : c1;
  const std::vector<float> test = logits_of(e0, e1);
  uint64_t tp = 0, n_pos = 0, n_pred = 0;
  for (int64_t row = e0; row < e1; ++row)
    for (int64_t i = 0; i < ff; ++i) {
      const bool y = s.fired_at(row, i), pr = test[(size_t)((row - e0) * ff + i)] >= p.threshold;
      n_pos += y, n_pred += pr, tp += y && pr;
    }
  p.recall = n_pos ? (double)tp / (double)n_pos : 1.0;
  p.precision = n_pred ? (double)tp / (double)n_pred : 1.0;
}

struct fit_result {
  net nt;
  float threshold;
  eval_result val, test;
  int32_t epochs;
};

// Samples are split train / validation / test (70 / 15 / 15; they are in hash order, so the split is random).
// The threshold and the epoch to keep are chosen on validation rows; recall and precision are reported on test
// rows, which neither training nor selection saw.
fit_result fit(const layer_samples &s, int64_t d, int64_t ff, int32_t r, const trainer_config &cfg, uint64_t seed,
               double pos_weight) {
  const split sp = split_rows(s.n, cfg.holdout);
  const int64_t n_train = sp.v0, v0 = sp.v0, v1 = sp.v1;
  net nt(d, ff, r, seed);
  adam o1(nt.fc1.size()), o2(nt.fc2t.size());
  std::vector<float> g1(nt.fc1.size()), g2(nt.fc2t.size()), h((size_t)r), lg((size_t)ff), gl((size_t)ff);
  std::vector<int64_t> order((size_t)n_train);
  for (int64_t i = 0; i < n_train; ++i) order[(size_t)i] = i;
  rng64 g{seed ^ 0xabcdefull};
  const auto &K = cpu::kernels();
  // the validation threshold aims a little above the target, so the untouched test rows still reach it
  const double aim = cfg.target_recall + 0.3 * (1.0 - cfg.target_recall);
  fit_result best{nt, 0.0f, {}, {}, 0};
  auto score = [&](const eval_result &e) { return e.recall >= cfg.target_recall ? 1.0 + e.precision : e.recall; };
  int32_t since_best = 0;
  for (int32_t epoch = 1; epoch <= cfg.max_epochs; ++epoch) {
    for (int64_t i = n_train - 1; i > 0; --i) std::swap(order[(size_t)i], order[(size_t)(g.next() % (uint64_t)(i + 1))]);
    // cosine decay of the learning rate over the epochs
    const float lr = cfg.learning_rate * 0.5f * (1.0f + std::cos(3.14159265f * (float)(epoch - 1) / (float)cfg.max_epochs));
    for (int64_t b0 = 0; b0 < n_train; b0 += cfg.batch) {
      const int64_t b1 = std::min(n_train, b0 + cfg.batch);
      const float inv = 1.0f / (float)(b1 - b0);
      std::fill(g1.begin(), g1.end(), 0.0f);
      std::fill(g2.begin(), g2.end(), 0.0f);
      for (int64_t k = b0; k < b1; ++k) {
        const int64_t row = order[(size_t)k];
        const float *x = s.x.data() + row * d;
        nt.forward(x, h.data(), lg.data());
        // weighted BCE: d/dlogit = w (sigmoid(logit) - y)
        for (int64_t i = 0; i < ff; ++i) {
          const bool y = s.fired_at(row, i);
          const float p = 1.0f / (1.0f + std::exp(-lg[(size_t)i]));
          gl[(size_t)i] = inv * (y ? (float)pos_weight * (p - 1.0f) : p);
        }
        // only active hidden units carry gradient (ReLU)
        for (int64_t j = 0; j < r; ++j) {
          if (h[(size_t)j] <= 0.0f) continue;
          K.axpy_f32(ff, h[(size_t)j], gl.data(), g2.data() + j * ff);
          float dh;
          K.of(dtype::f32).dot(ff, nt.fc2t.data() + j * ff, gl.data(), 0, nullptr, 1, &dh);
          if (dh != 0.0f) K.axpy_f32(d, dh, x, g1.data() + j * d);
        }
      }
      o1.step(nt.fc1, g1, lr);
      o2.step(nt.fc2t, g2, lr);
    }
    if (epoch % 2 == 0 || epoch == cfg.max_epochs) {
      const bool has_val = v1 > v0;
      const float t = has_val ? pick_threshold(nt, s, v0, v1, aim) : pick_threshold(nt, s, 0, n_train, aim);
      const eval_result e = has_val ? evaluate(nt, s, v0, v1, t) : evaluate(nt, s, 0, n_train, t);
      if (best.epochs == 0 || score(e) > score(best.val)) {
        best = {nt, t, e, {}, epoch};
        since_best = 0;
      } else if ((since_best += 2) >= 10) {
        break;  // no better validation score for ten epochs
      }
    }
  }
  return best;
}

}  // namespace

double activation_skew(const std::vector<uint64_t> &counts) {
  std::vector<uint64_t> c = counts;
  std::sort(c.begin(), c.end(), std::greater<>());
  const size_t hot = std::max<size_t>(1, c.size() / 5);
  double top = 0, all = 0;
  for (size_t i = 0; i < c.size(); ++i) (i < hot ? top : all) += (double)c[i];
  all += top;
  return all > 0 ? top / all : 0.0;
}

trained_predictor train_predictor(const layer_samples &s, const std::vector<uint64_t> &counts, int64_t tokens,
                                  int64_t d, int64_t ff, const trainer_config &cfg, uint64_t layer_seed) {
  if (s.n < 2) fail(HEARTH_ERR_INVALID_ARGUMENT, "too few calibration tokens to train a predictor");
  trained_predictor out;
  double fired = 0;
  for (uint64_t c : counts) fired += (double)c;
  const double density = tokens > 0 ? fired / ((double)tokens * (double)ff) : 0.0;
  out.sparsity = 1.0 - density;
  out.skew = activation_skew(counts);
  const double pos_weight = std::clamp((1.0 - density) / std::max(density, 1e-6), 1.0, 50.0);
  const int32_t step = std::max<int32_t>(1, cfg.rank_multiple);
  if (cfg.fixed_rank > 0 && cfg.fixed_rank % step)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("predictor rank {} is not a multiple of {}", cfg.fixed_rank, step));
  // the search range, in whole multiples
  const int32_t lo = (std::max<int32_t>(cfg.min_rank, 1) + step - 1) / step * step;
  const int32_t hi = std::max(lo, (cfg.max_rank > 0 ? cfg.max_rank : (int32_t)d) / step * step);
  auto round_rank = [&](double r) { return std::clamp((int32_t)std::ceil(r / step) * step, lo, hi); };
  // Baseline: a quarter of n_embd at 90% sparsity (ProSparse-7B's 1024 of 4096), scaling with the active share;
  // a skewed layer (hot 20% covering more than 80% of firings) needs less.
  int32_t r = cfg.fixed_rank > 0 ? cfg.fixed_rank
                                 : round_rank(0.25 * (double)d * std::clamp(density / 0.1, 0.25, 2.0) * std::clamp(1.6 - out.skew, 0.5, 1.4));
  std::vector<fit_result> tried;
  // selection uses validation rows only; the reported recall and precision are the test rows'
  auto passes = [&](const fit_result &f) { return f.val.recall >= cfg.target_recall && f.val.precision >= cfg.min_precision; };
  auto try_rank = [&](int32_t rank) {  // index of the new fit in `tried`
    tried.push_back(fit(s, d, ff, rank, cfg, layer_seed ^ (uint64_t)rank * 0x9e37ull, pos_weight));
    return tried.size() - 1;
  };
  size_t chosen = try_rank(r);
  if (cfg.fixed_rank <= 0) {
    if (passes(tried[chosen])) {  // shrink while it still passes
      for (int k = 0; k < 3 && r > lo; ++k) {
        const int32_t smaller = round_rank(r / 2.0);
        if (smaller >= r) break;
        const size_t f = try_rank(smaller);
        if (!passes(tried[f])) break;
        r = smaller;
        chosen = f;
      }
    } else {  // grow until it passes
      for (int k = 0; k < 3 && r < hi; ++k) {
        r = round_rank(r * 2.0);
        chosen = try_rank(r);
        if (passes(tried[chosen])) break;
      }
    }
  }
  const fit_result &best = tried[chosen];
  out.rank = r;
  out.fc1 = best.nt.fc1;
  out.fc2 = best.nt.fc2();
  out.epochs = best.epochs;
  evaluate_stored(s, d, ff, cfg, out);
  out.trials = (int32_t)tried.size();
  return out;
}

std::vector<trained_predictor> train_predictors(const activation_profile &p, int64_t d, int64_t ff, const trainer_config &cfg,
                                                const std::function<bool(int64_t, int64_t)> &progress) {
  const int64_t L = (int64_t)p.samples.size();
  std::vector<trained_predictor> out((size_t)L);
  std::atomic<int64_t> done{0};
  std::atomic<bool> cancelled{false};
  std::mutex mu;
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, L, 1), [&](const tbb::blocked_range<int64_t> &r) {
    for (int64_t l = r.begin(); l < r.end(); ++l) {
      if (cancelled) return;
      out[(size_t)l] = train_predictor(p.samples[(size_t)l], p.counts[(size_t)l], p.tokens, d, ff, cfg,
                                       cfg.seed ^ (0x1000003ull * (uint64_t)(l + 1)));
      const int64_t n = ++done;
      std::lock_guard<std::mutex> lock(mu);
      if (progress && !progress(n, L)) cancelled = true;
    }
  });
  if (cancelled) fail(HEARTH_ERR_CANCELLED, "calibration was cancelled");
  return out;
}

}  // namespace hearth
