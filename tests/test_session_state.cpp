// Rewinding a session's context (hearth_session_truncate) and saving and restoring its state
// (hearth_session_state_*), through the C ABI: the oracle is the same work done without them, in a fresh session.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstring>
#include <string>
#include <vector>

#include "dtype.h"
#include "hearth.h"
#include "test_util.h"

using namespace hearth;

namespace {

struct handles {
  hearth_model *m = nullptr;
  hearth_session *s = nullptr;
  handles() = default;
  handles(const handles &) = delete;
  ~handles() {
    hearth_session_free(s);
    hearth_model_free(m);
  }
};

hearth_session *new_session(hearth_model *m, int32_t kv_type, int32_t n_ctx = 128) {
  hearth_session_params p;
  hearth_session_params_init(&p);
  p.n_ctx = n_ctx;
  p.n_batch = 8;
  p.n_threads = 2;
  p.type_k = p.type_v = kv_type;
  hearth_session *s = nullptr;
  const hearth_status st = hearth_session_create(m, &p, &s);
  INFO(std::string(hearth_last_error()));
  REQUIRE(st == HEARTH_OK);
  return s;
}

void open(handles &h, const synth_config &c, int32_t kv_type, int32_t n_ctx = 128) {
  REQUIRE(hearth_model_load(test::synth_model(c).c_str(), nullptr, &h.m) == HEARTH_OK);
  h.s = new_session(h.m, kv_type, n_ctx);
}

void set_sampler(hearth_session *s, uint64_t seed) {
  hearth_sampler_params sp;
  hearth_sampler_params_init(&sp);
  sp.temperature = 1.0f;  // a wide distribution, so a wrong generator or context shows in the tokens
  sp.top_k = 0;
  sp.top_p = 1.0f;
  sp.min_p = 0.0f;
  sp.seed = seed;
  REQUIRE(hearth_session_set_sampler(s, &sp) == HEARTH_OK);
}

// n sampled tokens through the step API (queued input is evaluated first, by steps that return -1).
std::vector<hearth_token> steps(hearth_session *s, int n) {
  std::vector<hearth_token> out;
  while ((int)out.size() < n) {
    hearth_token t = -1;
    REQUIRE(hearth_session_step(s, &t) == HEARTH_OK);
    if (t >= 0) out.push_back(t);
  }
  return out;
}

std::vector<uint8_t> save(hearth_session *s) {
  size_t n = 0;
  REQUIRE(hearth_session_state_size(s, &n) == HEARTH_OK);
  std::vector<uint8_t> buf(n);
  size_t written = 0;
  REQUIRE(hearth_session_state_save(s, buf.data(), buf.size(), &written) == HEARTH_OK);
  CHECK(written == n);
  return buf;
}

std::vector<float> last_logits(const hearth_session *s, int32_t n_vocab) {
  const float *l = hearth_session_logits(s, -1);
  REQUIRE(l != nullptr);
  return {l, l + n_vocab};
}

// Heads of 32 values, so every cache type (Q8_0's blocks of 32) fits them.
synth_config config(dtype type) {
  synth_config c = test::small_config(type);
  c.n_head = 2;
  c.n_head_kv = 1;
  return c;
}

const int32_t k_kv_types[3] = {HEARTH_KV_F32, HEARTH_KV_F16, HEARTH_KV_Q8_0};
const char *kv_name(int32_t t) { return t == HEARTH_KV_F32 ? "F32" : t == HEARTH_KV_F16 ? "F16" : "Q8_0"; }

}  // namespace

