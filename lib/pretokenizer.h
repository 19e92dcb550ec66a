// Byte-level BPE pre-tokenizers: the regular expressions that split text into words before merging, chosen by
// tokenizer.ggml.pre. The expressions are the ones llama.cpp's llama-vocab.cpp lists per name (where llama.cpp
// rewrote one for std::regex, the original from the model's tokenizer.json, which PCRE2 runs as written). Each
// expression in turn splits every piece the previous ones left, and the text between matches stays a piece of
// its own (llama.cpp's unicode_regex_split). Unicode categories (\p{L}, \p{N}, ...) come from PCRE2's tables.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class pretokenizer {
 public:
  ~pretokenizer();
  pretokenizer(const pretokenizer &) = delete;
  pretokenizer &operator=(const pretokenizer &) = delete;

  // The pre-tokenizer for tokenizer.ggml.pre = name ("" is llama.cpp's default); UNSUPPORTED naming the known
  // names when there is none.
  static std::unique_ptr<pretokenizer> make(const std::string &name);
  // Whether the vocabulary adds BOS by default for this name (llama.cpp sets add_bos for llama3, tekken,
  // chameleon); false for unknown names.
  static bool adds_bos(const std::string &name);
  // Every name make() accepts, comma-separated (for messages and docs).
  static std::string known_names();

  const std::string &name() const { return name_; }
  // A whole word that is a token is that token, without merging (llama3, tekken: ignore_merges).
  bool ignore_merges() const { return ignore_merges_; }

  // Splits valid UTF-8 text into words (views into text, in order, covering it exactly). Thread-safe.
  void split(std::string_view text, std::vector<std::string_view> &words) const;

 private:
  struct compiled;
  pretokenizer() = default;
  std::string name_;
  bool ignore_merges_ = false;
  std::vector<std::unique_ptr<compiled>> exprs_;
};

}  // namespace hearth
