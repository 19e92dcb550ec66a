// Token sampling: repetition penalty, then greedy, or temperature with top-k, top-p and min-p filters and a
// seeded generator whose draws do not depend on the platform's <random> distributions.
#pragma once
#include <cstdint>
#include <deque>
#include <vector>

namespace hearth {

// The seed that asks for a fresh one from the system's entropy each time the sampler is configured (as
// llama.cpp's LLAMA_DEFAULT_SEED): two runs that do not set a seed sample differently, and seed() says which
// seed was drawn so a run can be repeated.
inline constexpr uint64_t k_seed_random = UINT64_MAX;

struct sampler_config {
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.1f;
  int32_t repeat_last_n = 64;
  uint64_t seed = k_seed_random;
};

class sampler {
 public:
  void configure(const sampler_config &cfg);  // also re-seeds; throws for non-finite or out-of-range values
  const sampler_config &config() const { return cfg_; }
  uint64_t seed() const { return seed_; }  // the seed in effect: cfg.seed, or the one drawn for k_seed_random
  // NaN logits are never chosen; throws if no logit is finite.
  int32_t sample(const float *logits, int32_t n_vocab);
  void accept(int32_t token);  // remember for the repetition penalty
  void clear_history() { history_.clear(); }
  // What a saved session state holds of the sampler: the generator's position and the penalty's history (the
  // settings are the caller's, not state).
  struct state {
    uint64_t seed = 0;
    uint64_t s[4] = {};
    std::vector<int32_t> history;
  };
  state save() const { return {seed_, {s_[0], s_[1], s_[2], s_[3]}, {history_.begin(), history_.end()}}; }
  void restore(const state &st) {
    seed_ = st.seed;
    for (int i = 0; i < 4; ++i) s_[i] = st.s[i];
    history_.assign(st.history.begin(), st.history.end());
  }

 private:
  double uniform();  // [0, 1) from xoshiro256**
  sampler_config cfg_;
  uint64_t seed_ = 0;
  uint64_t s_[4] = {1, 2, 3, 4};
  std::deque<int32_t> history_;
  std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace hearth
