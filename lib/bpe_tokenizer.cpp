// Byte-level BPE as llama.cpp runs it for tokenizer.ggml.model = "gpt2" (GPT-2, Llama 3, Qwen, Falcon, DeepSeek,
// StarCoder, ...): the pre-tokenizer named by tokenizer.ggml.pre splits text into words, each byte of a word
// becomes one printable character (GPT-2's byte-to-unicode table, so every vocabulary entry is text), and the
// adjacent pair with the lowest merge rank is merged until no listed merge applies. A final symbol that is not a
// token falls back to its single bytes where those are tokens. Decoding maps the characters back to bytes.
//
// Merges are looked up by interned symbol ids (every text that is a side or a result of a merge gets one), not
// by concatenating strings as llama.cpp does: the same pairs merge in the same order, with no allocation per
// candidate pair.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "error.h"
#include "pretokenizer.h"
#include "tokenizer.h"
#include "utf8.h"

namespace hearth {
namespace {

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others map to U+0100 upwards in order.
struct byte_map {
  std::string encoded[256];         // byte -> UTF-8 of its character
  std::unordered_map<uint32_t, uint8_t> decoded;  // character -> byte
  byte_map() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      const uint32_t cp = printable ? (uint32_t)b : 256u + (uint32_t)n++;
      utf8_append(encoded[b], cp);
      decoded.emplace(cp, (uint8_t)b);
    }
  }
};
const byte_map &bytes() {
  static const byte_map m;
  return m;
}

// A symbol while a word merges.
struct bpe_symbol {
  int32_t sid;  // interned text, or -1 (a single byte character no merge mentions)
  int32_t prev, next;
  uint32_t begin, n;  // the bytes of the word it covers
};

