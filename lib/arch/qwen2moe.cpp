// qwen2moe: Qwen 1.5-MoE and Qwen 2-57B-A14B: Qwen 2's attention (NeoX, Q/K/V biases) and a mixture of experts
// in every layer, softmax routing without renormalising the top-k weights, and a shared expert whose output is
// scaled by sigmoid(ffn_gate_inp_shexp . x) (llama.cpp's llm_build_qwen2moe).
#include "../arch.h"
#include "../error.h"

namespace hearth {
namespace {

void qwen2moe_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  hp.block.rope = rope_kind::neox;
  moe_hparams(f, hp, false, true);
}

void qwen2moe_tensors(tensor_loader &l, hparams &hp) {
  llama_tensors(l, hp);
  require_qkv_biases(l, hp);
}

}  // namespace

extern const arch_unit k_arch_qwen2moe = {"qwen2moe", qwen2moe_hparams, qwen2moe_tensors};

}  // namespace hearth
