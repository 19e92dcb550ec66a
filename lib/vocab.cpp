#include "vocab.h"

#include <fmt/format.h>

#include <algorithm>

#include "error.h"
#include "gguf.h"
#include "names.h"
#include "tokenizer.h"

namespace hearth {
namespace {

uint32_t attr_of_type(int32_t type) {
  switch (type) {
    case tok_unknown: return attr_unknown;
    case tok_control: return attr_control;
    case tok_user: return attr_user_defined;
    case tok_unused: return attr_unused;
    case tok_byte: return attr_byte;
    default: return attr_normal;
  }
}

// Texts that end generation when the vocabulary has them (llama.cpp's list in llama-vocab.cpp, since its EOG
// set is found the same way: by text).
const char *const k_eog_texts[] = {"<|eot_id|>", "<|im_end|>",  "<|end|>",   "<|return|>",      "<|call|>",
                                   "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
                                   "<|end_of_text|>", "<end_of_utterance>"};

}  // namespace

void vocab::load(const gguf_file &f) {
  model_ = f.get_string(key_name(kv::tokenizer_model), "");
  if (model_.empty()) fail(HEARTH_ERR_UNSUPPORTED, "the file has no vocabulary (" + key_name(kv::tokenizer_model) + " is missing)");
  pre_ = f.get_string(key_name(kv::tokenizer_pre), "");
  const std::string tokens_key = key_name(kv::tokenizer_tokens);
  const gguf_value *tokens = f.find(tokens_key);
  if (!tokens || tokens->type != gguf_type::array || tokens->arr_type != gguf_type::string || tokens->arr_count == 0)
    fail(HEARTH_ERR_BAD_FORMAT, tokens_key + " must be a non-empty array of strings");
  const size_t n = tokens->arr_count;
  if (n > (size_t)INT32_MAX) fail(HEARTH_ERR_BAD_FORMAT, "vocabulary too large");
  const std::string scores_key = key_name(kv::tokenizer_scores), types_key = key_name(kv::tokenizer_token_type);
  const gguf_value *scores = f.find(scores_key);
  if (scores && (scores->type != gguf_type::array || scores->arr_type != gguf_type::f32 || scores->arr_count != n))
    fail(HEARTH_ERR_BAD_FORMAT, scores_key + " must be an f32 array as long as the vocabulary");
  const gguf_value *types = f.find(types_key);
  if (types && (types->type != gguf_type::array || types->arr_type != gguf_type::i32 || types->arr_count != n))
    fail(HEARTH_ERR_BAD_FORMAT, types_key + " must be an i32 array as long as the vocabulary");
  if (const gguf_value *m = f.find(key_name(kv::tokenizer_merges))) {
    if (m->type != gguf_type::array || m->arr_type != gguf_type::string)
      fail(HEARTH_ERR_BAD_FORMAT, key_name(kv::tokenizer_merges) + " must be an array of strings");
    merges_.assign(m->arr_strings.begin(), m->arr_strings.end());
  }

  text_.resize(n);
  score_.assign(n, 0.0f);
  attr_.assign(n, attr_normal);
  ids_.clear();
  ids_.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    text_[i] = std::string(tokens->arr_strings[i]);
    if (scores) score_[i] = scores->arr<float>(i);
    if (types) attr_[i] = attr_of_type(types->arr<int32_t>(i));
    ids_.emplace(text_[i], (int32_t)i);  // first occurrence wins, as in llama.cpp
  }
  const vocab_defaults defaults = tokenizer_defaults(model_, pre_);
  auto id_key = [&](kv k, int32_t def) -> int32_t {
    const std::string key = key_name(k);
    if (!f.find(key)) return def >= 0 && def < (int64_t)n ? def : -1;
    const uint64_t v = f.get_uint(key, 0);
    if (v >= n) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{} = {} is outside the vocabulary of {}", key, v, n));
    return (int32_t)v;
  };
  bos_ = id_key(kv::tokenizer_bos_id, defaults.bos);
  eos_ = id_key(kv::tokenizer_eos_id, defaults.eos);
  unk_ = id_key(kv::tokenizer_unk_id, defaults.unk);
  eot_ = id_key(kv::tokenizer_eot_id, -1);
  eom_ = id_key(kv::tokenizer_eom_id, -1);
  add_bos_ = f.get_bool(key_name(kv::tokenizer_add_bos), defaults.add_bos);
  add_eos_ = f.get_bool(key_name(kv::tokenizer_add_eos), false);
  add_space_prefix_ = f.get_bool(key_name(kv::tokenizer_add_space_prefix), defaults.add_space_prefix);

  // The end-of-generation set: EOS, EOT, EOM, and the tokens llama.cpp recognises by text (made control tokens,
  // as llama.cpp does, so they are never rendered as text unless asked).
  eog_.clear();
  for (const char *t : k_eog_texts)
    if (const int32_t id = find(t); id >= 0) {
      eog_.insert(id);
      attr_[(size_t)id] = (attr_[(size_t)id] & ~(attr_normal | attr_user_defined)) | attr_control;
    }
  for (int32_t id : {eos_, eot_, eom_})
    if (id >= 0) eog_.insert(id);

  // Phi-3's special tokens eat the whitespace after them (llama.cpp sets the same attributes by model name).
  std::string name = f.get_string(key_name(kv::general_name), "");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  const bool phi3 = name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos;

  for (int b = 0; b < 256; ++b) {
    int32_t id = find(fmt::format("<0x{:02X}>", b));
    if (id < 0) id = find(std::string(1, (char)b));
    byte_ids_[b] = id >= 0 ? id : unk_;
  }
  specials_.clear();
  for (size_t i = 0; i < n; ++i)
    if ((attr_[i] & (attr_control | attr_user_defined | attr_unknown)) && !text_[i].empty()) specials_.push_back((int32_t)i);
  std::stable_sort(specials_.begin(), specials_.end(),
                   [&](int32_t a, int32_t b) { return text_[(size_t)a].size() > text_[(size_t)b].size(); });
  if (phi3) {
    for (int32_t id : specials_) attr_[(size_t)id] |= attr_rstrip;
    if (const int32_t id = find("</s>"); id >= 0) attr_[(size_t)id] |= attr_rstrip;
    for (const char *t : {"<unk>", "<s>", "<|endoftext|>"})
      if (const int32_t id = find(t); id >= 0) attr_[(size_t)id] &= ~attr_rstrip;
  }
}

int32_t vocab::find(std::string_view s) const {
  auto it = ids_.find(s);
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace hearth
