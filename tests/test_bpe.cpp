// Byte-level BPE and the SPM variants against llama.cpp's own test vectors for real vocabularies (falcon, gpt-2,
// deepseek-llm, starcoder; phi-3 and llama-spm for SentencePiece), detokenization round trips, and the
// pre-tokenizer splits of families whose vocabularies are not shipped (Llama 3, Qwen 2), checked on hand-made
// cases derived from their published expressions.
#include <doctest/doctest.h>

#include <sstream>

#include "hearth.h"
#include "model.h"
#include "chat_template.h"
#include "error.h"
#include "gguf_writer.h"
#include "pretokenizer.h"
#include "synth.h"
#include "vocab_trainer.h"
#include "utf8.h"
#include "test_util.h"

using namespace hearth;

namespace {

std::shared_ptr<const model> load_vocab(const std::string &name) {
  model_config vo;
  vo.vocab_only = true;
  return model::load(std::string(HEARTH_TEST_DATA) + "/ggml-vocab-" + name + ".gguf", vo);
}

struct vectors {
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> ids;
};

vectors read_vectors(const std::string &name) {
  const std::string base = std::string(HEARTH_TEST_DATA) + "/ggml-vocab-" + name + ".gguf";
  const std::string inp = test::read_text(base + ".inp"), out = test::read_text(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  vectors v;
  for (size_t pos = 0;;) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) break;
    v.texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<int32_t> ids;
    std::istringstream ls(line);
    for (int32_t id; ls >> id;) ids.push_back(id);
    v.ids.push_back(ids);
  }
  return v;
}

}  // namespace

TEST_CASE("every llama.cpp test vector is reproduced, and every text round-trips") {
  for (const char *name : {"falcon", "gpt-2", "deepseek-llm", "starcoder", "phi-3", "llama-spm"}) {
    CAPTURE(name);
    const auto m = load_vocab(name);
    const vectors v = read_vectors(name);
    REQUIRE(v.texts.size() >= 40);
    REQUIRE(v.ids.size() == v.texts.size());
    for (size_t i = 0; i < v.texts.size(); ++i) {
      CAPTURE(i);
      CAPTURE(v.texts[i]);
      std::vector<int32_t> got;
      m->tok().encode(v.texts[i], false, false, got);
      CHECK(got == v.ids[i]);
      CHECK(m->tok().decode(got, false) == v.texts[i]);
    }
  }
}

