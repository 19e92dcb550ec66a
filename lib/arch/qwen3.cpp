// qwen3: Qwen 3 (dense): the llama block with NeoX RoPE and an RMS norm over each head of Q and K before RoPE
// (attn_q_norm, attn_k_norm), no biases; the head size (key_length) may differ from n_embd / n_head.
#include "../arch.h"

namespace hearth {
namespace {

void qwen3_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  hp.block.rope = rope_kind::neox;
  hp.block.qk_norm = true;
}

void qwen3_tensors(tensor_loader &l, hparams &hp) {
  llama_tensors(l, hp);
  qk_norm_tensors(l, hp);
}

}  // namespace

extern const arch_unit k_arch_qwen3 = {"qwen3", qwen3_hparams, qwen3_tensors};

}  // namespace hearth
