// The C ABI's behaviour: NULL handles, params versioning, generation with streaming and stopping, the step
// API, cancellation from another thread, context overflow, reproducibility, logging and load progress.
#include <doctest/doctest.h>

#include <cstddef>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "hearth.h"
#include "../kernels/cpu/kernels.h"
#include "model.h"
#include "session.h"
#include "test_util.h"

using namespace hearth;

namespace {

struct loaded {
  hearth_model *m = nullptr;
  hearth_session *s = nullptr;
  explicit loaded(const synth_config &c, int n_ctx = 256, int threads = 2) {
    REQUIRE(hearth_model_load(test::synth_model(c).c_str(), nullptr, &m) == HEARTH_OK);
    hearth_session_params p;
    hearth_session_params_init(&p);
    p.n_ctx = n_ctx;
    p.n_threads = threads;
    p.n_batch = 16;
    REQUIRE(hearth_session_create(m, &p, &s) == HEARTH_OK);
  }
  ~loaded() {
    hearth_session_free(s);
    hearth_model_free(m);
  }
};

struct collected {
  std::vector<hearth_token> tokens;
  std::string text;
  int stop_after = -1;
};

int32_t collect(hearth_token t, const char *piece, size_t len, void *user) {
  collected &c = *(collected *)user;
  if (t >= 0) c.tokens.push_back(t);  // -1: the last call, with what was held of an unfinished character
  c.text.append(piece, len);
  return c.stop_after >= 0 && (int)c.tokens.size() >= c.stop_after;
}

collected generate(hearth_session *s, const char *prompt, int n, float temp, uint64_t seed, int stop_after = -1) {
  hearth_sampler_params sp;
  hearth_sampler_params_init(&sp);
  sp.temperature = temp;
  sp.seed = seed;
  REQUIRE(hearth_session_set_sampler(s, &sp) == HEARTH_OK);
  collected c;
  c.stop_after = stop_after;
  hearth_generate_params gp;
  hearth_generate_params_init(&gp);
  gp.n_predict = n;
  gp.stop_at_eog = 0;
  gp.on_token = collect;
  gp.user = &c;
  REQUIRE(hearth_generate(s, prompt, &gp) == HEARTH_OK);
  return c;
}

}  // namespace

TEST_CASE("versions and status strings") {
  CHECK(hearth_version() == HEARTH_VERSION_NUMBER);
  CHECK(hearth_abi_version() == HEARTH_ABI_VERSION);
  CHECK(std::string(hearth_version_string()) == "0.1.0");
  for (int s = 0; s <= 12; ++s) CHECK(hearth_status_string(s) != nullptr);
  CHECK(std::string(hearth_cpu_isa()).size() > 0);
  CHECK(hearth_sizeof("hearth_session_params") == sizeof(hearth_session_params));
  CHECK(hearth_sizeof("hearth_model_params") == sizeof(hearth_model_params));
  CHECK(hearth_sizeof("hearth_sampler_params") == sizeof(hearth_sampler_params));
  CHECK(hearth_sizeof("hearth_generate_params") == sizeof(hearth_generate_params));
  CHECK(hearth_sizeof("hearth_sparse_stats") == sizeof(hearth_sparse_stats));
  CHECK(hearth_sizeof("hearth_perf") == sizeof(hearth_perf));
  CHECK(hearth_sizeof("nonsense") == 0);
  CHECK(hearth_sizeof(nullptr) == 0);
}

