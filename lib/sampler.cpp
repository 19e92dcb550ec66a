#include "sampler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <cfloat>
#include <cmath>
#include <unordered_set>

#include "error.h"
#include "splitmix.h"

namespace hearth {
namespace {
uint64_t next_splitmix(uint64_t &x) {
  const uint64_t r = splitmix64(x);
  x += 0x9e3779b97f4a7c15ull;
  return r;
}
// A seed that differs from call to call and run to run: the OS's entropy (std::random_device) mixed with the
// clocks and a counter (some platforms' random_device is deterministic). Never k_seed_random itself.
uint64_t fresh_seed() {
  static std::atomic<uint64_t> counter{0};
  uint64_t x = 0;
  try {
    std::random_device rd;
    x = (uint64_t)rd() << 32 ^ rd();
  } catch (...) {  // no entropy source: the clock and the counter still differ per call
  }
  x ^= splitmix64((uint64_t)std::chrono::steady_clock::now().time_since_epoch().count() + counter.fetch_add(1));
  x ^= splitmix64((uint64_t)std::chrono::system_clock::now().time_since_epoch().count());
  return x == k_seed_random ? 0 : x;
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void sampler::configure(const sampler_config &cfg) {
  // Every float must be finite (NaN passes no comparison, and an infinite temperature or penalty means nothing).
  if (!std::isfinite(cfg.temperature) || !std::isfinite(cfg.top_p) || !std::isfinite(cfg.min_p) || !std::isfinite(cfg.repeat_penalty))
    fail(HEARTH_ERR_INVALID_ARGUMENT, "sampler parameters must be finite numbers");
  if (!(cfg.top_p > 0.0f) || cfg.min_p < 0.0f || cfg.min_p > 1.0f || !(cfg.repeat_penalty > 0.0f) || cfg.repeat_last_n < 0)
    fail(HEARTH_ERR_INVALID_ARGUMENT, "sampler parameters out of range (top_p in (0,1], min_p in [0,1], repeat_penalty > 0, repeat_last_n >= 0)");
  cfg_ = cfg;
  seed_ = cfg.seed == k_seed_random ? fresh_seed() : cfg.seed;
  uint64_t x = seed_;
  for (uint64_t &s : s_) s = next_splitmix(x);
  history_.clear();
}

double sampler::uniform() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return (double)(result >> 11) * 0x1.0p-53;
}

void sampler::accept(int32_t token) {
  if (cfg_.repeat_last_n <= 0) return;
  history_.push_back(token);
  while ((int32_t)history_.size() > cfg_.repeat_last_n) history_.pop_front();
}

int32_t sampler::sample(const float *logits, int32_t n_vocab) {
  // NaN would break the sort's ordering (it compares false both ways) and infinity the softmax: NaN counts as
  // -inf (never chosen), +inf as the largest finite value.
  cand_.resize((size_t)n_vocab);
  bool any = false;
  for (int32_t i = 0; i < n_vocab; ++i) {
    float l = logits[i];
    if (std::isnan(l)) l = -INFINITY;
    else if (l == INFINITY) l = FLT_MAX;
    any = any || l != -INFINITY;
    cand_[(size_t)i] = {l, i};
  }
  if (!any) fail(HEARTH_ERR_INTERNAL, "the model produced no finite logit (all NaN or -infinity)");
  if (cfg_.repeat_penalty != 1.0f && cfg_.repeat_penalty > 0.0f) {
    std::unordered_set<int32_t> seen(history_.begin(), history_.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= n_vocab) continue;
      float &l = cand_[(size_t)t].first;
      l = l > 0 ? l / cfg_.repeat_penalty : l * cfg_.repeat_penalty;
    }
  }
  // Descending by logit, ties by lower id: a total order, so results never depend on the sort's stability.
  auto better = [](const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (cfg_.temperature <= 0.0f) return std::min_element(cand_.begin(), cand_.end(), better)->second;

  size_t n = cand_.size();
  if (cfg_.top_k > 0 && (size_t)cfg_.top_k < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + cfg_.top_k, cand_.end(), better);
    n = (size_t)cfg_.top_k;
  } else {
    std::sort(cand_.begin(), cand_.end(), better);
  }
  std::vector<double> p(n);
  const double max = cand_[0].first;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(((double)cand_[i].first - max) / cfg_.temperature);
  for (double &v : p) v /= sum;
  if (cfg_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += p[i];
      if (cum >= cfg_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (cfg_.min_p > 0.0f) {
    size_t keep = 1;
    while (keep < n && p[keep] >= cfg_.min_p * p[0]) ++keep;
    n = keep;
  }
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += p[i];
  double u = uniform() * total;
  for (size_t i = 0; i < n; ++i) {
    u -= p[i];
    if (u < 0) return cand_[i].second;
  }
  return cand_[n - 1].second;
}

}  // namespace hearth
