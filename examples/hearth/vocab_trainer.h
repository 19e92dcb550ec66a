// Trains a vocabulary from text, so synthetic models get a real one without downloads: SentencePiece-style BPE
// (the "llama" tokenizer model: <unk>, <s>, </s>, the 256 byte tokens, the text's characters, then merges in the
// order learned, each scored by rank so the tokenizer replays them) or byte-level BPE (the "gpt2" model: special
// tokens, the 256 byte characters, then the merges learned over the words a named pre-tokenizer splits the text
// into, listed in tokenizer.ggml.merges).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class gguf_writer;

struct bpe_vocab {
  std::string model = "llama";  // tokenizer.ggml.model
  std::string pre;              // tokenizer.ggml.pre (byte-level only)
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<std::string> merges;  // byte-level only: "left right", by rank
  int32_t bos = 1, eos = 2, unk = 0;
  std::string chat_template;        // tokenizer.chat_template ("" for none)
  int32_t n_merges = 0;
};

// Pads with printable filler tokens ("<unusedN>", normal tokens no merge reaches) when the text supports fewer
// merges than n_vocab needs; n_vocab <= 0 means exactly as many tokens as the text supports. Throws if n_vocab
// cannot even hold the specials, bytes and characters.
bpe_vocab train_bpe(std::string_view text, int32_t n_vocab);
// Byte-level BPE with the pre-tokenizer tokenizer.ggml.pre = pre names (UNSUPPORTED if hearth has none). Its
// specials are <|endoftext|> (BOS and EOS), <|im_start|> and <|im_end|>, and it carries a ChatML template.
bpe_vocab train_byte_bpe(std::string_view text, int32_t n_vocab, const std::string &pre);
// Writes the tokenizer.* keys of a vocabulary.
void write_vocab(gguf_writer &w, const bpe_vocab &v);

}  // namespace hearth