TEST_CASE("NULL handles and bad arguments give statuses, never crashes") {
  hearth_model *m = nullptr;
  CHECK(hearth_model_load(nullptr, nullptr, &m) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_model_load("/nonexistent/model.gguf", nullptr, &m) == HEARTH_ERR_IO);
  CHECK(std::string(hearth_last_error()).find("/nonexistent/model.gguf") != std::string::npos);
  CHECK(hearth_model_load("/tmp", nullptr, &m) == HEARTH_ERR_IO);
  CHECK(hearth_model_load("x", nullptr, nullptr) == HEARTH_ERR_INVALID_ARGUMENT);
  hearth_model_free(nullptr);
  hearth_session_free(nullptr);
  hearth_session_cancel(nullptr);
  CHECK(hearth_model_n_vocab(nullptr) == 0);
  CHECK(hearth_model_bos(nullptr) == -1);
  hearth_session *s = nullptr;
  CHECK(hearth_session_create(nullptr, nullptr, &s) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_eval(nullptr, nullptr, 0, 0) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_logits(nullptr, -1) == nullptr);
  hearth_token t;
  CHECK(hearth_session_step(nullptr, &t) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_generate(nullptr, "x", nullptr) == HEARTH_ERR_INVALID_ARGUMENT);
  size_t n;
  CHECK(hearth_tokenize(nullptr, "x", 1, 0, nullptr, 0, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  // params without struct_size are refused, not misread
  hearth_model_params p;
  std::memset(&p, 0, sizeof p);
  CHECK(hearth_model_load("x", &p, &m) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_last_error()).find("struct_size") != std::string::npos);
}

TEST_CASE("an older, shorter params struct is read only as far as it goes") {
  const synth_config c = test::small_config(dtype::q8_0);
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(test::synth_model(c).c_str(), nullptr, &m) == HEARTH_OK);
  struct old_params {
    uint32_t struct_size;
    int32_t n_ctx;
  } old = {sizeof(old_params), 77};
  hearth_session *s = nullptr;
  REQUIRE(hearth_session_create(m, (const hearth_session_params *)&old, &s) == HEARTH_OK);
  CHECK(hearth_session_n_ctx(s) == 77);
  hearth_session_free(s);
  hearth_model_free(m);
}

TEST_CASE("eval, logits, bad tokens, context overflow") {
  loaded l(test::small_config(dtype::q8_0), 16);
  const hearth_token toks[4] = {1, 50, 60, 70};
  CHECK(hearth_session_logits(l.s, -1) == nullptr);
  REQUIRE(hearth_session_eval(l.s, toks, 4, 1) == HEARTH_OK);
  CHECK(hearth_session_n_past(l.s) == 4);
  CHECK(hearth_session_logits(l.s, 0) != nullptr);
  CHECK(hearth_session_logits(l.s, 3) == hearth_session_logits(l.s, -1));
  CHECK(hearth_session_logits(l.s, 4) == nullptr);
  // without all_logits only the last token's row is kept: token 3 is it, token 0 is not there
  REQUIRE(hearth_session_reset(l.s) == HEARTH_OK);
  REQUIRE(hearth_session_eval(l.s, toks, 4, 0) == HEARTH_OK);
  CHECK(hearth_session_logits(l.s, 3) != nullptr);
  CHECK(hearth_session_logits(l.s, 3) == hearth_session_logits(l.s, -1));
  CHECK(hearth_session_logits(l.s, 0) == nullptr);
  CHECK(hearth_session_logits(l.s, 4) == nullptr);
  CHECK(hearth_session_logits(l.s, -2) == nullptr);
  REQUIRE(hearth_session_reset(l.s) == HEARTH_OK);
  REQUIRE(hearth_session_eval(l.s, toks, 4, 1) == HEARTH_OK);
  const hearth_token bad[1] = {100000};
  CHECK(hearth_session_eval(l.s, bad, 1, 0) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_session_last_error(l.s)).find("outside the vocabulary") != std::string::npos);
  std::vector<hearth_token> many(13, 5);
  CHECK(hearth_session_eval(l.s, many.data(), 13, 0) == HEARTH_ERR_CONTEXT_FULL);
  CHECK(hearth_session_n_past(l.s) == 4);  // a refused call changes nothing
  CHECK(hearth_session_eval(l.s, many.data(), 12, 0) == HEARTH_OK);
  CHECK(hearth_session_n_past(l.s) == 16);
  hearth_generate_params gp;
  hearth_generate_params_init(&gp);
  CHECK(hearth_generate(l.s, "more", &gp) == HEARTH_ERR_CONTEXT_FULL);
  CHECK(hearth_session_reset(l.s) == HEARTH_OK);
  CHECK(hearth_session_n_past(l.s) == 0);
}

