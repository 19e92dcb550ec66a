// Trains a SentencePiece-style BPE vocabulary (the "llama" tokenizer model) from text, so synthetic models get a
// real vocabulary without downloads: <unk>, <s>, </s>, the 256 byte tokens, the text's characters, then merges
// in the order learned, each scored by rank so the tokenizer replays them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

struct bpe_vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  int32_t n_merges = 0;
};

// Pads with unused tokens when the text supports fewer merges than n_vocab needs; n_vocab <= 0 means exactly as
// many tokens as the text supports. Throws if n_vocab cannot even hold the specials, bytes and characters.
bpe_vocab train_bpe(std::string_view text, int32_t n_vocab);

}  // namespace hearth
