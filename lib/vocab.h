// A model's vocabulary as data (llama.cpp's llama_vocab): token texts, scores and attributes, merges, the special
// ids and the end-of-generation set, and the flags that shape tokenization. No algorithm lives here; the tokenizer
// that reads it is chosen by tokenizer.ggml.model / tokenizer.ggml.pre (tokenizer.h).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace hearth {

class gguf_file;

// tokenizer.ggml.token_type values, as llama.cpp's converter writes them.
enum token_type : int32_t { tok_normal = 1, tok_unknown = 2, tok_control = 3, tok_user = 4, tok_unused = 5, tok_byte = 6 };

// Token attributes (llama.cpp's llama_token_attr): the type as a bit, plus how a special token strips the
// whitespace next to it when it is split out of text.
enum token_attr : uint32_t {
  attr_normal = 1u << 0, attr_unknown = 1u << 1, attr_control = 1u << 2, attr_user_defined = 1u << 3,
  attr_unused = 1u << 4, attr_byte = 1u << 5, attr_lstrip = 1u << 6, attr_rstrip = 1u << 7,
};

// Special ids (-1: none) and flags a tokenizer family assumes when the file has no key for them.
struct vocab_defaults {
  int32_t bos, eos, unk;
  bool add_bos, add_space_prefix;
};

class vocab {
 public:
  // Hashes std::string keys and std::string_view lookups alike (maps keyed by token text find views uncopied).
  struct text_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void load(const gguf_file &f);  // throws hearth::error

  int32_t n_vocab() const { return (int32_t)text_.size(); }
  const std::string &text(int32_t t) const { return text_[(size_t)t]; }
  float score(int32_t t) const { return score_[(size_t)t]; }
  uint32_t attr(int32_t t) const { return attr_[(size_t)t]; }
  int32_t find(std::string_view s) const;  // -1 if absent; the first of duplicate texts, as llama.cpp
  // The token of one byte: <0xNN>, else the one-character token, else unk.
  int32_t byte_token(uint8_t b) const { return byte_ids_[b]; }

  const std::string &model() const { return model_; }  // tokenizer.ggml.model ("llama", "gpt2", ...)
  const std::string &pre() const { return pre_; }      // tokenizer.ggml.pre ("" if absent)
  const std::vector<std::string> &merges() const { return merges_; }

  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  int32_t unk() const { return unk_; }
  bool is_eog(int32_t t) const { return eog_.count(t) != 0; }
  const std::unordered_set<int32_t> &eog() const { return eog_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }

  // Control, user-defined and unknown tokens, longest text first: what special-token parsing splits text at
  // (llama.cpp's cache_special_tokens).
  const std::vector<int32_t> &specials() const { return specials_; }

 private:
  std::string model_, pre_;
  std::vector<std::string> text_;
  std::vector<float> score_;
  std::vector<uint32_t> attr_;
  std::unordered_map<std::string, int32_t, text_hash, std::equal_to<>> ids_;  // looked up by view, no copy
  std::vector<std::string> merges_;
  std::vector<int32_t> specials_;
  std::unordered_set<int32_t> eog_;
  int32_t byte_ids_[256] = {};
  int32_t bos_ = -1, eos_ = -1, eot_ = -1, eom_ = -1, unk_ = -1;
  bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true;
};

}  // namespace hearth