// Merge ranks by symbol pair: open addressing over a power-of-two table (a std::unordered_map lookup per
// candidate pair was a quarter of the encoding time).
class pair_table {
 public:
  struct merge {
    int32_t rank = -1, result = -1;
  };
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    keys_.assign(cap, k_empty);
    vals_.assign(cap, {});
    mask_ = cap - 1;
  }
  // Keeps the first value for a key (a repeated merge keeps its lowest rank).
  void insert(uint64_t key, merge m) {
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return;
      if (keys_[i] == k_empty) {
        keys_[i] = key;
        vals_[i] = m;
        return;
      }
    }
  }
  const merge *find(uint64_t key) const {
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &vals_[i];
      if (keys_[i] == k_empty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t k_empty = ~0ull;
  size_t slot(uint64_t key) const { return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & mask_; }
  std::vector<uint64_t> keys_;
  std::vector<merge> vals_;
  size_t mask_ = 0;
};

class bpe_tokenizer final : public tokenizer {
 public:
  explicit bpe_tokenizer(const vocab &v) : tokenizer(v), pre_(pretokenizer::make(v.pre())) {
    const std::vector<std::string> &merges = v.merges();
    if (merges.empty())
      fail(HEARTH_ERR_BAD_FORMAT, "byte-level BPE vocabulary without merges (tokenizer.ggml.merges is missing or empty)");
    pairs_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string &m = merges[i];
      // llama.cpp splits at the first space after the first character (a side may itself start with a space)
      const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      if (sp == std::string::npos || sp + 1 >= m.size() || m.find(' ', sp + 1) != std::string::npos)
        fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tokenizer.ggml.merges[{}] = '{}' is not two symbols separated by one space", i, m));
      const int32_t l = intern(std::string_view(m).substr(0, sp)), r = intern(std::string_view(m).substr(sp + 1));
      const int32_t merged = intern(m.substr(0, sp) + m.substr(sp + 1));
      pairs_.insert(key(l, r), {(int32_t)i, merged});
    }
    token_of_sid_.resize(sid_.size());
    for (const auto &[text, sid] : sid_) token_of_sid_[(size_t)sid] = v.find(text);
    for (int b = 0; b < 256; ++b) {
      const auto it = sid_.find(std::string_view(bytes().encoded[b]));
      sid_of_byte_[b] = it == sid_.end() ? -1 : it->second;
      token_of_byte_[b] = v.find(bytes().encoded[b]);
    }
    pieces_.resize((size_t)v.n_vocab());
    for (int32_t t = 0; t < v.n_vocab(); ++t) pieces_[(size_t)t] = render(t);
  }

  const char *name() const override { return "byte-level BPE"; }

  std::string piece(int32_t t, bool special) const override {
    if (t < 0 || t >= v_.n_vocab()) return {};
    const uint32_t a = v_.attr(t);
    if (a & (attr_control | attr_unknown)) return special ? v_.text(t) : std::string();
    return pieces_[(size_t)t];
  }

 protected:
  void encode_fragments(const std::vector<text_fragment> &frags, std::vector<int32_t> &out) const override {
    std::vector<std::string_view> words;
    std::string enc;
    // Words repeat (in prose most are seen before): within one call a word's tokens are copied from its first
    // occurrence. Per call, so nothing is shared between threads.
    std::unordered_map<std::string_view, std::pair<size_t, size_t>> seen;
    for (const text_fragment &f : frags) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      words.clear();
      pre_->split(f.text, words);
      for (std::string_view w : words) {
        if (const auto it = seen.find(w); it != seen.end()) {
          const auto [at, n] = it->second;
          for (size_t k = 0; k < n; ++k) out.push_back(out[at + k]);
          continue;
        }
        const size_t at = out.size();
        encode_word(w, enc, out);
        if (seen.size() < k_seen_max) seen.emplace(w, std::make_pair(at, out.size() - at));
      }
    }
  }

 private:
  static constexpr size_t k_seen_max = 1 << 16;
  static uint64_t key(int32_t l, int32_t r) { return (uint64_t)(uint32_t)l << 32 | (uint32_t)r; }

  int32_t intern(std::string_view s) {
    if (const auto it = sid_.find(s); it != sid_.end()) return it->second;
    const int32_t id = (int32_t)sid_.size();
    sid_.emplace(std::string(s), id);
    return id;
  }

  // What a token contributes to the output bytes (control and unknown tokens are decided in piece()).
  std::string render(int32_t t) const {
    const uint32_t a = v_.attr(t);
    if (a & (attr_user_defined | attr_control | attr_unknown)) return v_.text(t);
    if (!(a & attr_normal)) return {};  // byte and unused tokens are not text in a byte-level vocabulary
    const std::string &s = v_.text(t);
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      const size_t at = i;
      const uint32_t cp = utf8_next(s, i);
      const auto it = bytes().decoded.find(cp);
      if (it != bytes().decoded.end()) out += (char)it->second;
      else out.append(s, at, i - at);  // not a byte character: the text itself
    }
    return out;
  }

  // One pre-tokenized word w (its bytes); enc is scratch for its byte characters.
  void encode_word(std::string_view w, std::string &enc, std::vector<int32_t> &out) const {
    if (pre_->ignore_merges()) {
      enc.clear();
      for (char c : w) enc += bytes().encoded[(uint8_t)c];
      if (const int32_t id = v_.find(enc); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    struct bigram {
      int32_t rank, result, left, lsid, rsid;
      bool operator<(const bigram &o) const { return rank > o.rank || (rank == o.rank && left > o.left); }
    };
    thread_local std::vector<bpe_symbol> syms;  // reused: most words are short and there are many
    syms.clear();
    for (uint32_t i = 0; i < w.size(); ++i)
      syms.push_back({sid_of_byte_[(uint8_t)w[i]], (int32_t)i - 1, i + 1 == w.size() ? -1 : (int32_t)i + 1, i, 1});
    thread_local std::vector<bigram> queue;  // a heap: lowest rank, then leftmost, on top
    queue.clear();
    auto try_add = [&](int32_t l, int32_t r) {
      if (l < 0 || r < 0 || syms[(size_t)l].sid < 0 || syms[(size_t)r].sid < 0) return;
      if (const pair_table::merge *m = pairs_.find(key(syms[(size_t)l].sid, syms[(size_t)r].sid)))
        queue.push_back({m->rank, m->result, l, syms[(size_t)l].sid, syms[(size_t)r].sid}), std::push_heap(queue.begin(), queue.end());
    };
    for (int32_t i = 1; i < (int32_t)syms.size(); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      std::pop_heap(queue.begin(), queue.end());
      const bigram b = queue.back();
      queue.pop_back();
      bpe_symbol &l = syms[(size_t)b.left];
      if (l.n == 0 || l.next < 0) continue;
      bpe_symbol &r = syms[(size_t)l.next];
      if (l.sid != b.lsid || r.sid != b.rsid) continue;  // stale: a side has merged since
      l.sid = b.result;
      merge_with_next(syms, b.left);
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[(size_t)i].next) {
      const bpe_symbol &s = syms[(size_t)i];
      int32_t id = s.sid >= 0 ? token_of_sid_[(size_t)s.sid] : s.n == 1 ? token_of_byte_[(uint8_t)w[s.begin]] : -1;
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      // Not a token: llama.cpp looks up each byte of the symbol's text as a one-byte token (and drops the rest).
      std::string text;
      for (uint32_t k = 0; k < s.n; ++k) text += bytes().encoded[(uint8_t)w[s.begin + k]];
      for (char c : text)
        if ((id = v_.find(std::string_view(&c, 1))) >= 0) out.push_back(id);
    }
  }

  std::unique_ptr<pretokenizer> pre_;
  std::unordered_map<std::string, int32_t, vocab::text_hash, std::equal_to<>> sid_;
  std::vector<int32_t> token_of_sid_;
  pair_table pairs_;
  int32_t sid_of_byte_[256] = {}, token_of_byte_[256] = {};
  std::vector<std::string> pieces_;
};

}  // namespace

const std::string &byte_level_char(uint8_t b) { return bytes().encoded[b]; }

std::unique_ptr<tokenizer> make_bpe_tokenizer(const vocab &v) { return std::make_unique<bpe_tokenizer>(v); }

}  // namespace hearth
