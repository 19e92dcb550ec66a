// Sampling: greedy is argmax, filters keep the right candidates, seeded draws are reproducible, and temperature
// sampling follows the softmax distribution.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "error.h"
#include "sampler.h"

using namespace hearth;

namespace {
sampler make(float temp, int top_k, float top_p, float min_p, float penalty = 1.0f, uint64_t seed = 1) {
  sampler s;
  sampler_config c;
  c.temperature = temp;
  c.top_k = top_k;
  c.top_p = top_p;
  c.min_p = min_p;
  c.repeat_penalty = penalty;
  c.seed = seed;
  s.configure(c);
  return s;
}
}  // namespace

TEST_CASE("greedy picks the argmax, lowest id on ties") {
  const float l[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.0f};
  sampler s = make(0, 0, 1, 0);
  CHECK(s.sample(l, 5) == 1);
}

TEST_CASE("repetition penalty demotes seen tokens") {
  const float l[3] = {2.0f, 1.9f, -1.0f};
  sampler s = make(0, 0, 1, 0, 1.5f);
  s.accept(0);
  CHECK(s.sample(l, 3) == 1);  // 2.0 / 1.5 < 1.9
}

TEST_CASE("top-k 1 is greedy, top-p and min-p keep only the head") {
  const float l[4] = {1.0f, 4.0f, 3.9f, 0.0f};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    sampler k1 = make(1.0f, 1, 1, 0, 1, seed);
    CHECK(k1.sample(l, 4) == 1);
    sampler tp = make(1.0f, 0, 0.5f, 0, 1, seed);  // token 1 alone holds >= 50%
    CHECK(tp.sample(l, 4) == 1);
    sampler mp = make(1.0f, 0, 1, 0.5f, 1, seed);  // tokens within half the top probability: 1 and 2
    const int t = mp.sample(l, 4);
    CHECK((t == 1 || t == 2));
  }
}

TEST_CASE("seeded sampling is reproducible and follows the softmax") {
  const float l[4] = {0.0f, 1.0f, 2.0f, 0.5f};
  sampler a = make(1.0f, 0, 1, 0, 1, 42), b = make(1.0f, 0, 1, 0, 1, 42);
  std::map<int, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    const int x = a.sample(l, 4);
    REQUIRE(x == b.sample(l, 4));
    counts[x]++;
  }
  double z = 0;
  for (float v : l) z += std::exp((double)v);
  for (int t = 0; t < 4; ++t) {
    const double p = std::exp((double)l[t]) / z;
    const double sd = std::sqrt(p * (1 - p) / n);
    CHECK(std::fabs(counts[t] / (double)n - p) < 5 * sd);
  }
}

TEST_CASE("temperature sharpens the distribution") {
  const float l[2] = {0.0f, 1.0f};
  sampler hot = make(2.0f, 0, 1, 0), cold = make(0.25f, 0, 1, 0);
  int hot1 = 0, cold1 = 0;
  for (int i = 0; i < 4000; ++i) {
    hot1 += hot.sample(l, 2);
    cold1 += cold.sample(l, 2);
  }
  // p(1) = 1/(1+e^-0.5) = 0.62 at T=2; 1/(1+e^-4) = 0.98 at T=0.25
  CHECK(std::fabs(hot1 / 4000.0 - 0.6225) < 0.04);
  CHECK(std::fabs(cold1 / 4000.0 - 0.982) < 0.01);
}

// Regression: NaN compares false both ways, which broke the candidates' ordering (greedy returned a NaN's index).
TEST_CASE("NaN logits are never sampled, infinities are handled, no finite logit is an error") {
  const float l[6] = {NAN, 1.0f, 5.0f, NAN, 3.0f, -INFINITY};
  for (float temp : {0.0f, 0.8f}) {
    sampler s = make(temp, temp > 0 ? 3 : 0, 0.9f, 0.05f, 1.0f, 7);
    for (int i = 0; i < 50; ++i) {
      const int32_t t = s.sample(l, 6);
      CHECK((t == 1 || t == 2 || t == 4));
      if (temp == 0) CHECK(t == 2);
    }
  }
  const float inf[4] = {1.0f, INFINITY, 2.0f, INFINITY};
  CHECK(make(0, 0, 1, 0).sample(inf, 4) == 1);  // the first of the largest
  CHECK(make(0.8f, 0, 1, 0, 1.0f, 3).sample(inf, 4) % 2 == 1);
  const float none[3] = {NAN, -INFINITY, NAN};
  CHECK_THROWS_AS(make(0, 0, 1, 0).sample(none, 3), hearth::error);
}

TEST_CASE("the sampler refuses non-finite and out-of-range settings") {
  for (float v : {NAN, INFINITY}) {
    sampler_config c;
    c.temperature = v;
    sampler s;
    CHECK_THROWS_AS(s.configure(c), hearth::error);
    c = {};
    c.min_p = v;
    CHECK_THROWS_AS(s.configure(c), hearth::error);
    c = {};
    c.repeat_penalty = v;
    CHECK_THROWS_AS(s.configure(c), hearth::error);
  }
}