TEST_CASE("byte-level BPE: the model's defaults, special tokens, and every byte survives") {
  const auto m = load_vocab("gpt-2");
  const vocab &v = m->vocab_data();
  CHECK(std::string(m->tok().name()) == "byte-level BPE");
  CHECK_FALSE(v.add_space_prefix());
  // Every byte value that valid UTF-8 uses: all of U+0001..U+07FF (ASCII, leads C2-DF, every continuation
  // byte) and a character for each longer lead (E0-EF, F0-F4).
  std::string all;
  auto put = [&](uint32_t cp) {
    if (cp < 0x80) all += (char)cp;
    else if (cp < 0x800) all += {(char)(0xc0 | cp >> 6), (char)(0x80 | (cp & 0x3f))};
    else if (cp < 0x10000) all += {(char)(0xe0 | cp >> 12), (char)(0x80 | ((cp >> 6) & 0x3f)), (char)(0x80 | (cp & 0x3f))};
    else all += {(char)(0xf0 | cp >> 18), (char)(0x80 | ((cp >> 12) & 0x3f)), (char)(0x80 | ((cp >> 6) & 0x3f)), (char)(0x80 | (cp & 0x3f))};
  };
  for (uint32_t cp = 1; cp < 0x800; ++cp) put(cp);
  for (uint32_t lead = 0; lead < 16; ++lead)
    if (lead != 0xd) put(lead << 12 | 0x923);  // E0..EF (ED would start a surrogate)
  for (uint32_t cp : {0x10000u, 0x40000u, 0x80000u, 0xc0000u, 0x100000u}) put(cp);  // F0..F4
  REQUIRE(utf8_invalid_at(all) < 0);
  std::vector<int32_t> ids;
  // GPT-2's byte characters (its bytes_to_unicode), to know which bytes a vocabulary can write at all: falcon
  // lacks 28 (some control bytes, C0/C1, F2, F5-F7), starcoder 14; llama.cpp drops such bytes, and so does hearth.
  auto byte_char = [](int b) {
    int n = 0;
    for (int k = 0; k < b; ++k) n += !((k >= 0x21 && k <= 0x7e) || (k >= 0xa1 && k <= 0xac) || (k >= 0xae && k <= 0xff));
    const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const uint32_t cp = printable ? (uint32_t)b : 256u + (uint32_t)n;
    return cp < 0x80 ? std::string(1, (char)cp) : std::string{(char)(0xc0 | (cp >> 6)), (char)(0x80 | (cp & 0x3f))};
  };
  for (const char *name : {"gpt-2", "falcon", "deepseek-llm", "starcoder"}) {
    CAPTURE(name);
    const auto other = load_vocab(name);
    std::string want;  // the text without the bytes the vocabulary cannot write
    for (char c : all)
      if (other->vocab_data().find(byte_char((uint8_t)c)) >= 0) want += c;
    ids.clear();
    other->tok().encode(all, false, false, ids);
    CHECK(other->tok().decode(ids, false) == want);
    if (std::string(name) == "gpt-2" || std::string(name) == "deepseek-llm") CHECK(want == all);
  }
  // Invalid UTF-8 is refused with its offset, at the tokenizer itself.
  ids.clear();
  CHECK_THROWS_WITH_AS(m->tok().encode(std::string("ab\xc3(", 4), false, false, ids), doctest::Contains("byte 2"), hearth::error);
  // "<|endoftext|>" is a control token: split out only with special parsing, rendered only when asked.
  const int32_t eot = v.find("<|endoftext|>");
  REQUIRE(eot >= 0);
  CHECK(v.is_eog(eot));
  ids.clear();
  m->tok().encode("a<|endoftext|>b", false, true, ids);
  REQUIRE(ids.size() == 3);
  CHECK(ids[1] == eot);
  CHECK(m->tok().decode(ids, false) == "ab");
  CHECK(m->tok().decode(ids, true) == "a<|endoftext|>b");
  ids.clear();
  m->tok().encode("a<|endoftext|>b", false, false, ids);
  CHECK(ids.size() > 3);
}

TEST_CASE("streaming: a character split over byte tokens is held until complete") {
  const auto m = load_vocab("gpt-2");
  // A rare CJK character and an emoji are several byte tokens each in GPT-2's vocabulary.
  const std::string text = "\xe9\xbe\x98 \xf0\x9f\xa6\x99";
  std::vector<int32_t> ids;
  m->tok().encode(text, false, false, ids);
  REQUIRE(ids.size() > 2);
  utf8_stream stream;
  std::string shown;
  bool split_seen = false;
  for (int32_t t : ids) {
    const std::string p = m->tok().piece(t, false);
    if (utf8_invalid_at(p) >= 0) split_seen = true;
    const std::string out = stream.push(p);
    CHECK(utf8_invalid_at(out) < 0);
    shown += out;
  }
  shown += stream.finish();
  CHECK(split_seen);
  CHECK(shown == text);
}

TEST_CASE("SPM with added tokens (Phi-3): user-defined and control tokens, rstrip, <unk> under special parsing") {
  const auto m = load_vocab("phi-3");
  const vocab &v = m->vocab_data();
  const int32_t end = v.find("<|end|>"), user = v.find("<|user|>");
  REQUIRE(end >= 0);
  REQUIRE(user >= 0);
  std::vector<int32_t> ids;
  m->tok().encode("<|user|>\nHi<|end|>\n", false, true, ids);
  // The tokens eat the whitespace after them (Phi-3's rstrip): "\n" after each is gone.
  REQUIRE(ids.size() >= 3);
  CHECK(ids.front() == user);
  CHECK(ids.back() == end);
  std::vector<int32_t> hi;
  m->tok().encode("Hi", false, false, hi);
  CHECK(std::vector<int32_t>(ids.begin() + 1, ids.end() - 1) == hi);
  // "<unk>" is the unknown token's text: a token only when special text is parsed, as llama.cpp does.
  ids.clear();
  m->tok().encode("<unk>", false, true, ids);
  CHECK(ids == std::vector<int32_t>{v.unk()});
  ids.clear();
  m->tok().encode("<unk>", false, false, ids);
  CHECK(ids.size() > 1);
}

