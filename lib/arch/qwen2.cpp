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
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const layer &L = l.layers()[(size_t)il];
    for (const auto &[bias, t] : {std::pair{&L.bq, tensor::attn_q}, {&L.bk, tensor::attn_k}, {&L.bv, tensor::attn_v}})
      if (bias->empty()) fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + tensor_name(t, il, "bias") + "' is missing");
  }
}

}  // namespace

extern const arch_unit k_arch_qwen2 = {"qwen2", qwen2_hparams, qwen2_tensors};

}  // namespace hearth
