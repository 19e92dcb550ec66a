#include "tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <queue>

#include "error.h"
#include "gguf.h"

namespace hearth {
namespace {

const char k_space[] = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's whitespace

size_t utf8_len(uint8_t lead) {
  static const size_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lookup[lead >> 4];
}

std::string escape_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == ' ') out += k_space;
    else out += c;
  }
  return out;
}

std::string unescape_whitespace(const std::string &s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 3, k_space) == 0) {
      out += ' ';
      i += 3;
    } else {
      out += s[i++];
    }
  }
  return out;
}

}  // namespace

int64_t utf8_invalid_at(std::string_view s) {
  const uint8_t *p = (const uint8_t *)s.data();
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return (int64_t)i;
    if (i + len > n) return (int64_t)i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return (int64_t)i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    // overlong forms, surrogates and values past U+10FFFF are not UTF-8
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return (int64_t)i;
    i += len;
  }
  return -1;
}

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const int64_t bad = utf8_invalid_at(s);
    if (bad < 0) {
      out += s;
      break;
    }
    out += s.substr(0, (size_t)bad);
    out += "\xef\xbf\xbd";
    s.remove_prefix((size_t)bad + 1);
  }
  return out;
}

size_t utf8_complete_prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the last lead byte; keep it only if its sequence is complete.
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const uint8_t c = (uint8_t)s[n - back];
    if ((c & 0xc0) == 0x80) continue;  // continuation
    const size_t need = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

void tokenizer::load(const gguf_file &f) {
  const std::string model = f.get_string("tokenizer.ggml.model", "");
  if (model != "llama")
    fail(HEARTH_ERR_UNSUPPORTED, model.empty() ? "the file has no tokenizer (tokenizer.ggml.model missing)"
                                               : "tokenizer '" + model + "' is not supported (only SentencePiece 'llama')");
  const gguf_value *tokens = f.find("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != gguf_type::array || tokens->arr_type != gguf_type::string || tokens->arr_count == 0)
    fail(HEARTH_ERR_BAD_FORMAT, "tokenizer.ggml.tokens must be a non-empty array of strings");
  const size_t n = tokens->arr_count;
  if (n > (size_t)INT32_MAX) fail(HEARTH_ERR_BAD_FORMAT, "vocabulary too large");
  const gguf_value *scores = f.find("tokenizer.ggml.scores");
  if (scores && (scores->type != gguf_type::array || scores->arr_type != gguf_type::f32 || scores->arr_count != n))
    fail(HEARTH_ERR_BAD_FORMAT, "tokenizer.ggml.scores must be an f32 array as long as the vocabulary");
  const gguf_value *types = f.find("tokenizer.ggml.token_type");
  if (types && (types->type != gguf_type::array || types->arr_type != gguf_type::i32 || types->arr_count != n))
    fail(HEARTH_ERR_BAD_FORMAT, "tokenizer.ggml.token_type must be an i32 array as long as the vocabulary");

  text_.resize(n);
  score_.assign(n, 0.0f);
  type_.assign(n, tok_normal);
  ids_.clear();
  ids_.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    text_[i] = std::string(tokens->arr_strings[i]);
    if (scores) score_[i] = scores->arr<float>(i);
    if (types) type_[i] = types->arr<int32_t>(i);
    ids_.emplace(text_[i], (int32_t)i);  // first occurrence wins, as in llama.cpp
  }
  auto id_key = [&](const char *key, int32_t def) -> int32_t {
    if (!f.find(key)) return def < (int64_t)n ? def : -1;
    const uint64_t v = f.get_uint(key, 0);
    if (v >= n) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{} = {} is outside the vocabulary of {}", key, v, n));
    return (int32_t)v;
  };
  bos_ = id_key("tokenizer.ggml.bos_token_id", n > 1 ? 1 : 0);
  eos_ = id_key("tokenizer.ggml.eos_token_id", n > 2 ? 2 : 0);
  unk_ = id_key("tokenizer.ggml.unknown_token_id", 0);
  eot_ = id_key("tokenizer.ggml.eot_token_id", -1);
  add_bos_ = f.get_bool("tokenizer.ggml.add_bos_token", true);
  add_space_prefix_ = f.get_bool("tokenizer.ggml.add_space_prefix", true);

  for (int b = 0; b < 256; ++b) {
    int32_t id = find(fmt::format("<0x{:02X}>", b));
    if (id < 0) id = find(std::string(1, (char)b));
    byte_ids_[b] = id >= 0 ? id : unk_;
  }
  specials_.clear();
  for (size_t i = 0; i < n; ++i)
    if ((type_[i] == tok_control || type_[i] == tok_user) && !text_[i].empty()) specials_.push_back((int32_t)i);
  std::stable_sort(specials_.begin(), specials_.end(),
                   [&](int32_t a, int32_t b) { return text_[a].size() > text_[b].size(); });
}

