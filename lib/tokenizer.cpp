#include "tokenizer.h"

#include <cctype>

#include <fmt/format.h>

#include "error.h"
#include "utf8.h"
#include "pretokenizer.h"

namespace hearth {

std::vector<text_fragment> tokenizer::partition(std::string_view text, bool parse_special) const {
  std::vector<text_fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({text, -1});
  // llama.cpp's tokenizer_st_partition: each special token in turn (longest first) splits every raw fragment at
  // each of its occurrences, so a longer token wins over a shorter one wherever they overlap.
  for (int32_t id : v_.specials()) {
    const uint32_t attr = v_.attr(id);
    if (!parse_special && (attr & (attr_control | attr_unknown))) continue;
    const std::string &special = v_.text(id);
    std::vector<text_fragment> next;
    next.reserve(frags.size());
    bool split = false;
    for (const text_fragment &f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t at; (at = rest.find(special)) != std::string_view::npos;) {
        std::string_view left = rest.substr(0, at);
        if (attr & attr_lstrip)
          while (!left.empty() && std::isspace((unsigned char)left.back())) left.remove_suffix(1);
        if (!left.empty()) next.push_back({left, -1});
        next.push_back({{}, id});
        rest.remove_prefix(at + special.size());
        if (attr & attr_rstrip)
          while (!rest.empty() && std::isspace((unsigned char)rest.front())) rest.remove_prefix(1);
        split = true;
      }
      if (!rest.empty()) next.push_back({rest, -1});
    }
    if (split) frags.swap(next);
  }
  return frags;
}

void tokenizer::encode(std::string_view text, bool add_special, bool parse_special, std::vector<int32_t> &out) const {
  // Checked here, once for every caller: the algorithms (and PCRE2, which is told not to check) assume it.
  if (const int64_t bad = utf8_invalid_at(text); bad >= 0)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("text is not valid UTF-8 (byte {})", bad));
  if (add_special && v_.add_bos() && v_.bos() >= 0) out.push_back(v_.bos());
  encode_fragments(partition(text, parse_special), out);
  if (add_special && v_.add_eos() && v_.eos() >= 0) out.push_back(v_.eos());
}

std::string tokenizer::decode(const std::vector<int32_t> &tokens, bool special) const {
  std::string out;
  for (int32_t t : tokens) out += piece(t, special);
  return out;
}

namespace {

// The registry: tokenizer.ggml.model -> the algorithm. A row with no factory names a model llama.cpp knows and
// hearth does not run yet, so the error can say what it is.
struct tokenizer_row {
  const char *model;
  const char *what;
  std::unique_ptr<tokenizer> (*make)(const vocab &);
  vocab_defaults defaults;  // llama.cpp's per-model defaults for what the file does not say
};
const tokenizer_row k_tokenizers[] = {
    {"llama", "SentencePiece BPE", make_spm_tokenizer, {1, 2, 0, true, true}},
    {"gpt2", "byte-level BPE", make_bpe_tokenizer, {11, 11, -1, false, false}},
    {"bert", "WordPiece", nullptr, {101, -1, 100, true, false}},
    {"t5", "Unigram", nullptr, {-1, 1, 2, false, true}},
    {"rwkv", "RWKV", nullptr, {-1, -1, -1, false, false}},
};

}  // namespace

vocab_defaults tokenizer_defaults(const std::string &model, const std::string &pre) {
  for (const tokenizer_row &r : k_tokenizers)
    if (model == r.model) {
      vocab_defaults d = r.defaults;
      if (r.make == make_bpe_tokenizer && pretokenizer::adds_bos(pre)) d.add_bos = true;
      return d;
    }
  return {-1, -1, -1, false, false};
}

std::unique_ptr<tokenizer> make_tokenizer(const vocab &v) {
  const std::string &m = v.model();
  std::string supported;
  for (const tokenizer_row &r : k_tokenizers)
    if (r.make) supported += (supported.empty() ? "'" : ", '") + std::string(r.model) + "' (" + r.what + ")";
  for (const tokenizer_row &r : k_tokenizers) {
    if (m != r.model) continue;
    if (r.make) return r.make(v);
    const std::string pre = v.pre().empty() ? "" : ", pre-tokenizer '" + v.pre() + "'";
    fail(HEARTH_ERR_UNSUPPORTED, "tokenizer '" + m + "' (" + r.what + pre + ") is not supported yet; hearth runs " + supported);
  }
  fail(HEARTH_ERR_UNSUPPORTED, "tokenizer '" + m + "' is unknown; hearth runs " + supported);
}

}  // namespace hearth
