// A session: the KV cache, the position, scratch buffers, the sampler and the queued input of one conversation.
// Used by one thread at a time; runs its parallel work in its own oneTBB task_arena.
#pragma once
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "memory.h"
#include "model.h"
#include "ops.h"
#include "sampler.h"

namespace hearth {

struct session_config {
  int32_t n_ctx = 0, n_batch = 256, n_threads = 0;
};

struct perf_counters {
  int32_t n_prompt = 0, n_generated = 0;
  double prompt_ms = 0, generate_ms = 0;
};

class session {
 public:
  session(const model &m, const session_config &cfg);

  const model &mdl() const { return model_; }
  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_batch() const { return n_batch_; }
  int32_t n_threads() const { return n_threads_; }
  int32_t n_past() const { return n_past_; }

  void reset();
  void request_cancel() { cancel_.store(true); }
  // Evaluates tokens after n_past (in n_batch chunks). Throws hearth::error.
  void eval(const int32_t *tokens, int32_t n, bool all_logits);
  const float *logits(int32_t i) const;  // i = -1: last token

  sampler &smp() { return sampler_; }
  int32_t sample();  // from the last logits, and remembers the token

  // Queued input for the step API and generation.
  void feed(const std::vector<int32_t> &tokens) { pending_.insert(pending_.end(), tokens.begin(), tokens.end()); }
  size_t pending() const { return pending_.size() - pending_pos_; }
  // One step (see hearth_session_step): returns -1 after evaluating queued input, else the sampled token.
  int32_t step();

  perf_counters &perf() { return perf_; }
  std::string last_error;

 private:
  void forward(const int32_t *tokens, int32_t n, int32_t pos0, bool all_logits, float *logits_out);
  void check_cancel();
  float *kcache(int32_t il) { return k_.get() + (size_t)il * n_ctx_ * kv_width_; }
  float *vcache(int32_t il) { return v_.get() + (size_t)il * n_ctx_ * kv_width_; }

  const model &model_;
  int32_t n_ctx_, n_batch_, n_threads_;
  int64_t kv_width_;
  tbb::task_arena arena_;
  std::atomic<bool> cancel_{false};
  aligned_buffer<float> k_, v_;  // [layer][position][kv width]
  int32_t n_past_ = 0;
  std::vector<float> logits_;
  int32_t n_logits_ = 0;
  bool has_logits_ = false;
  sampler sampler_;
  std::vector<int32_t> pending_;
  size_t pending_pos_ = 0;
  perf_counters perf_;
  // scratch
  std::vector<float> x_, xn_, q_, kk_, vv_, att_, gate_, up_, ffo_;
  q8_scratch qscratch_;
};

}  // namespace hearth