TEST_CASE("truncate rewinds the context: the kept prefix continues as if the rest had never been evaluated") {
  handles h;
  open(h, test::small_config(dtype::q8_0), HEARTH_KV_F16);
  const int32_t n_vocab = hearth_model_n_vocab(h.m);
  const std::vector<hearth_token> a = {1, 40, 41, 42, 43, 44, 45, 46}, b = {90, 91, 92, 93, 94}, c = {60, 61, 62};
  REQUIRE(hearth_session_eval(h.s, a.data(), (int32_t)a.size(), 0) == HEARTH_OK);
  const std::vector<float> after_a = last_logits(h.s, n_vocab);
  REQUIRE(hearth_session_eval(h.s, b.data(), (int32_t)b.size(), 0) == HEARTH_OK);
  CHECK(hearth_session_truncate(h.s, 14) == HEARTH_ERR_INVALID_ARGUMENT);  // more than it holds
  CHECK(hearth_session_truncate(h.s, -1) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_truncate(nullptr, 0) == HEARTH_ERR_INVALID_ARGUMENT);
  REQUIRE(hearth_session_truncate(h.s, 13) == HEARTH_OK);  // all of it: nothing dropped, the logits stay
  CHECK(hearth_session_logits(h.s, -1) != nullptr);
  REQUIRE(hearth_session_truncate(h.s, (int32_t)a.size()) == HEARTH_OK);
  CHECK(hearth_session_n_past(h.s) == (int32_t)a.size());
  CHECK(hearth_session_logits(h.s, -1) == nullptr);  // they were b's last token's
  REQUIRE(hearth_session_eval(h.s, c.data(), (int32_t)c.size(), 0) == HEARTH_OK);
  const std::vector<float> rewound = last_logits(h.s, n_vocab);

  hearth_session *fresh = new_session(h.m, HEARTH_KV_F16);
  REQUIRE(hearth_session_eval(fresh, a.data(), (int32_t)a.size(), 0) == HEARTH_OK);
  CHECK(last_logits(fresh, n_vocab) == after_a);
  REQUIRE(hearth_session_eval(fresh, c.data(), (int32_t)c.size(), 0) == HEARTH_OK);
  CHECK(last_logits(fresh, n_vocab) == rewound);  // the same calls on the same context: bit for bit
  hearth_session_free(fresh);
}

TEST_CASE("a saved state restored into a new session continues identically, for every KV cache type") {
  for (int32_t kv : k_kv_types) {
    INFO(kv_name(kv));
    handles h;
    open(h, config(dtype::q4_0), kv);
    const int32_t n_vocab = hearth_model_n_vocab(h.m);
    set_sampler(h.s, 1234);
    const char prompt[] = "The river ran past the mill";
    REQUIRE(hearth_session_feed(h.s, prompt, sizeof prompt - 1, HEARTH_TOKENIZE_ADD_BOS) == HEARTH_OK);
    steps(h.s, 6);
    // a queued piece of text is state too: it is evaluated by the restored session's first step
    const char more[] = " and under the bridge";
    REQUIRE(hearth_session_feed(h.s, more, sizeof more - 1, 0) == HEARTH_OK);
    const int32_t n_past = hearth_session_n_past(h.s);
    const std::vector<float> logits = last_logits(h.s, n_vocab);
    const std::vector<uint8_t> state = save(h.s);
    const std::string path = test::temp_path(fmt::format("state_{}.hrst", kv_name(kv)));
    REQUIRE(hearth_session_state_save_file(h.s, path.c_str()) == HEARTH_OK);
    CHECK(test::read_file(path) == state);
    const std::vector<hearth_token> expect = steps(h.s, 12);

    // A new session with another seed: the restored generator, context and queue decide every token.
    for (const bool from_file : {false, true}) {
      CAPTURE(from_file);
      hearth_session *s2 = new_session(h.m, kv);
      set_sampler(s2, 99);
      REQUIRE((from_file ? hearth_session_state_load_file(s2, path.c_str())
                         : hearth_session_state_load(s2, state.data(), state.size())) == HEARTH_OK);
      CHECK(hearth_session_n_past(s2) == n_past);
      CHECK(last_logits(s2, n_vocab) == logits);
      CHECK(steps(s2, 12) == expect);
      hearth_session_free(s2);
    }
    // and the saving session itself, rewound to the state, repeats itself
    REQUIRE(hearth_session_state_load(h.s, state.data(), state.size()) == HEARTH_OK);
    CHECK(steps(h.s, 12) == expect);
  }
}

TEST_CASE("a state holds only the evaluated positions: its size grows by the KV rows of each token") {
  const synth_config c = config(dtype::q8_0);
  handles h;
  open(h, c, HEARTH_KV_Q8_0, 256);
  size_t empty = 0, ten = 0;
  REQUIRE(hearth_session_state_size(h.s, &empty) == HEARTH_OK);
  std::vector<hearth_token> toks(10, 7);
  REQUIRE(hearth_session_eval(h.s, toks.data(), 10, 0) == HEARTH_OK);
  REQUIRE(hearth_session_state_size(h.s, &ten) == HEARTH_OK);
  const int64_t kv_width = (int64_t)(c.head_dim ? c.head_dim : c.n_embd / c.n_head) * c.n_head_kv;
  const size_t per_token = (size_t)c.n_layer * 2 * row_bytes(dtype::q8_0, kv_width);
  const size_t logits = (size_t)hearth_model_n_vocab(h.m) * sizeof(float);  // one row kept after this eval
  CHECK(ten - empty == 10 * per_token + logits);
  CHECK(ten < (size_t)256 * per_token);  // not the whole n_ctx
}