namespace {

std::vector<std::string> split(const std::string &pre, const std::string &text) {
  const auto p = pretokenizer::make(pre);
  std::vector<std::string_view> words;
  p->split(text, words);
  std::string joined;
  std::vector<std::string> out;
  for (std::string_view w : words) {
    out.emplace_back(w);
    joined += w;
  }
  CHECK(joined == text);  // the pieces cover the text exactly
  return out;
}

using sv = std::vector<std::string>;

}  // namespace

TEST_CASE("Llama 3 pre-tokenizer (llama-bpe) on hand-made cases from its expression") {
  // contractions, case-insensitively, split off the word before them
  CHECK(split("llama-bpe", "I'm can't HE'LL") == sv{"I", "'m", " can", "'t", " HE", "'LL"});
  // digits in groups of up to three, with no space attached
  CHECK(split("llama-bpe", "1234567 x12") == sv{"123", "456", "7", " x", "12"});
  // a letter run takes one non-letter, non-digit, non-newline character before it
  CHECK(split("llama-bpe", "$hello (world)") == sv{"$hello", " (", "world", ")"});
  // CJK and emoji: letters run together; symbols group with one optional leading space
  CHECK(split("llama-bpe", "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\xf0\x9f\x98\x81!") ==
        sv{"\xe4\xb8\xad\xe6\x96\x87", " \xf0\x9f\x98\x80\xf0\x9f\x98\x81!"});
  // whitespace runs: all but the last space before a word; newlines gather with the whitespace before them
  CHECK(split("llama-bpe", "a   b") == sv{"a", "  ", " b"});
  CHECK(split("llama-bpe", "a \n\n b") == sv{"a", " \n\n", " b"});
  CHECK(split("llama-bpe", "end.\n") == sv{"end", ".\n"});
  CHECK(split("llama-bpe", "tail   ") == sv{"tail", "   "});
}

TEST_CASE("Qwen 2 pre-tokenizer on hand-made cases from its expression") {
  // as Llama 3, except that every digit is its own piece
  CHECK(split("qwen2", "2024 x12") == sv{"2", "0", "2", "4", " x", "1", "2"});
  CHECK(split("qwen2", "you'RE") == sv{"you", "'RE"});
  CHECK(split("qwen2", "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c") ==
        sv{"\xe4\xbd\xa0\xe5\xa5\xbd", "\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c"});
  CHECK(split("qwen2", "x\r\n\r\ny") == sv{"x", "\r\n\r\n", "y"});
}