int32_t tokenizer::find(std::string_view s) const {
  auto it = ids_.find(std::string(s));
  return it == ids_.end() ? -1 : it->second;
}

// llama.cpp's llm_tokenizer_spm: symbols are UTF-8 characters; repeatedly merge the adjacent pair whose
// concatenation is the highest-scoring vocabulary entry (ties: leftmost). A merged symbol is always a token;
// a single character that is not a token falls back to its bytes.
void tokenizer::encode_fragment(std::string_view text, std::vector<int32_t> &out) const {
  struct symbol {
    int prev, next;
    const char *text;
    size_t n;
  };
  struct bigram {
    int left, right;
    float score;
    size_t size;
    bool operator<(const bigram &o) const { return score < o.score || (score == o.score && left > o.left); }
  };
  std::vector<symbol> syms;
  syms.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t len = std::min(utf8_len((uint8_t)text[off]), text.size() - off);
    const int idx = (int)syms.size();
    syms.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, text.data() + off, len});
    off += len;
  }
  std::priority_queue<bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view s(syms[left].text, syms[left].n + syms[right].n);
    const int32_t id = find(s);
    if (id < 0) return;
    queue.push({left, right, score_[id], s.size()});
  };
  for (int i = 1; i < (int)syms.size(); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const bigram b = queue.top();
    queue.pop();
    symbol &l = syms[b.left];
    symbol &r = syms[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale: one side was merged since
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) {
    const std::string_view s(syms[i].text, syms[i].n);
    const int32_t id = find(s);
    if (id >= 0) {
      out.push_back(id);
    } else {
      for (char c : s) out.push_back(byte_ids_[(uint8_t)c]);
    }
  }
}

void tokenizer::encode(std::string_view text, bool add_bos, bool parse_special, std::vector<int32_t> &out) const {
  if (add_bos && add_bos_) out.push_back(bos_);
  bool prev_special = true;  // a space prefix goes before the first text fragment and after special tokens
  auto emit_text = [&](std::string_view frag) {
    if (frag.empty()) return;
    std::string s;
    if (add_space_prefix_ && prev_special) s.push_back(' ');
    s += frag;
    encode_fragment(escape_whitespace(s), out);
    prev_special = false;
  };
  if (!parse_special) {
    emit_text(text);
    return;
  }
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    int32_t hit = -1;
    for (int32_t id : specials_)
      if (text.compare(pos, text_[id].size(), text_[id]) == 0) {
        hit = id;
        break;
      }
    if (hit < 0) {
      ++pos;
      continue;
    }
    emit_text(text.substr(start, pos - start));
    out.push_back(hit);
    prev_special = true;
    pos += text_[hit].size();
    start = pos;
  }
  emit_text(text.substr(start));
}

std::string tokenizer::piece(int32_t t, bool special) const {
  if (t < 0 || t >= n_vocab()) return {};
  switch (type_[t]) {
    case tok_normal: return unescape_whitespace(text_[t]);
    case tok_byte: {
      unsigned v = 0;
      if (text_[t].size() == 6 && std::sscanf(text_[t].c_str(), "<0x%02X>", &v) == 1) return std::string(1, (char)v);
      return text_[t];
    }
    case tok_unknown: return "\xe2\x96\x85";  // what llama.cpp prints for <unk>
    case tok_user: return text_[t];
    case tok_control: return special ? text_[t] : std::string();
    default: return {};
  }
}

std::string tokenizer::decode(const std::vector<int32_t> &tokens, bool special) const {
  std::string out;
  bool first_text = add_space_prefix_;
  for (int32_t t : tokens) {
    std::string p = piece(t, special);
    if (p.empty()) continue;
    if (first_text && type_[t] == tok_normal && p[0] == ' ') p.erase(0, 1);
    first_text = false;
    out += p;
  }
  return out;
}

}  // namespace hearth
