// Tokenizers: the algorithms that read a vocabulary (vocab.h). What every algorithm shares lives here, as
// llama.cpp's llama_vocab::tokenize does it: special tokens are split out of the text first (longest first;
// control and unknown tokens only with parse_special, user-defined tokens always), then each text fragment goes
// to the algorithm, and BOS/EOS are added as the vocabulary asks. The algorithm is chosen from
// tokenizer.ggml.model (and, for byte-level BPE, tokenizer.ggml.pre) by make_tokenizer; adding one is a subclass
// and a registry row (docs/architecture.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vocab.h"

namespace hearth {

// A piece of the text after special-token splitting: raw text, or one special token.
struct text_fragment {
  std::string_view text;  // raw text (empty for a token)
  int32_t token = -1;     // >= 0: a special token
};

class tokenizer {
 public:
  explicit tokenizer(const vocab &v) : v_(v) {}
  virtual ~tokenizer() = default;
  const vocab &vocab_data() const { return v_; }
  virtual const char *name() const = 0;

  // Appends to out; INVALID_ARGUMENT with the byte offset if text is not valid UTF-8. add_special: BOS/EOS as the vocabulary
  // asks; parse_special: control and unknown token texts in the input become those tokens.
  void encode(std::string_view text, bool add_special, bool parse_special, std::vector<int32_t> &out) const;
  // The bytes a token contributes to output text; control and unknown tokens are empty unless special.
  virtual std::string piece(int32_t token, bool special) const = 0;
  // The inverse of encode(add_special = false): pieces joined, with the leading space the algorithm adds removed.
  virtual std::string decode(const std::vector<int32_t> &tokens, bool special) const;

  // Special-token splitting alone (exposed for tests).
  std::vector<text_fragment> partition(std::string_view text, bool parse_special) const;

 protected:
  // Encodes the fragments in order (the algorithm's own treatment of text next to special tokens).
  virtual void encode_fragments(const std::vector<text_fragment> &fragments, std::vector<int32_t> &out) const = 0;
  const vocab &v_;
};

// Both BPE algorithms keep a word's symbols as a linked list over a vector (fields prev, next, n: the index of
// each neighbour, -1 at the ends, and the bytes covered; n == 0 for a symbol merged away). This merges the symbol
// after `left` into it.
template <class Symbol>
void merge_with_next(std::vector<Symbol> &syms, int left) {
  Symbol &l = syms[(size_t)left];
  Symbol &r = syms[(size_t)l.next];
  l.n += r.n;
  r.n = 0;
  l.next = r.next;
  if (r.next >= 0) syms[(size_t)r.next].prev = left;
}

// The tokenizer for the vocabulary's tokenizer.ggml.model / .pre; UNSUPPORTED naming them when hearth has none.
std::unique_ptr<tokenizer> make_tokenizer(const vocab &v);

// SentencePiece BPE (tokenizer.ggml.model = "llama"), spm_tokenizer.cpp.
std::unique_ptr<tokenizer> make_spm_tokenizer(const vocab &v);
// Byte-level BPE (tokenizer.ggml.model = "gpt2") with the pre-tokenizer tokenizer.ggml.pre names, bpe_tokenizer.cpp.
std::unique_ptr<tokenizer> make_bpe_tokenizer(const vocab &v);
// The character that stands for byte b in a byte-level vocabulary (GPT-2's bytes_to_unicode), as UTF-8.
const std::string &byte_level_char(uint8_t b);

// What a vocabulary of this model (and pre-tokenizer) assumes when the file does not say (vocab.h).
vocab_defaults tokenizer_defaults(const std::string &model, const std::string &pre);

}  // namespace hearth
