#include "profiler.h"

#include <algorithm>
#include <queue>

#include "error.h"
#include "session.h"
#include "splitmix.h"

namespace hearth {
namespace {

uint64_t mix(uint64_t x) { return splitmix64(x); }

// Bottom-k sampling: every token gets a key hash(seed, position); the max_samples smallest keys are kept. The
// choice depends only on the seed and the token positions, so it is the same for every layer, thread count and
// batch size, and needs no second pass over the corpus.
class sampler_observer final : public ffn_observer {
 public:
  sampler_observer(const model &m, activation_profile &p, int64_t cap, uint64_t seed)
      : d_(m.hp().n_embd), ff_(m.hp().n_ff), cap_(cap), seed_(seed), p_(p) {
    const size_t L = (size_t)m.hp().n_layer;
    p_.counts.assign(L, std::vector<uint64_t>((size_t)ff_, 0));
    p_.samples.resize(L);
    for (layer_samples &s : p_.samples) {
      s.words = (ff_ + 63) / 64;
      s.x.resize((size_t)(cap_ * d_));
      s.fired.resize((size_t)(cap_ * s.words));
    }
  }

  // Called before each batch: decides which slot each of its tokens takes (-1: not kept).
  void begin_batch(int64_t first, int64_t n) {
    slot_.assign((size_t)n, -1);
    for (int64_t t = 0; t < n; ++t) {
      const uint64_t key = mix(seed_ ^ mix((uint64_t)(first + t)));
      if ((int64_t)heap_.size() < cap_) {
        slot_[(size_t)t] = (int64_t)heap_.size();
        heap_.push({key, (int64_t)heap_.size()});
      } else if (key < heap_.top().first) {
        const int64_t s = heap_.top().second;
        heap_.pop();
        heap_.push({key, s});
        // a later token of this batch may evict an earlier one: the later write wins, as it should
        for (int64_t &o : slot_)
          if (o == s) o = -1;
        slot_[(size_t)t] = s;
      }
    }
    kept_ = (int64_t)heap_.size();
  }

  void on_ffn(int32_t layer, const float *x, const float *act, int64_t n) override {
    std::vector<uint64_t> &cnt = p_.counts[(size_t)layer];
    layer_samples &s = p_.samples[(size_t)layer];
    for (int64_t t = 0; t < n; ++t) {
      const float *a = act + t * ff_;
      for (int64_t i = 0; i < ff_; ++i) cnt[(size_t)i] += a[i] != 0.0f;
      const int64_t slot = slot_[(size_t)t];
      if (slot < 0) continue;
      std::copy(x + t * d_, x + (t + 1) * d_, s.x.begin() + slot * d_);
      uint64_t *bits = s.fired.data() + slot * s.words;
      std::fill(bits, bits + s.words, 0);
      for (int64_t i = 0; i < ff_; ++i)
        if (a[i] != 0.0f) bits[i / 64] |= 1ull << (i % 64);
    }
  }

  void finish() {
    for (layer_samples &s : p_.samples) {
      s.n = kept_;
      s.x.resize((size_t)(kept_ * d_));
      s.fired.resize((size_t)(kept_ * s.words));
    }
  }

 private:
  int64_t d_, ff_, cap_;
  uint64_t seed_;
  activation_profile &p_;
  std::priority_queue<std::pair<uint64_t, int64_t>> heap_;  // largest kept key on top
  std::vector<int64_t> slot_;
  int64_t kept_ = 0;
};

}  // namespace

std::vector<float> activation_profile::frequency(int32_t layer) const {
  const std::vector<uint64_t> &c = counts.at((size_t)layer);
  std::vector<float> f(c.size());
  for (size_t i = 0; i < c.size(); ++i) f[i] = tokens ? (float)((double)c[i] / (double)tokens) : 0.0f;
  return f;
}

activation_profile profile_activations(const model &m, const std::vector<int32_t> &tokens, const profile_config &cfg,
                                       const std::function<bool(int64_t, int64_t)> &progress) {
  if (m.vocab_only()) fail(HEARTH_ERR_INVALID_ARGUMENT, "the model was loaded vocabulary-only");
  if (!m.hp().block.ffn.relu_family())
    fail(HEARTH_ERR_UNSUPPORTED, std::string("calibration needs a ReLU-family FFN (ReGLU, dReLU or ReLU): a ") +
                                     m.hp().block.ffn.family() + " FFN never outputs exact zeros; run it with the CATS sparse mode instead");
  if (tokens.empty()) fail(HEARTH_ERR_INVALID_ARGUMENT, "the calibration text gave no tokens");
  if (cfg.max_samples < 1 || cfg.n_batch < 1 || cfg.n_ctx < 2)
    fail(HEARTH_ERR_INVALID_ARGUMENT, "max_samples, n_batch and n_ctx must be positive");
  activation_profile p;
  sampler_observer obs(m, p, cfg.max_samples, cfg.seed);
  session_config sc;
  sc.n_ctx = cfg.n_ctx;
  sc.n_batch = cfg.n_batch;
  sc.n_threads = cfg.n_threads;
  sc.sparse_mode = HEARTH_SPARSE_DENSE;
  sc.observer = &obs;
  session s(m, sc);
  const int64_t total = (int64_t)tokens.size();
  for (int64_t w0 = 0; w0 < total; w0 += cfg.n_ctx) {
    s.reset();
    const int64_t w1 = std::min(total, w0 + cfg.n_ctx);
    for (int64_t b = w0; b < w1; b += s.n_batch()) {
      const int64_t n = std::min<int64_t>(s.n_batch(), w1 - b);
      obs.begin_batch(b, n);
      s.eval(tokens.data() + b, (int32_t)n, false);
      p.tokens += n;
      if (progress && !progress(b + n, total)) fail(HEARTH_ERR_CANCELLED, "calibration was cancelled");
    }
  }
  obs.finish();
  return p;
}

}  // namespace hearth