TEST_CASE("generation is reproducible with a seed, streams valid text, and stops when asked") {
  loaded l(test::small_config(dtype::q4_0));
  const collected a = generate(l.s, "The river ran past the mill", 40, 0.9f, 1234);
  hearth_session_reset(l.s);
  const collected b = generate(l.s, "The river ran past the mill", 40, 0.9f, 1234);
  CHECK(a.tokens.size() == 40);
  CHECK(a.tokens == b.tokens);
  CHECK(a.text == b.text);
  hearth_session_reset(l.s);
  const collected c = generate(l.s, "The river ran past the mill", 40, 0.9f, 99);
  CHECK(c.tokens != a.tokens);  // another seed, another sample path
  hearth_session_reset(l.s);
  const collected d = generate(l.s, "The river", 40, 0.9f, 1, 5);
  CHECK(d.tokens.size() == 5);
  hearth_perf perf;
  perf.struct_size = sizeof perf;
  REQUIRE(hearth_session_perf(l.s, &perf) == HEARTH_OK);
  CHECK(perf.n_generated == 5);
  CHECK(perf.n_prompt > 1);
}

TEST_CASE("without a seed each sampler gets a fresh one, reported, and setting it repeats the samples") {
  loaded l(test::small_config(dtype::q4_0));
  CHECK(hearth_session_seed(nullptr) == HEARTH_SEED_RANDOM);
  hearth_sampler_params init;
  hearth_sampler_params_init(&init);
  CHECK(init.seed == HEARTH_SEED_RANDOM);
  const uint64_t at_creation = hearth_session_seed(l.s);  // a new session's sampler has the defaults: drawn
  CHECK(at_creation != HEARTH_SEED_RANDOM);
  const collected a = generate(l.s, "The river ran past the mill", 40, 0.9f, HEARTH_SEED_RANDOM);
  const uint64_t drawn = hearth_session_seed(l.s);
  CHECK(drawn != HEARTH_SEED_RANDOM);
  CHECK(drawn != at_creation);  // 2^-64 to collide
  hearth_session_reset(l.s);
  const collected b = generate(l.s, "The river ran past the mill", 40, 0.9f, HEARTH_SEED_RANDOM);
  CHECK(hearth_session_seed(l.s) != drawn);
  CHECK(b.tokens != a.tokens);  // a fresh seed, another sample path (as two seeds differ in the case above)
  hearth_session_reset(l.s);
  const collected c = generate(l.s, "The river ran past the mill", 40, 0.9f, drawn);
  CHECK(hearth_session_seed(l.s) == drawn);
  CHECK(c.tokens == a.tokens);
}

TEST_CASE("greedy generation is identical with 1 and 2 threads") {
  loaded one(test::small_config(dtype::q4_0), 256, 1), two(test::small_config(dtype::q4_0), 256, 2);
  const collected a = generate(one.s, "Engineers measure before they believe", 48, 0.0f, 0);
  const collected b = generate(two.s, "Engineers measure before they believe", 48, 0.0f, 0);
  CHECK(a.tokens == b.tokens);
}

TEST_CASE("the step API decodes one bounded piece of work per call and matches hearth_generate") {
  loaded l(test::small_config(dtype::q8_0));
  const collected want = generate(l.s, "Questions help us learn", 12, 0.0f, 0);
  hearth_session_reset(l.s);
  const char *prompt = "Questions help us learn";
  REQUIRE(hearth_session_feed(l.s, prompt, std::strlen(prompt), HEARTH_TOKENIZE_ADD_BOS) == HEARTH_OK);
  std::vector<hearth_token> got;
  int prompt_steps = 0;
  while (got.size() < 12) {
    hearth_token t;
    REQUIRE(hearth_session_step(l.s, &t) == HEARTH_OK);
    if (t < 0) ++prompt_steps;
    else got.push_back(t);
  }
  CHECK(prompt_steps >= 1);
  CHECK(got == want.tokens);
}

