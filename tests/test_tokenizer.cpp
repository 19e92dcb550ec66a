// The SentencePiece tokenizer on the real LLaMA vocabulary: BOS and special-token parsing, tricky strings,
// detokenization round trips, the C API, and the synthetic vocabulary (llama.cpp's test vectors for this and the
// other real vocabularies are in test_bpe.cpp).
#include <doctest/doctest.h>


#include "vocab_trainer.h"
#include "hearth.h"
#include "model.h"
#include "test_util.h"

using namespace hearth;

namespace {

const std::string k_vocab = HEARTH_TEST_DATA "/ggml-vocab-llama-spm.gguf";

const model &llama_vocab() {
  model_config vo;
  vo.vocab_only = true;
  static const auto m = model::load(k_vocab, vo);
  return *m;
}

std::vector<int32_t> encode(const std::string &s, bool bos = false, bool special = false) {
  std::vector<int32_t> out;
  llama_vocab().tok().encode(s, bos, special, out);
  return out;
}

}  // namespace

TEST_CASE("BOS, special-token parsing and the leading-space rule") {
  const model &m = llama_vocab();
  CHECK(m.vocab_data().bos() == 1);
  CHECK(m.vocab_data().eos() == 2);
  CHECK(encode("", true) == std::vector<int32_t>{1});
  CHECK(encode("") == std::vector<int32_t>{});
  CHECK(encode("Hello world", true) == std::vector<int32_t>{1, 15043, 3186});
  // With special parsing "<s>" is the BOS token, and the text after it gets the space prefix again.
  const std::vector<int32_t> sp = encode("<s>Hello", false, true);
  REQUIRE(sp.size() >= 2);
  CHECK(sp[0] == 1);
  CHECK(std::vector<int32_t>(sp.begin() + 1, sp.end()) == encode("Hello"));
  // Without it the characters are plain text.
  CHECK(encode("<s>", false, false)[0] != 1);
}

TEST_CASE("tricky strings round-trip through detokenization") {
  const char *cases[] = {
      "",  " ", "   ", "\t", "\n\n", " leading", "trailing ", "multiple   spaces  inside",
      "emoji \xf0\x9f\xa6\x99 and \xf0\x9f\x98\x80\xf0\x9f\x98\x81", "CJK \xe4\xb8\xad\xe6\x96\x87 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
      "control \x01\x02\x1f bytes", "mixed\r\nline\rendings", "\xc3\xa9\xc3\xa8\xc3\xaa accents",
      "supercalifragilisticexpialidocious_pneumonoultramicroscopicsilicovolcanoconiosis_antidisestablishmentarianism",
      "numbers 3.14159 2718281828 1,000,000", "<s> </s> <unk> look like specials",
  };
  const model &m = llama_vocab();
  for (const char *c : cases) {
    CAPTURE(c);
    const std::vector<int32_t> ids = encode(c);
    for (int32_t id : ids) CHECK((id >= 0 && id < m.vocab_data().n_vocab()));
    CHECK(m.tok().decode(ids, false) == std::string(c));
  }
  // A very long word stays linear enough to finish, and round-trips.
  const std::string longword(20000, 'a');
  CHECK(m.tok().decode(encode(longword), false) == longword);
}

TEST_CASE("C API: tokenize, buffer sizes, invalid UTF-8, pieces") {
  hearth_model_params p;
  hearth_model_params_init(&p);
  p.vocab_only = 1;
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(k_vocab.c_str(), &p, &m) == HEARTH_OK);
  const char *text = "Hello world";
  size_t n = 0;
  CHECK(hearth_tokenize(m, text, std::strlen(text), HEARTH_TOKENIZE_ADD_BOS, nullptr, 0, &n) == HEARTH_ERR_BUFFER_TOO_SMALL);
  CHECK(n == 3);
  hearth_token toks[3];
  REQUIRE(hearth_tokenize(m, text, std::strlen(text), HEARTH_TOKENIZE_ADD_BOS, toks, 3, &n) == HEARTH_OK);
  CHECK(toks[0] == 1);
  CHECK(toks[1] == 15043);
  const char bad[] = {'a', (char)0xc3, 'b', 0};
  CHECK(hearth_tokenize(m, bad, 3, 0, toks, 3, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_last_error()).find("UTF-8") != std::string::npos);
  const char overlong[] = {(char)0xc0, (char)0x80, 0};
  CHECK(hearth_tokenize(m, overlong, 2, 0, toks, 3, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  char buf[32];
  CHECK(hearth_token_to_piece(m, 15043, 0, buf, sizeof buf, &n) == HEARTH_OK);
  CHECK(std::string(buf) == " Hello");
  CHECK(hearth_token_to_piece(m, 1, 0, buf, sizeof buf, &n) == HEARTH_OK);
  CHECK(n == 0);  // control tokens are not text
  CHECK(hearth_token_to_piece(m, 1, HEARTH_DETOKENIZE_SPECIAL, buf, sizeof buf, &n) == HEARTH_OK);
  CHECK(std::string(buf) == "<s>");
  CHECK(hearth_token_to_piece(m, 13, 0, buf, sizeof buf, &n) == HEARTH_OK);  // <0x0A>
  CHECK(std::string(buf) == "\n");
  CHECK(hearth_token_to_piece(m, 99999, 0, buf, sizeof buf, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_detokenize(m, toks, 3, 0, buf, 4, &n) == HEARTH_ERR_BUFFER_TOO_SMALL);
  CHECK(n == 11);
  CHECK(std::string(buf) == "Hel");
  CHECK(hearth_detokenize(m, toks, 3, 0, buf, sizeof buf, &n) == HEARTH_OK);
  CHECK(std::string(buf) == "Hello world");
  // a vocabulary-only model cannot run
  hearth_session *s = nullptr;
  CHECK(hearth_session_create(m, nullptr, &s) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(s == nullptr);
  hearth_model_free(m);
}

TEST_CASE("the synthetic BPE vocabulary is learned from the shipped text and tokenizes it compactly") {
  const bpe_vocab v = train_bpe(builtin_corpus(), 2048);
  CHECK(v.tokens.size() == 2048);
  CHECK(v.n_merges > 300);
  const synth_config c = test::small_config();
  const auto m = model::load(test::synth_model(c));
  std::vector<int32_t> ids;
  const std::string text = "The hearth is the oldest room of the house.";
  m->tok().encode(text, false, false, ids);
  CHECK(ids.size() * 2 <= text.size());  // merges learned from the text compress it
  CHECK(m->tok().decode(ids, false) == text);
  // Characters outside the training text fall back to bytes and still round-trip.
  ids.clear();
  m->tok().encode("\xf0\x9f\xa6\x99 Q", false, false, ids);
  CHECK(m->tok().decode(ids, false) == "\xf0\x9f\xa6\x99 Q");
}
