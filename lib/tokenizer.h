// SentencePiece-BPE tokenizer as llama.cpp runs it for tokenizer.ggml.model = "llama": whitespace escaped to
// U+2581, a leading-space prefix, greedy merging of the adjacent pair whose merged text is the best-scoring
// token, and byte fallback (<0xNN>) for characters the vocabulary lacks.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hearth {

class gguf_file;

enum token_type : int32_t { tok_normal = 1, tok_unknown = 2, tok_control = 3, tok_user = 4, tok_unused = 5, tok_byte = 6 };

class tokenizer {
 public:
  void load(const gguf_file &f);  // throws hearth::error

  int32_t n_vocab() const { return (int32_t)text_.size(); }
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  bool is_eog(int32_t t) const { return t >= 0 && (t == eos_ || t == eot_); }
  bool add_bos() const { return add_bos_; }

  // text must be valid UTF-8 (checked by the caller). Appends to out.
  void encode(std::string_view text, bool add_bos, bool parse_special, std::vector<int32_t> &out) const;
  // The bytes a token contributes to output text; control tokens are empty unless special.
  std::string piece(int32_t token, bool special) const;
  std::string decode(const std::vector<int32_t> &tokens, bool special) const;

  const std::string &text(int32_t t) const { return text_[t]; }
  float score(int32_t t) const { return score_[t]; }
  int32_t type(int32_t t) const { return type_[t]; }

 private:
  void encode_fragment(std::string_view text, std::vector<int32_t> &out) const;
  int32_t find(std::string_view s) const;

  std::vector<std::string> text_;
  std::vector<float> score_;
  std::vector<int32_t> type_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<int32_t> specials_;  // control and user-defined tokens, longest first, for parse_special
  int32_t byte_ids_[256];
  int32_t bos_ = -1, eos_ = -1, eot_ = -1, unk_ = -1;
  bool add_bos_ = true, add_space_prefix_ = true;
};

// Index of the first byte that is not part of well-formed UTF-8, or -1 if it is all valid.
int64_t utf8_invalid_at(std::string_view s);
// s with every byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string utf8_sanitize(std::string_view s);
// Length of the longest prefix of s that ends on a character boundary (for streaming).
size_t utf8_complete_prefix(std::string_view s);

}  // namespace hearth