TEST_CASE("cancel from another thread stops a long generation, and the session stays usable") {
  synth_config c = test::small_config(dtype::f32);
  c.n_embd = 256;
  c.n_ff = 640;
  c.n_layer = 4;
  c.n_ctx = 4096;
  loaded l(c, 4096);
  std::atomic<bool> started{false};
  struct ctx {
    std::atomic<bool> *started;
  } cx{&started};
  hearth_generate_params gp;
  hearth_generate_params_init(&gp);
  gp.n_predict = 4000;
  gp.stop_at_eog = 0;
  gp.user = &cx;
  gp.on_token = [](hearth_token, const char *, size_t, void *u) -> int32_t {
    ((ctx *)u)->started->store(true);
    return 0;
  };
  std::thread canceller([&] {
    while (!started.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    hearth_session_cancel(l.s);
  });
  const hearth_status st = hearth_generate(l.s, "cancel me", &gp);
  canceller.join();
  CHECK(st == HEARTH_ERR_CANCELLED);
  CHECK(hearth_session_n_past(l.s) < 4000);
  // The request was consumed: the next call runs.
  const hearth_token t[1] = {5};
  CHECK(hearth_session_eval(l.s, t, 1, 0) == HEARTH_OK);
}

TEST_CASE("logging goes to the host's callback, load progress can abort") {
  std::vector<std::string> logs;
  hearth_set_log_callback([](int32_t, const char *msg, void *u) { ((std::vector<std::string> *)u)->push_back(msg); }, &logs,
                          HEARTH_LOG_INFO);
  hearth_model *m = nullptr;
  const std::string path = test::synth_model(test::small_config(dtype::q8_0));
  REQUIRE(hearth_model_load(path.c_str(), nullptr, &m) == HEARTH_OK);
  hearth_model_free(m);
  // A file that asks for a RoPE scaling hearth does not know is refused, naming it (not run differently).
  const std::string scaled = test::temp_path("rope-scaled.gguf");
  {
    const auto f = gguf_file::open(path);
    gguf_writer w;
    for (const gguf_kv &kv : f->kvs())
      if (kv.key != "general.alignment") w.set_value(kv.key, kv.value);
    w.set_str("llama.rope.scaling.type", "dynamic-ntk");
    w.set_f32("llama.rope.scaling.factor", 4.0f);
    for (const gguf_tensor &t : f->tensors())
      w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims),
                   [&t](uint8_t *dst, size_t n) { std::memcpy(dst, t.data, n); });
    w.write(scaled);
  }
  CHECK(hearth_model_load(scaled.c_str(), nullptr, &m) == HEARTH_ERR_UNSUPPORTED);
  CHECK(m == nullptr);
  CHECK(std::string(hearth_last_error()).find("rope.scaling.type 'dynamic-ntk' is not supported") != std::string::npos);
  hearth_set_log_callback(nullptr, nullptr, 0);
  CHECK(!logs.empty());
  hearth_model_params p;
  hearth_model_params_init(&p);
  p.prefault = 1;
  int calls = 0;
  p.progress_user = &calls;
  p.progress = [](float, void *u) -> int32_t { return ++*(int *)u < 2; };
  CHECK(hearth_model_load(path.c_str(), &p, &m) == HEARTH_ERR_CANCELLED);
  CHECK(m == nullptr);
  CHECK(calls == 2);
}

