// Shared test helpers: temporary files and cached synthetic models.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gguf_writer.h"
#include "synth.h"

namespace hearth::test {

// A fresh path under the test temp directory (removed at exit).
std::string temp_path(const std::string &name);
// Writes (once per distinct config) a synthetic model and returns its path.
std::string synth_model(const synth_config &c);
// Small config used by most tests: 2 layers, GQA, vocab 512.
synth_config small_config(dtype type = dtype::f32, const std::string &ffn = "silu");
std::vector<uint8_t> read_file(const std::string &path);
std::string read_text(const std::string &path);  // the file's bytes as a string ("" if unreadable)
// A copy of a GGUF file with some metadata set (u32 values here) and some tensors left out.
std::string rewrite_model(const std::string &src, const std::vector<std::pair<std::string, uint32_t>> &set_u32,
                          const std::vector<std::string> &drop_tensor_suffixes = {});
// Resident memory of this process (/proc/self/statm), bytes.
size_t resident_bytes();
void write_file(const std::string &path, const std::vector<uint8_t> &bytes);

// The small SentencePiece vocabulary of the architecture tests (k_test_vocab tokens): <unk> <s> </s>, the 256 byte
// tokens, then "\u2581a" .. "\u2581z".
inline constexpr int k_test_vocab = 3 + 256 + 26;
void write_test_vocab(gguf_writer &w);
// An F32 tensor of values center + scale * U(-1, 1) drawn from rng.
void add_random_f32(gguf_writer &w, std::mt19937 &rng, const std::string &name, const std::vector<int64_t> &ne, float scale,
                    float center = 0.0f);

}  // namespace hearth::test
