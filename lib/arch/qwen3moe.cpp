// qwen3moe: Qwen 3 MoE (30B-A3B, 235B-A22B): Qwen 3's attention (NeoX, Q/K head norms) and a mixture of experts
// in every layer, softmax routing with the top-k weights renormalised (llama.cpp's llm_build_qwen3moe), no shared
// expert; each expert is expert_feed_forward_length wide.
#include "../arch.h"
#include "../error.h"

namespace hearth {
namespace {

void qwen3moe_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  hp.block.rope = rope_kind::neox;
  hp.block.qk_norm = true;
  moe_hparams(f, hp, true, true);
}

void qwen3moe_tensors(tensor_loader &l, hparams &hp) {
  llama_tensors(l, hp);
  qk_norm_tensors(l, hp);
}

}  // namespace

extern const arch_unit k_arch_qwen3moe = {"qwen3moe", qwen3moe_hparams, qwen3moe_tensors};

}  // namespace hearth
