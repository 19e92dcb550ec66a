// qwen2: Qwen 1.5 and Qwen 2/2.5 (and DeepSeek-R1's Qwen distillations): the llama block with NeoX RoPE and
// biases on Q, K and V (required, as llama.cpp's loader has them), tied output when `output` is absent.
#include "../arch.h"
#include "../error.h"

namespace hearth {
namespace {

void qwen2_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  hp.block.rope = rope_kind::neox;
}

void qwen2_tensors(tensor_loader &l, hparams &hp) {
  llama_tensors(l, hp);
  require_qkv_biases(l, hp);
}

}  // namespace

extern const arch_unit k_arch_qwen2 = {"qwen2", qwen2_hparams, qwen2_tensors};

}  // namespace hearth
