// libFuzzer target: any bytes as a model file, through the C ABI as a host would use it: load, describe,
// tokenize, create a session, evaluate, sample, generate, detokenize. Every outcome must be a status (no crash,
// no sanitizer report, no exception crossing the ABI). Seeds: tiny models written by `hearth synth` (tests/fuzz/run).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "hearth.h"

namespace {

// The input as a file the loader can map: an anonymous memory file, named through /proc.
std::string as_file(const uint8_t *data, size_t size, int *fd) {
  *fd = memfd_create("hearth-fuzz-model", 0);
  if (*fd < 0) return {};
  size_t done = 0;
  while (done < size) {
    const ssize_t w = write(*fd, data + done, size - done);
    if (w <= 0) break;
    done += (size_t)w;
  }
  return "/proc/self/fd/" + std::to_string(*fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = -1;
  const std::string path = as_file(data, size, &fd);
  if (path.empty()) return 0;
  hearth_model_params mp;
  hearth_model_params_init(&mp);
  mp.gpu_offload = HEARTH_GPU_NONE;
  hearth_model *m = nullptr;
  if (hearth_model_load(path.c_str(), &mp, &m) == HEARTH_OK) {
    char buf[512];
    size_t n = 0;
    hearth_model_desc(m, buf, sizeof buf, &n);
    hearth_model_meta(m, "general.architecture", buf, sizeof buf, &n);
    const char text[] = "The hearth <s> is warm, \xc3\xa9t\xc3\xa9 \xf0\x9f\x94\xa5";
    hearth_token toks[64];
    size_t nt = 0;
    if (hearth_tokenize(m, text, sizeof text - 1, HEARTH_TOKENIZE_ADD_BOS | HEARTH_TOKENIZE_PARSE_SPECIAL, toks, 64, &nt) ==
        HEARTH_OK) {
      hearth_detokenize(m, toks, nt, HEARTH_DETOKENIZE_SPECIAL, buf, sizeof buf, &n);
      hearth_session_params sp;
      hearth_session_params_init(&sp);
      sp.n_ctx = 32;
      sp.n_batch = 8;
      sp.n_threads = 1;
      sp.max_memory_bytes = 256ull << 20;
      hearth_session *s = nullptr;
      if (hearth_session_create(m, &sp, &s) == HEARTH_OK) {
        if (hearth_session_eval(s, toks, (int32_t)(nt < 16 ? nt : 16), 1) == HEARTH_OK) {
          hearth_token t;
          hearth_session_sample(s, &t);
          hearth_generate_params gp;
          hearth_generate_params_init(&gp);
          gp.n_predict = 3;
          hearth_generate(s, "more", &gp);
        }
        hearth_session_free(s);
      }
    }
    hearth_model_free(m);
  }
  close(fd);
  return 0;
}
