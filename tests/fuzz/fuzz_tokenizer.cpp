// libFuzzer target: any bytes as text for the real LLaMA SentencePiece vocabulary (tests/data): tokenize with
// every flag combination, detokenize, and for valid UTF-8 without special parsing check the round trip.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "hearth.h"

namespace {

hearth_model *vocab() {
  static hearth_model *m = [] {
    hearth_model_params p;
    hearth_model_params_init(&p);
    p.vocab_only = 1;
    hearth_model *out = nullptr;
    if (hearth_model_load(HEARTH_FUZZ_VOCAB, &p, &out) != HEARTH_OK) {
      std::fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s\n", HEARTH_FUZZ_VOCAB, hearth_last_error());
      std::abort();  // the harness itself is broken, not the library
    }
    return out;
  }();
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hearth_model *m = vocab();
  const char *text = (const char *)data;
  for (int32_t flags = 0; flags < 4; ++flags) {
    size_t n = 0;
    const hearth_status st = hearth_tokenize(m, text, size, flags, nullptr, 0, &n);
    if (st != HEARTH_ERR_BUFFER_TOO_SMALL && st != HEARTH_OK) continue;  // invalid UTF-8 is refused: fine
    std::vector<hearth_token> toks(n + 1);
    if (hearth_tokenize(m, text, size, flags, toks.data(), toks.size(), &n) != HEARTH_OK) std::abort();
    size_t len = 0;
    hearth_detokenize(m, toks.data(), n, 0, nullptr, 0, &len);
    std::string out(len + 1, '\0');
    if (hearth_detokenize(m, toks.data(), n, flags & 1 ? HEARTH_DETOKENIZE_SPECIAL : 0, out.data(), out.size(), &len) != HEARTH_OK &&
        !(flags & 1))
      std::abort();
    out.resize(len);
    // Plain text (no BOS, no special parsing) comes back byte for byte, unless it holds SentencePiece's own space
    // character U+2581 (the vocabulary's texts use it for ' ', so it decodes as a space, in llama.cpp too).
    const std::string in(text, size);
    if (flags == 0 && in.find("\xe2\x96\x81") == std::string::npos && out != in) {
      std::fprintf(stderr, "round trip differs: %zu bytes in, %zu out\n", size, out.size());
      std::abort();
    }
    for (size_t i = 0; i < n && i < 8; ++i) {
      char piece[64];
      size_t pn = 0;
      hearth_token_to_piece(m, toks[i], flags & 1 ? HEARTH_DETOKENIZE_SPECIAL : 0, piece, sizeof piece, &pn);
    }
  }
  return 0;
}
