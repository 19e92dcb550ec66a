// Shared test helpers: temporary files and cached synthetic models.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace hearth::test