TEST_CASE("one model shared by sessions on several threads") {
  const synth_config c = test::small_config(dtype::q4_0);
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(test::synth_model(c).c_str(), nullptr, &m) == HEARTH_OK);
  std::vector<std::vector<hearth_token>> out(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      hearth_session_params p;
      hearth_session_params_init(&p);
      p.n_ctx = 128;
      p.n_threads = 1;
      hearth_session *s = nullptr;
      if (hearth_session_create(m, &p, &s) != HEARTH_OK) return;
      hearth_sampler_params sp;  // the default seed is random: the same seed in each session
      hearth_sampler_params_init(&sp);
      sp.seed = 7;
      if (hearth_session_set_sampler(s, &sp) != HEARTH_OK) return;
      const hearth_token toks[3] = {1, 100, 200};
      for (int k = 0; k < 8; ++k) {
        hearth_session_eval(s, k == 0 ? toks : &out[(size_t)i].back(), k == 0 ? 3 : 1, 0);
        hearth_token t;
        hearth_session_sample(s, &t);
        out[(size_t)i].push_back(t);
      }
      hearth_session_free(s);
    });
  for (auto &t : threads) t.join();
  CHECK(out[0].size() == 8);
  CHECK(out[0] == out[1]);
  CHECK(out[1] == out[2]);
  hearth_model_free(m);
}

// ---- regressions: each of these failed before its fix -------------------------------------------------------

TEST_CASE("a session keeps its model alive: the model may be freed first") {
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(test::synth_model(test::small_config(dtype::q8_0)).c_str(), nullptr, &m) == HEARTH_OK);
  hearth_session *a = nullptr, *b = nullptr;
  REQUIRE(hearth_session_create(m, nullptr, &a) == HEARTH_OK);
  REQUIRE(hearth_session_create(m, nullptr, &b) == HEARTH_OK);
  hearth_model_free(m);  // before its sessions
  const hearth_token t[3] = {1, 20, 30};
  CHECK(hearth_session_eval(a, t, 3, 0) == HEARTH_OK);
  hearth_generate_params gp;
  hearth_generate_params_init(&gp);
  gp.n_predict = 4;
  CHECK(hearth_generate(a, "still here", &gp) == HEARTH_OK);
  CHECK(hearth_session_feed(b, "and here", 8, 0) == HEARTH_OK);
  hearth_session_free(a);
  hearth_token out;
  CHECK(hearth_session_step(b, &out) == HEARTH_OK);  // the model lives until its last session goes
  hearth_session_free(b);
}

TEST_CASE("a failed hearth_generate leaves nothing queued") {
  loaded l(test::small_config(dtype::q8_0), 16);
  hearth_generate_params gp;
  hearth_generate_params_init(&gp);
  const std::string long_prompt(200, 'x');  // many more tokens than the 16 of context
  CHECK(hearth_generate(l.s, long_prompt.c_str(), &gp) == HEARTH_ERR_CONTEXT_FULL);
  CHECK(hearth_session_n_past(l.s) == 0);
  // Nothing was left to evaluate: a step has nothing to sample from, rather than evaluating the stale prompt.
  hearth_token t;
  CHECK(hearth_session_step(l.s, &t) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_n_past(l.s) == 0);
  // Cancelled before it starts: the same.
  hearth_session_cancel(l.s);
  CHECK(hearth_generate(l.s, "short", &gp) == HEARTH_ERR_CANCELLED);
  CHECK(hearth_session_step(l.s, &t) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_n_past(l.s) == 0);
  gp.n_predict = 4;
  CHECK(hearth_generate(l.s, "short", &gp) == HEARTH_OK);  // and the session still works
}

