// SentencePiece BPE as llama.cpp runs it for tokenizer.ggml.model = "llama": whitespace escaped to U+2581, a
// leading-space prefix before the first text fragment and after each special token, greedy merging of the
// adjacent pair whose merged text is the best-scoring token, and byte fallback (<0xNN>) for characters the
// vocabulary lacks.
#include <cstdio>
#include <queue>

#include "tokenizer.h"
#include "utf8.h"

namespace hearth {
namespace {

const char k_space[] = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's whitespace

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

class spm_tokenizer final : public tokenizer {
 public:
  using tokenizer::tokenizer;
  const char *name() const override { return "SentencePiece BPE"; }

  std::string piece(int32_t t, bool special) const override {
    if (t < 0 || t >= v_.n_vocab()) return {};
    const uint32_t a = v_.attr(t);
    // llama.cpp's token_to_piece for SPM: control and unknown tokens render only when asked
    if (a & (attr_control | attr_unknown)) return special ? v_.text(t) : std::string();
    if (a & attr_user_defined) return v_.text(t);
    if (a & attr_byte) {
      unsigned b = 0;
      if (v_.text(t).size() == 6 && std::sscanf(v_.text(t).c_str(), "<0x%02X>", &b) == 1) return std::string(1, (char)b);
      return v_.text(t);
    }
    if (a & attr_normal) return unescape_whitespace(v_.text(t));
    return {};  // unused
  }

  std::string decode(const std::vector<int32_t> &tokens, bool special) const override {
    // The inverse of encode: the space prefix added before the first text is dropped again.
    std::string out;
    bool first_text = v_.add_space_prefix();
    for (int32_t t : tokens) {
      std::string p = piece(t, special);
      if (p.empty()) continue;
      if (first_text && (v_.attr(t) & attr_normal) && p[0] == ' ') p.erase(0, 1);
      first_text = false;
      out += p;
    }
    return out;
  }

 protected:
  void encode_fragments(const std::vector<text_fragment> &frags, std::vector<int32_t> &out) const override {
    bool prev_special = true;  // the space prefix goes before the first text fragment and after special tokens
    for (const text_fragment &f : frags) {
      if (f.token >= 0) {
        out.push_back(f.token);
        prev_special = true;
        continue;
      }
      std::string s;
      if (v_.add_space_prefix() && prev_special) s.push_back(' ');
      s += f.text;
      encode_text(escape_whitespace(s), out);
      prev_special = false;
    }
  }

 private:
  // llama.cpp's llm_tokenizer_spm: symbols are UTF-8 characters; repeatedly merge the adjacent pair whose
  // concatenation is the highest-scoring vocabulary entry (ties: leftmost). A merged symbol is always a token;
  // a single character that is not a token falls back to its bytes.
  void encode_text(std::string_view text, std::vector<int32_t> &out) const {
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
      const size_t len = std::min(utf8_sequence_length((uint8_t)text[off]), text.size() - off);
      const int idx = (int)syms.size();
      syms.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, text.data() + off, len});
      off += len;
    }
    std::priority_queue<bigram> queue;
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const std::string_view s(syms[(size_t)left].text, syms[(size_t)left].n + syms[(size_t)right].n);
      const int32_t id = v_.find(s);
      if (id < 0) return;
      queue.push({left, right, v_.score(id), s.size()});
    };
    for (int i = 1; i < (int)syms.size(); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      const bigram b = queue.top();
      queue.pop();
      symbol &l = syms[(size_t)b.left];
      symbol &r = syms[(size_t)b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale: one side was merged since
      merge_with_next(syms, b.left);  // (r is l's next: a symbol merged away has n == 0)
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[(size_t)i].next) {
      const std::string_view s(syms[(size_t)i].text, syms[(size_t)i].n);
      const int32_t id = v_.find(s);
      if (id >= 0) {
        out.push_back(id);
      } else {
        for (char c : s) out.push_back(v_.byte_token((uint8_t)c));
      }
    }
  }
};

}  // namespace

std::unique_ptr<tokenizer> make_spm_tokenizer(const vocab &v) { return std::make_unique<spm_tokenizer>(v); }

}  // namespace hearth