TEST_CASE("every named pre-tokenizer compiles and covers its input, unknown names are refused by name") {
  const std::string sample = "Hello, y'all! 12345 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80  \n\t x";
  std::string names = pretokenizer::known_names();
  size_t count = 0;
  for (size_t at = 0; at < names.size();) {
    size_t end = names.find(", ", at);
    if (end == std::string::npos) end = names.size();
    const std::string name = names.substr(at, end - at);
    CAPTURE(name);
    CHECK_FALSE(split(name, sample).empty());
    ++count;
    at = end + 2;
  }
  CHECK(count >= 12);
  for (const char *required : {"default", "gpt-2", "llama-bpe", "qwen2", "falcon", "deepseek-llm", "deepseek-coder",
                               "starcoder", "phi-2", "command-r", "refact", "smollm", "gpt-4o"}) {
    CAPTURE(required);
    CHECK(names.find(required) != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(pretokenizer::make("no-such-pre"), doctest::Contains("no-such-pre"), hearth::error);
}

TEST_CASE("synth's byte-level BPE vocabulary: trained on the text, exact round trips, printable filler, ChatML") {
  for (const char *pre : {"llama-bpe", "gpt-2", "qwen2"}) {
    CAPTURE(pre);
    const bpe_vocab v = train_byte_bpe(builtin_corpus(), 1024, pre);
    CHECK(v.tokens.size() == 1024);
    CHECK(v.merges.size() == (size_t)v.n_merges);
    synth_config c = test::small_config();
    c.tokenizer = "bpe";
    c.pre = pre;
    c.n_vocab = 1024;
    const auto m = model::load(test::synth_model(c));
    CHECK(std::string(m->tok().name()) == "byte-level BPE");
    CHECK(m->vocab_data().pre() == pre);
    // The merges were learned from the shipped text: it compresses to well under a token per 3 bytes.
    const std::string text(builtin_corpus());
    std::vector<int32_t> ids;
    m->tok().encode(text, false, false, ids);
    CHECK(ids.size() * 3 < text.size());
    CHECK(m->tok().decode(ids, false) == text);
    // Text the vocabulary never saw still round-trips through the byte tokens.
    const std::string odd = "\xf0\x9f\xa6\x99 Z\xc3\xa9ro\t\t!";
    ids.clear();
    m->tok().encode(odd, false, false, ids);
    CHECK(m->tok().decode(ids, false) == odd);
    // ChatML marks are control tokens and the template is recognised.
    ids.clear();
    m->tok().encode("<|im_start|>user\nhi<|im_end|>", false, true, ids);
    CHECK(ids.front() == m->vocab_data().find("<|im_start|>"));
    CHECK(ids.back() == m->vocab_data().find("<|im_end|>"));
    CHECK(m->vocab_data().is_eog(ids.back()));
    CHECK(std::string(chat_template_detect(v.chat_template)) == "chatml");
  }
}

TEST_CASE("every token of a padded synthetic vocabulary prints as text (SPM and byte-level)") {
  for (const char *tok : {"spm", "bpe"}) {
    CAPTURE(tok);
    synth_config c = test::small_config();
    c.tokenizer = tok;
    c.n_vocab = 8192;  // far more than the shipped text supports: most of it is filler
    const auto m = model::load(test::synth_model(c));
    const vocab &v = m->vocab_data();
    REQUIRE(v.n_vocab() == 8192);
    int32_t empty = 0;
    for (int32_t t = 0; t < v.n_vocab(); ++t)
      if (!(v.attr(t) & (attr_control | attr_unknown)) && m->tok().piece(t, false).empty()) ++empty;
    CHECK(empty == 0);
    CHECK(m->tok().piece(8191, false).find("unused") != std::string::npos);
  }
}

TEST_CASE("a byte-level vocabulary with a malformed merge is refused at load, naming the entry") {
  gguf_writer w;
  w.set_str("general.architecture", "llama");
  w.set_str("tokenizer.ggml.model", "gpt2");
  w.set_str("tokenizer.ggml.pre", "gpt-2");
  w.set_arr_str("tokenizer.ggml.tokens", {"a", "b", "ab"});
  w.set_arr_str("tokenizer.ggml.merges", {"a b", "ab"});
  const std::string path = test::temp_path("bad-merges.gguf");
  w.write(path);
  model_config vo;
  vo.vocab_only = true;
  CHECK_THROWS_WITH_AS(model::load(path, vo), doctest::Contains("tokenizer.ggml.merges[1] = 'ab'"), hearth::error);
  // and an unknown pre-tokenizer is refused by name
  gguf_writer w2;
  w2.set_str("general.architecture", "llama");
  w2.set_str("tokenizer.ggml.model", "gpt2");
  w2.set_str("tokenizer.ggml.pre", "made-up-pre");
  w2.set_arr_str("tokenizer.ggml.tokens", {"a", "b", "ab"});
  w2.set_arr_str("tokenizer.ggml.merges", {"a b"});
  w2.write(path);
  CHECK_THROWS_WITH_AS(model::load(path, vo), doctest::Contains("made-up-pre"), hearth::error);
}