TEST_CASE("non-finite sampler parameters are refused like an out-of-range top_p") {
  loaded l(test::small_config(dtype::q8_0));
  const float bad[] = {NAN, INFINITY, -INFINITY};
  for (float v : bad) {
    for (int field = 0; field < 4; ++field) {
      hearth_sampler_params sp;
      hearth_sampler_params_init(&sp);
      (field == 0 ? sp.temperature : field == 1 ? sp.min_p : field == 2 ? sp.repeat_penalty : sp.top_p) = v;
      CAPTURE(field);
      CAPTURE(v);
      CHECK(hearth_session_set_sampler(l.s, &sp) == HEARTH_ERR_INVALID_ARGUMENT);
    }
  }
  hearth_sampler_params sp;
  hearth_sampler_params_init(&sp);
  CHECK(hearth_session_set_sampler(l.s, &sp) == HEARTH_OK);
}

TEST_CASE("session creation refuses a context whose memory exceeds the limit, before allocating it") {
  const synth_config c = test::small_config(dtype::q8_0);
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(test::synth_model(c).c_str(), nullptr, &m) == HEARTH_OK);
  hearth_session_params p;
  hearth_session_params_init(&p);
  p.n_ctx = 1 << 20;  // 2 layers x 2 x 2^20 x 32 x 2 bytes (F16) = 256 MiB of KV cache
  p.max_memory_bytes = 64ull << 20;
  hearth_session *s = nullptr;
  CHECK(hearth_session_create(m, &p, &s) == HEARTH_ERR_OUT_OF_MEMORY);
  CHECK(s == nullptr);
  const std::string msg = hearth_last_error();
  CHECK(msg.find("MiB") != std::string::npos);
  CHECK(msg.find("KV cache") != std::string::npos);
  CHECK(msg.find("n_ctx 1048576") != std::string::npos);
  // Under the limit it is created, and its KV cache is not committed: resident memory grows by far less than the
  // 256 MiB the cache will take when the context fills.
  p.max_memory_bytes = 4ull << 30;
  const size_t before = test::resident_bytes();
  REQUIRE(hearth_session_create(m, &p, &s) == HEARTH_OK);
  const size_t after = test::resident_bytes();
  CHECK(after - std::min(after, before) < (64u << 20));
  const hearth_token t[2] = {1, 9};
  CHECK(hearth_session_eval(s, t, 2, 0) == HEARTH_OK);
  hearth_session_free(s);
  hearth_model_free(m);
}

TEST_CASE("session params: KV cache types by HEARTH_KV_*, an unknown value refused naming the field") {
  const synth_config c = test::small_config(dtype::q8_0);
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(test::synth_model(c).c_str(), nullptr, &m) == HEARTH_OK);
  hearth_session_params p;
  hearth_session_params_init(&p);
  CHECK(p.type_k == HEARTH_KV_DEFAULT);
  p.n_ctx = 32;
  const hearth_token t[3] = {1, 9, 40};
  std::vector<float> first;
  for (int32_t type : {HEARTH_KV_DEFAULT, HEARTH_KV_F16, HEARTH_KV_F32}) {
    p.type_k = p.type_v = type;
    hearth_session *s = nullptr;
    REQUIRE(hearth_session_create(m, &p, &s) == HEARTH_OK);
    REQUIRE(hearth_session_eval(s, t, 3, 0) == HEARTH_OK);
    const float *l = hearth_session_logits(s, -1);
    if (first.empty()) first.assign(l, l + c.n_vocab);
    else if (type == HEARTH_KV_F16) CHECK(std::equal(first.begin(), first.end(), l));  // the default is F16
    hearth_session_free(s);
  }
  hearth_session *s = nullptr;
  p.type_k = HEARTH_KV_F16;
  p.type_v = 7;
  CHECK(hearth_session_create(m, &p, &s) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(s == nullptr);
  CHECK(std::string(hearth_last_error()).find("type_v") != std::string::npos);
  p.type_v = HEARTH_KV_Q8_0;  // heads of 16: Q8_0 blocks would straddle them
  CHECK(hearth_session_create(m, &p, &s) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_last_error()).find("multiple of 32") != std::string::npos);
  hearth_model_free(m);
}

