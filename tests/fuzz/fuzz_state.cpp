// libFuzzer target: any bytes as a saved session state (hearth_session_state_load) for one tiny model. Every
// outcome must be a status, and a state that loads must leave a working session (it evaluates, samples and saves
// again). The mutated bytes get a valid checksum when their first byte is even, so the fuzzer reaches the parser
// behind the checksum instead of stopping at it. The model is HEARTH_FUZZ_STATE_MODEL; at start-up the target writes
// valid states of it into HEARTH_FUZZ_STATE_SEEDS (tests/fuzz/run sets both).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hearth.h"
#include "session_state.h"

namespace {

hearth_model *g_model = nullptr;
hearth_session *g_session = nullptr;

hearth_session *make_session() {
  hearth_session_params sp;
  hearth_session_params_init(&sp);
  sp.n_ctx = 32;
  sp.n_batch = 8;
  sp.n_threads = 1;
  hearth_session *s = nullptr;
  return hearth_session_create(g_model, &sp, &s) == HEARTH_OK ? s : nullptr;
}

void write_seed(const std::string &dir, const char *name, hearth_session *s) {
  size_t n = 0;
  if (hearth_session_state_size(s, &n) != HEARTH_OK) return;
  std::vector<uint8_t> buf(n);
  if (hearth_session_state_save(s, buf.data(), n, &n) != HEARTH_OK) return;
  if (FILE *f = std::fopen((dir + "/" + name).c_str(), "wb")) {
    std::fwrite(buf.data(), 1, n, f);
    std::fclose(f);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  const char *path = std::getenv("HEARTH_FUZZ_STATE_MODEL");
  if (!path) {
    std::fprintf(stderr, "fuzz_state: set HEARTH_FUZZ_STATE_MODEL to a tiny model (tests/fuzz/run does)\n");
    std::exit(1);
  }
  hearth_model_params mp;
  hearth_model_params_init(&mp);
  mp.gpu_offload = HEARTH_GPU_NONE;
  if (hearth_model_load(path, &mp, &g_model) != HEARTH_OK || !(g_session = make_session())) {
    std::fprintf(stderr, "fuzz_state: cannot load %s: %s\n", path, hearth_last_error());
    std::exit(1);
  }
  if (const char *dir = std::getenv("HEARTH_FUZZ_STATE_SEEDS")) {
    write_seed(dir, "empty.hrst", g_session);
    const hearth_token toks[5] = {1, 10, 11, 12, 13};
    hearth_session_eval(g_session, toks, 5, 1);
    write_seed(dir, "five-all-logits.hrst", g_session);
    hearth_session_feed(g_session, "more text", 9, 0);
    hearth_token t;
    hearth_session_step(g_session, &t);
    hearth_session_feed(g_session, " queued", 7, 0);
    write_seed(dir, "queued.hrst", g_session);
    hearth_session_reset(g_session);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<uint8_t> state(data, data + size);
  if (size >= 16 && data[0] % 2 == 0) {  // as saved, with this content: a checksum that matches
    state[0] = 'H';
    const uint64_t sum = hearth::state_checksum(state.data(), size - 8);
    std::memcpy(state.data() + size - 8, &sum, 8);
  }
  if (hearth_session_state_load(g_session, state.data(), state.size()) == HEARTH_OK) {
    hearth_token t = 0;
    if (hearth_session_logits(g_session, -1)) hearth_session_sample(g_session, &t);
    hearth_session_step(g_session, &t);
    size_t n = 0;
    if (hearth_session_state_size(g_session, &n) == HEARTH_OK) {
      std::vector<uint8_t> again(n);
      if (hearth_session_state_save(g_session, again.data(), n, &n) != HEARTH_OK) __builtin_trap();
      if (hearth_session_state_load(g_session, again.data(), n) != HEARTH_OK) __builtin_trap();  // its own state
    }
  }
  hearth_session_reset(g_session);
  return 0;
}
