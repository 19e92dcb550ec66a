#include "pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include <cstdint>

#include "error.h"

namespace hearth {
namespace {

// The expressions, as C++ string literals copied from llama.cpp's llm_tokenizer_bpe (llama-vocab.cpp) so that a
// diff against it is a diff of text. Where llama.cpp rewrote an expression for std::regex (no \p{Lu}, no (?i:),
// no possessive quantifiers), the original from tokenizer.json is used instead: PCRE2 runs it as written.
const char k_gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char k_llama3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char k_qwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char k_tekken[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char k_gpt4o[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char k_poro[] = " ?[^(\\s|.,!?…。，、।۔،)]+";

struct family {
  const char *names;  // the tokenizer.ggml.pre values, space-separated
  std::vector<const char *> exprs;
  bool ignore_merges = false, adds_bos = false;
};

const family k_families[] = {
    {"default",
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", k_gpt2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"llama3 llama-v3 llama-bpe falcon3 pixtral", {k_llama3}, true, true},
    {"dbrx smaug-bpe", {k_llama3}},
    {"deepseek-llm",
     {"[\r\n]",
      "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
      "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
      "\\s+$",
      "[一-龥ࠀ-一가-퟿]+",
      "\\p{N}+"}},
    {"deepseek-v3",
     {"\\p{N}{1,3}",
      "[一-龥぀-ゟ゠-ヿ]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
    {"deepseek-coder", {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", k_gpt2, "[0-9][0-9][0-9]"}},
    {"starcoder refact command-r smollm codeshell exaone minerva-7b", {"\\p{N}", k_gpt2}},
    {"gpt-2 phi-2 mpt olmo jais trillion jina-es jina-de gigachat jina-v1-en jina-v2-es jina-v2-de jina-v2-code roberta-bpe",
     {k_gpt2}},
    {"qwen2 deepseek-r1-qwen megrez stablelm2", {k_qwen2}},
    {"poro-chat bloom gpt3-finnish", {k_poro}},
    {"viking", {k_poro, "\\p{N}"}},
    {"tekken", {k_tekken}, true, true},
    {"chameleon",
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
      "[\\p{P}!-/:-@\\[-`{-~]", k_gpt2},
     false, true},
    {"gpt-4o llama4", {k_gpt4o}},
    {"superbpe", {"\\p{N}+", "(?=(\\d{3})+(?!\\d))"}},
    {"bailingmoe",
     {"'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}},
    {"seed-coder",
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\r\n]+|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
};

bool has_name(const char *names, std::string_view name) {
  std::string_view all(names);
  for (size_t at = 0; at <= all.size();) {
    size_t end = all.find(' ', at);
    if (end == std::string_view::npos) end = all.size();
    if (all.substr(at, end - at) == name) return true;
    at = end + 1;
  }
  return false;
}

}  // namespace

struct pretokenizer::compiled {
  pcre2_code *code = nullptr;
  ~compiled() { pcre2_code_free(code); }
};

pretokenizer::~pretokenizer() = default;

std::string pretokenizer::known_names() {
  std::string out;
  for (const family &f : k_families)
    for (const char *c = f.names; *c; ++c) {
      if (c == f.names && !out.empty()) out += ", ";
      out += *c == ' ' ? std::string(", ") : std::string(1, *c);
    }
  return out;
}

static const family *find_family(const std::string &want) {
  for (const family &f : k_families)
    if (has_name(f.names, want)) return &f;
  return nullptr;
}

bool pretokenizer::adds_bos(const std::string &name) {
  const family *f = find_family(name.empty() ? "default" : name);
  return f && f->adds_bos;
}

std::unique_ptr<pretokenizer> pretokenizer::make(const std::string &name) {
  const std::string want = name.empty() ? "default" : name;
  if (const family *found = find_family(want)) {
    const family &f = *found;
    std::unique_ptr<pretokenizer> p(new pretokenizer());
    p->name_ = want;
    p->ignore_merges_ = f.ignore_merges;
    for (const char *e : f.exprs) {
      int err = 0;
      PCRE2_SIZE at = 0;
      auto c = std::make_unique<compiled>();  // owns the code from here
      c->code = pcre2_compile((PCRE2_SPTR)e, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | PCRE2_DOLLAR_ENDONLY, &err, &at, nullptr);
      if (!c->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fail(HEARTH_ERR_INTERNAL, fmt::format("pre-tokenizer '{}': expression {} does not compile at {}: {}", want, e, at, (const char *)msg));
      }
      pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // where JIT is unavailable the interpreter runs it
      p->exprs_.push_back(std::move(c));
    }
    return p;
  }
  fail(HEARTH_ERR_UNSUPPORTED, "pre-tokenizer '" + name + "' is unknown; hearth knows " + known_names());
}

void pretokenizer::split(std::string_view text, std::vector<std::string_view> &words) const {
  std::vector<std::string_view> pieces{text}, next;
  if (text.empty()) pieces.clear();
  for (const auto &c : exprs_) {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(pcre2_match_data_create_from_pattern(c->code, nullptr),
                                                                           &pcre2_match_data_free);
    if (!md) fail(HEARTH_ERR_OUT_OF_MEMORY, "pre-tokenizer: no memory for a match");
    next.clear();
    for (std::string_view piece : pieces) {
      // As std::regex_iterator does over one piece: each match is a word, the text between matches another.
      const PCRE2_SPTR subject = (PCRE2_SPTR)piece.data();
      size_t gap = 0, from = 0;
      while (from <= piece.size()) {
        const int rc = pcre2_match(c->code, subject, piece.size(), from, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message(rc, msg, sizeof msg);
          fail(HEARTH_ERR_INTERNAL, fmt::format("pre-tokenizer '{}': matching failed: {}", name_, (const char *)msg));
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md.get());
        const size_t begin = ov[0], end = ov[1];
        if (begin > gap) next.push_back(piece.substr(gap, begin - gap));
        if (end > begin) {
          next.push_back(piece.substr(begin, end - begin));
          from = end;
        } else {  // an empty match (a lookahead) only marks a boundary; search on from the next character
          from = end + 1;
          while (from < piece.size() && ((uint8_t)piece[from] & 0xc0) == 0x80) ++from;
        }
        gap = end;
      }
      if (gap < piece.size()) next.push_back(piece.substr(gap));
    }
    pieces.swap(next);
  }
  words.insert(words.end(), pieces.begin(), pieces.end());
}

}  // namespace hearth
