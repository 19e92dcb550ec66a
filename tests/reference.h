// An independent float64 forward pass of a llama-architecture GGUF, written plainly for clarity, used as the
// oracle for the engine's logits. Weights are dequantized once to double; nothing is shared with the engine's
// kernels, only the file reader and the block decoders (which are tested on their own).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hearth::test {

struct reference_model;

class reference {
 public:
  explicit reference(const std::string &path);
  ~reference();
  // How cached keys and values are rounded before attention reads them: not at all, to IEEE half, or to Q8_0
  // blocks (32 values sharing a half scale of max|x| / 127), as an F16 or Q8_0 KV cache stores them.
  enum class kv_rounding { none, f16, q8_0 };
  // Logits (n_vocab per token) of every token of the sequence, evaluated from position 0.
  std::vector<std::vector<double>> logits(const std::vector<int32_t> &tokens, kv_rounding kv = kv_rounding::none) const;

 private:
  reference_model *m_;
};

// max |a - b| / max |b|
double rel_error(const float *a, const std::vector<double> &b);

}  // namespace hearth::test