TEST_CASE("with stop_at_eog 0 an end-of-generation token is evaluated before the next one is sampled") {
  // A model whose end-of-sequence token is what greedy decoding picks first after the prompt.
  const std::string base = test::synth_model(test::small_config(dtype::f32));
  const char *prompt = "The river ran";
  int32_t first = -1;
  {
    loaded l0(test::small_config(dtype::f32));
    const collected g = generate(l0.s, prompt, 1, 0.0f, 0);
    REQUIRE(g.tokens.size() == 1);
    first = g.tokens[0];
  }
  const std::string path = test::rewrite_model(base, {{"tokenizer.ggml.eos_token_id", (uint32_t)first}});
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(path.c_str(), nullptr, &m) == HEARTH_OK);
  REQUIRE(hearth_token_is_eog(m, first));
  hearth_session_params p;
  hearth_session_params_init(&p);
  p.n_ctx = 64;
  hearth_session *s = nullptr;
  REQUIRE(hearth_session_create(m, &p, &s) == HEARTH_OK);
  hearth_sampler_params sp;
  hearth_sampler_params_init(&sp);
  sp.temperature = 0;
  sp.repeat_penalty = 1;
  REQUIRE(hearth_session_set_sampler(s, &sp) == HEARTH_OK);
  collected c;
  hearth_generate_params gp;
  hearth_generate_params_init(&gp);
  gp.n_predict = 3;
  gp.stop_at_eog = 0;
  gp.on_token = collect;
  gp.user = &c;
  REQUIRE(hearth_generate(s, prompt, &gp) == HEARTH_OK);
  MESSAGE(fmt::format("first {} generated {}", first, fmt::join(c.tokens, " ")));
  REQUIRE(c.tokens.size() == 3);
  CHECK(c.tokens[0] == first);
  // The reference: the prompt and the EOG token evaluated, then the argmax.
  hearth_session_reset(s);
  hearth_token toks[64];
  size_t n = 0;
  REQUIRE(hearth_tokenize(m, prompt, std::strlen(prompt), HEARTH_TOKENIZE_ADD_BOS, toks, 63, &n) == HEARTH_OK);
  toks[n++] = first;
  REQUIRE(hearth_session_eval(s, toks, (int32_t)n, 0) == HEARTH_OK);
  const float *lg = hearth_session_logits(s, -1);
  const int32_t nv = hearth_model_n_vocab(m);
  CHECK(c.tokens[1] == (int32_t)(std::max_element(lg, lg + nv) - lg));
  // With stop_at_eog the EOG token ends generation, and is evaluated before what comes next.
  hearth_session_reset(s);
  collected d;
  gp.stop_at_eog = 1;
  gp.user = &d;
  REQUIRE(hearth_generate(s, prompt, &gp) == HEARTH_OK);
  CHECK(d.tokens.empty());
  CHECK(hearth_session_n_past(s) == (int32_t)n - 1);
  REQUIRE(hearth_session_feed(s, "x", 1, 0) == HEARTH_OK);
  hearth_token t;
  REQUIRE(hearth_session_step(s, &t) == HEARTH_OK);
  CHECK(hearth_session_n_past(s) > (int32_t)n);  // the EOG token and the fed text
  hearth_session_free(s);
  hearth_model_free(m);
}

