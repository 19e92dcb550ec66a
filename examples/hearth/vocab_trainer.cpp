#include "vocab_trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <unordered_map>

#include "error.h"
#include "gguf_writer.h"
#include "names.h"
#include "pretokenizer.h"
#include "tokenizer.h"
#include "utf8.h"
#include "vocab.h"

namespace hearth {
namespace {
const std::string k_space = "\xe2\x96\x81";

size_t char_len(uint8_t c) { return c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1; }

// Fills the vocabulary to n tokens with printable filler: normal tokens no merge reaches (each is longer than
// anything the merges build towards it), lowest in score, so a random model that samples one prints its text.
void pad(bpe_vocab &v, int32_t n) {
  for (int32_t k = 0; (int32_t)v.tokens.size() < n; ++k) {
    v.tokens.push_back(fmt::format("<unused{}>", k));
    v.scores.push_back(-1e9f);
    v.types.push_back(tok_normal);
  }
}
// A training word: its symbols (token ids) and how often it occurs.
struct word {
  std::vector<int32_t> sym;
  int64_t count;
};

// Learns merges until the vocabulary holds n_vocab tokens or no adjacent pair is left: each round merges the most
// frequent pair (ties: the lower ids) in every word. A SentencePiece vocabulary scores the merged token by rank;
// a byte-level one lists the merge in tokenizer.ggml.merges instead.
void learn_merges(std::vector<word> &words, int32_t n_vocab, std::unordered_map<std::string, int32_t> &id, bpe_vocab &v) {
  const bool spm = v.model == "llama";
  while ((int32_t)v.tokens.size() < n_vocab) {
    std::unordered_map<uint64_t, int64_t> pairs;
    for (const word &w : words)
      for (size_t k = 0; k + 1 < w.sym.size(); ++k) pairs[((uint64_t)w.sym[k] << 32) | (uint32_t)w.sym[k + 1]] += w.count;
    uint64_t best = 0;
    int64_t best_count = 0;
    for (const auto &[p, c] : pairs)
      if (c > best_count || (c == best_count && p < best)) {
        best = p;
        best_count = c;
      }
    if (best_count < 1) break;  // every word is a single token: the text supports no more merges
    const int32_t a = (int32_t)(best >> 32), b = (int32_t)(uint32_t)best;
    const std::string merged = v.tokens[(size_t)a] + v.tokens[(size_t)b];
    if (!spm) v.merges.push_back(v.tokens[(size_t)a] + " " + v.tokens[(size_t)b]);
    int32_t m;
    if (auto it = id.find(merged); it != id.end()) {
      m = it->second;
    } else {
      m = (int32_t)v.tokens.size();
      id[merged] = m;
      v.tokens.push_back(merged);
      v.scores.push_back(spm ? -(float)v.n_merges : 0.0f);
      v.types.push_back(tok_normal);
    }
    ++v.n_merges;
    for (word &w : words) {
      std::vector<int32_t> out;
      out.reserve(w.sym.size());
      for (size_t k = 0; k < w.sym.size(); ++k) {
        if (k + 1 < w.sym.size() && w.sym[k] == a && w.sym[k + 1] == b) {
          out.push_back(m);
          ++k;
        } else {
          out.push_back(w.sym[k]);
        }
      }
      w.sym.swap(out);
    }
  }
}

}  // namespace

bpe_vocab train_bpe(std::string_view text, int32_t n_vocab) {
  bpe_vocab v;
  auto add = [&](const std::string &t, float score, int32_t type) {
    v.tokens.push_back(t);
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0.0f, tok_unknown);
  add("<s>", 0.0f, tok_control);
  add("</s>", 0.0f, tok_control);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0.0f, tok_byte);

