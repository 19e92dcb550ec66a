// libFuzzer target: any bytes as text for two real vocabularies (tests/data: LLaMA's SentencePiece and GPT-2's
// byte-level BPE): tokenize with every flag combination, detokenize, and for valid UTF-8 without special parsing
// check the round trip; and the same bytes as a chat template text and as a message's content.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "hearth.h"

namespace {

hearth_model *load(const char *path) {
  hearth_model_params p;
  hearth_model_params_init(&p);
  p.vocab_only = 1;
  hearth_model *out = nullptr;
  if (hearth_model_load(path, &p, &out) != HEARTH_OK) {
    std::fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s\n", path, hearth_last_error());
    std::abort();  // the harness itself is broken, not the library
  }
  return out;
}

void tokenize_round_trip(hearth_model *m, const char *text, size_t size, bool spm) {
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
    if (flags == 0 && (!spm || in.find("\xe2\x96\x81") == std::string::npos) && out != in) {
      std::fprintf(stderr, "round trip differs: %zu bytes in, %zu out\n", size, out.size());
      std::abort();
    }
    for (size_t i = 0; i < n && i < 8; ++i) {
      char piece[64];
      size_t pn = 0;
      hearth_token_to_piece(m, toks[i], flags & 1 ? HEARTH_DETOKENIZE_SPECIAL : 0, piece, sizeof piece, &pn);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static hearth_model *spm = load(HEARTH_FUZZ_VOCAB), *bpe = load(HEARTH_FUZZ_BPE_VOCAB);
  const char *text = (const char *)data;
  tokenize_round_trip(spm, text, size, true);
  tokenize_round_trip(bpe, text, size, false);
  // As a chat template text (detection never fails) and as a message's content (invalid UTF-8 is refused).
  const std::string z(text, size);
  const char *family = hearth_chat_detect_template(z.c_str());
  const hearth_chat_message msg[] = {{"system", z.c_str()}, {"user", z.c_str()}};
  size_t n = 0;
  hearth_chat_apply_template(nullptr, family ? family : "chatml", msg, 2, 1, nullptr, 0, &n);
  hearth_chat_apply_template(nullptr, z.c_str(), msg, 2, 1, nullptr, 0, &n);
  return 0;
}