TEST_CASE("bytes of an unfinished character at the end of generation come out as U+FFFD") {
  loaded l(test::small_config(dtype::q8_0));
  // Sample at a high temperature over the whole vocabulary until the one generated token is a lone UTF-8 lead
  // byte (the synthetic vocabulary has the 256 byte tokens): its text can only be completed by later tokens.
  bool found = false;
  for (uint64_t seed = 1; seed < 2000 && !found; ++seed) {
    hearth_sampler_params sp;
    hearth_sampler_params_init(&sp);
    sp.temperature = 1000.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.seed = seed;
    REQUIRE(hearth_session_set_sampler(l.s, &sp) == HEARTH_OK);
    hearth_session_reset(l.s);
    struct call {
      hearth_token t;
      std::string text;
    };
    std::vector<call> calls;
    hearth_generate_params gp;
    hearth_generate_params_init(&gp);
    gp.n_predict = 1;
    gp.user = &calls;
    gp.on_token = [](hearth_token t, const char *piece, size_t len, void *u) -> int32_t {
      ((std::vector<call> *)u)->push_back({t, std::string(piece, len)});
      return 0;
    };
    REQUIRE(hearth_generate(l.s, "x", &gp) == HEARTH_OK);
    REQUIRE(!calls.empty());
    char piece[16];
    size_t n = 0;
    REQUIRE(hearth_token_to_piece(l.m, calls[0].t, 0, piece, sizeof piece, &n) == HEARTH_OK);
    if (n != 1 || (uint8_t)piece[0] < 0xc2 || (uint8_t)piece[0] > 0xf4) continue;
    found = true;
    CHECK(calls[0].text.empty());  // held back: the character is not complete
    REQUIRE(calls.size() == 2);
    CHECK(calls[1].t == -1);
    CHECK(calls[1].text == "\xef\xbf\xbd");
  }
  CHECK(found);
}

TEST_CASE("a failed multi-chunk eval leaves the session as it was") {
  // An observer cancels the session while the second of three chunks runs: chunk 1 was evaluated, chunk 2 fails.
  struct canceller final : ffn_observer {
    session *s = nullptr;
    int calls = 0, at = 0;
    void on_ffn(int32_t, const float *, const float *, int64_t) override {
      if (++calls == at) s->request_cancel();
    }
  } obs;
  const synth_config c = test::small_config(dtype::q8_0);
  const auto m = model::load(test::synth_model(c));
  session_config sc;
  sc.n_ctx = 64;
  sc.n_batch = 4;
  sc.sparse_mode = HEARTH_SPARSE_DENSE;
  sc.observer = &obs;
  session s(*m, sc);
  obs.s = &s;
  const std::vector<int32_t> first = {1, 5, 6};
  s.eval(first.data(), 3, false);
  REQUIRE(s.n_past() == 3);
  obs.at = obs.calls + c.n_layer + 1;  // the first layer of the second chunk
  std::vector<int32_t> toks = {7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  bool cancelled = false;
  try {
    s.eval(toks.data(), (int32_t)toks.size(), true);
  } catch (const error &e) {
    cancelled = e.status() == HEARTH_ERR_CANCELLED;
  }
  CHECK(cancelled);
  CHECK(s.n_past() == 3);            // not 7: the first chunk is forgotten too
  CHECK(s.logits(-1) == nullptr);    // no logits of a failed call
  s.eval(toks.data(), (int32_t)toks.size(), true);  // and the same tokens evaluate again from there
  CHECK(s.n_past() == 13);
}

TEST_CASE("C API: no_repack keeps the file layout and a caller built before the field gets the repacking default") {
  const std::string path = test::synth_model(test::small_config(dtype::q4_0));
  const uint64_t want = model::load(path)->repacked_bytes();  // what the library repacks by default here
  CHECK((want > 0) == (cpu::kernels().of(dtype::q4_0).gemv_groups != nullptr));
  for (int variant = 0; variant < 3; ++variant) {
    hearth_model_params p;
    hearth_model_params_init(&p);
    if (variant == 1) p.no_repack = 1;
    if (variant == 2) p.struct_size = offsetof(hearth_model_params, no_repack), p.no_repack = 1;  // not read
    hearth_model *m = nullptr;
    REQUIRE(hearth_model_load(path.c_str(), &p, &m) == HEARTH_OK);
    CAPTURE(variant);
    CHECK(hearth_model_repacked_bytes(m) == (variant == 1 ? 0 : want));
    hearth_model_free(m);
  }
  CHECK(hearth_model_repacked_bytes(nullptr) == 0);
}