TEST_CASE("a refused state leaves the session as it was, with a status and message naming the reason") {
  handles h;
  const synth_config c = config(dtype::q8_0);
  open(h, c, HEARTH_KV_F16, 64);
  const int32_t n_vocab = hearth_model_n_vocab(h.m);
  std::vector<hearth_token> toks = {1, 20, 21, 22, 23};
  REQUIRE(hearth_session_eval(h.s, toks.data(), 5, 0) == HEARTH_OK);
  const std::vector<uint8_t> good = save(h.s);

  // the target session holds other work, which every refusal must leave intact
  hearth_session *t = new_session(h.m, HEARTH_KV_F16, 64);
  const std::vector<hearth_token> other = {1, 70, 71};
  REQUIRE(hearth_session_eval(t, other.data(), 3, 0) == HEARTH_OK);
  const std::vector<float> before = last_logits(t, n_vocab);
  auto refused = [&](const std::vector<uint8_t> &bytes, hearth_status want, const char *words) {
    CHECK(hearth_session_state_load(t, bytes.data(), bytes.size()) == want);
    INFO(std::string(hearth_session_last_error(t)));
    CHECK(std::string(hearth_session_last_error(t)).find(words) != std::string::npos);
    CHECK(hearth_session_n_past(t) == 3);
    CHECK(last_logits(t, n_vocab) == before);
  };
  {
    std::vector<uint8_t> bad = good;
    bad[bad.size() / 2] ^= 0x10;
    refused(bad, HEARTH_ERR_BAD_FORMAT, "checksum");
  }
  refused(std::vector<uint8_t>(good.begin(), good.end() - 9), HEARTH_ERR_BAD_FORMAT, "says it is");
  refused(std::vector<uint8_t>(good.begin(), good.begin() + 6), HEARTH_ERR_BAD_FORMAT, "ends inside");
  {
    std::vector<uint8_t> bad = good;
    bad[0] = 'X';
    refused(bad, HEARTH_ERR_BAD_FORMAT, "HRST");
  }
  {
    std::vector<uint8_t> bad = good;
    bad[4] = 9;  // another version
    refused(bad, HEARTH_ERR_UNSUPPORTED, "version 9");
  }
  const uint8_t one = 0;
  CHECK(hearth_session_state_load(t, &one, 0) == HEARTH_ERR_BAD_FORMAT);  // an empty state
  CHECK(hearth_session_state_load(t, nullptr, 10) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_n_past(t) == 3);

  // another KV cache type, a shorter context, another model
  hearth_session *q8 = new_session(h.m, HEARTH_KV_Q8_0, 64);
  CHECK(hearth_session_state_load(q8, good.data(), good.size()) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_session_last_error(q8)).find("K F16 / V F16") != std::string::npos);
  hearth_session_free(q8);
  hearth_session *tiny = new_session(h.m, HEARTH_KV_F16, 4);
  CHECK(hearth_session_state_load(tiny, good.data(), good.size()) == HEARTH_ERR_CONTEXT_FULL);
  CHECK(hearth_session_n_past(tiny) == 0);
  hearth_session_free(tiny);
  synth_config c2 = c;
  c2.seed = 2;
  handles other_model;
  open(other_model, c2, HEARTH_KV_F16, 64);
  CHECK(hearth_session_state_load(other_model.s, good.data(), good.size()) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_session_last_error(other_model.s)).find("different model") != std::string::npos);

  // buffers and paths
  size_t need = 0, got = 0;
  REQUIRE(hearth_session_state_size(h.s, &need) == HEARTH_OK);
  std::vector<uint8_t> small(need - 1);
  CHECK(hearth_session_state_save(h.s, small.data(), small.size(), &got) == HEARTH_ERR_BUFFER_TOO_SMALL);
  CHECK(got == need);
  CHECK(hearth_session_state_save(h.s, nullptr, 0, &got) == HEARTH_ERR_BUFFER_TOO_SMALL);
  CHECK(hearth_session_state_size(h.s, nullptr) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_state_size(nullptr, &got) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_state_load_file(t, test::temp_path("no_such_state").c_str()) == HEARTH_ERR_IO);
  CHECK(hearth_session_state_save_file(h.s, (test::temp_path("no_such_dir") + "/x/state").c_str()) == HEARTH_ERR_IO);
  CHECK(hearth_session_state_save_file(h.s, nullptr) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_session_n_past(t) == 3);
  CHECK(last_logits(t, n_vocab) == before);
  hearth_session_free(t);
}