  // Words as SentencePiece sees them: whitespace-separated, each with the U+2581 prefix.
  std::map<std::string, int64_t> word_count;  // ordered: deterministic iteration
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace((unsigned char)text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !std::isspace((unsigned char)text[j])) ++j;
    if (j > i) word_count[k_space + std::string(text.substr(i, j - i))]++;
    i = j;
  }
  // Characters, most frequent first.
  std::map<std::string, int64_t> char_count;
  for (const auto &[w, c] : word_count)
    for (size_t k = 0; k < w.size();) {
      const size_t n = std::min(char_len((uint8_t)w[k]), w.size() - k);
      char_count[w.substr(k, n)] += c;
      k += n;
    }
  std::vector<std::pair<std::string, int64_t>> chars(char_count.begin(), char_count.end());
  std::stable_sort(chars.begin(), chars.end(), [](auto &a, auto &b) { return a.second > b.second; });
  const bool exact = n_vocab <= 0;
  if (exact) n_vocab = INT32_MAX;
  if ((size_t)n_vocab < v.tokens.size() + chars.size())
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("a vocabulary of {} cannot hold the {} specials, bytes and characters",
                                                  n_vocab, v.tokens.size() + chars.size()));
  std::unordered_map<std::string, int32_t> id;
  for (size_t k = 0; k < chars.size(); ++k) {
    id[chars[k].first] = (int32_t)v.tokens.size();
    add(chars[k].first, -1e6f - (float)k, tok_normal);  // below every merge
  }

  std::vector<word> words;
  for (const auto &[w, c] : word_count) {
    word wd{{}, c};
    for (size_t k = 0; k < w.size();) {
      const size_t n = std::min(char_len((uint8_t)w[k]), w.size() - k);
      wd.sym.push_back(id.at(w.substr(k, n)));
      k += n;
    }
    words.push_back(std::move(wd));
  }
  learn_merges(words, n_vocab, id, v);
  pad(v, exact ? 0 : n_vocab);
  return v;
}

bpe_vocab train_byte_bpe(std::string_view text, int32_t n_vocab, const std::string &pre) {
  if (const int64_t bad = utf8_invalid_at(text); bad >= 0)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("the training text is not valid UTF-8 (byte {})", bad));
  bpe_vocab v;
  v.model = "gpt2";
  v.pre = pre;
  auto add = [&](const std::string &t, int32_t type) {
    v.tokens.push_back(t);
    v.scores.push_back(0.0f);
    v.types.push_back(type);
    return (int32_t)v.tokens.size() - 1;
  };
  v.bos = v.eos = add("<|endoftext|>", tok_control);
  add("<|im_start|>", tok_control);
  add("<|im_end|>", tok_control);
  v.unk = -1;
  v.chat_template =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  // The 256 byte characters, in byte order (the tokenizer's own table).
  std::unordered_map<std::string, int32_t> id;
  for (int b = 0; b < 256; ++b) id[byte_level_char((uint8_t)b)] = add(byte_level_char((uint8_t)b), tok_normal);

  // Words as the pre-tokenizer splits them, counted; each starts as its bytes.
  std::map<std::string, int64_t> word_count;  // ordered: deterministic
  std::vector<std::string_view> words;
  pretokenizer::make(pre)->split(text, words);
  for (std::string_view w : words) word_count[std::string(w)]++;
  std::vector<word> ws;
  for (const auto &[w, c] : word_count) {
    word wd{{}, c};
    for (char ch : w) wd.sym.push_back(id.at(byte_level_char((uint8_t)ch)));
    ws.push_back(std::move(wd));
  }
  const bool exact = n_vocab <= 0;
  if (exact) n_vocab = INT32_MAX;
  if ((size_t)n_vocab < v.tokens.size())
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("a byte-level vocabulary needs at least {} tokens", v.tokens.size()));
  learn_merges(ws, n_vocab, id, v);
  pad(v, exact ? 0 : n_vocab);
  return v;
}

void write_vocab(gguf_writer &w, const bpe_vocab &v) {
  w.set_str(key_name(kv::tokenizer_model), v.model);
  if (!v.pre.empty()) w.set_str(key_name(kv::tokenizer_pre), v.pre);
  w.set_arr_str(key_name(kv::tokenizer_tokens), v.tokens);
  if (v.model == "llama") w.set_arr_f32(key_name(kv::tokenizer_scores), v.scores);
  w.set_arr_i32(key_name(kv::tokenizer_token_type), v.types);
  if (!v.merges.empty()) w.set_arr_str(key_name(kv::tokenizer_merges), v.merges);
  w.set_u32(key_name(kv::tokenizer_bos_id), (uint32_t)v.bos);
  w.set_u32(key_name(kv::tokenizer_eos_id), (uint32_t)v.eos);
  if (v.unk >= 0) w.set_u32(key_name(kv::tokenizer_unk_id), (uint32_t)v.unk);
  w.set_bool(key_name(kv::tokenizer_add_bos), true);
  if (!v.chat_template.empty()) w.set_str(key_name(kv::tokenizer_chat_template), v.chat_template);
}

}  // namespace hearth
