// smallthinker: PowerInfer's SmallThinker (4B-A0.6B, 21B-A3B), as its llama.cpp fork (smallthinker/ in the
// PowerInfer repository) reads it: NeoX RoPE, a mixture of ReGLU experts in every layer whose router reads the
// layer's input before the attention (so experts can be fetched while it runs), softmax or sigmoid gating
// (expert_gating_func) with the chosen weights renormalised, no shared expert. With attention.sliding_window set
// the fork uses a window of 4096 on every layer but each fourth, and those global layers (0, 4, 8, ...) apply no
// RoPE. ffn_down_exps may be stored transposed (up's shape), as its converter's transpose_down option writes it.
#include "../arch.h"
#include "../error.h"

namespace hearth {
namespace {

void smallthinker_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  hp.block.rope = rope_kind::neox;
  moe_hparams(f, hp, true, true);
  hp.block.moe.norm_weights = true;  // the fork renormalises whatever the file says
  hp.block.moe.router_reads_input = true;
  // ReGLU experts unless hearth's own key says otherwise
  const std::string act = f.get_string(key_name(kv::hearth_ffn_activation), "");
  if (act.empty()) hp.block.ffn = ffn_form{activation::relu, true, false};
  if (hparam_or(f, kv::sliding_window, hp.arch, 0, 1u << 30, 0) > 0) {
    hp.n_swa = 4096;  // as the fork sets it, whatever the file's value
    hp.swa.assign((size_t)hp.n_layer, 0);
    hp.nope.assign((size_t)hp.n_layer, 0);
    for (int32_t il = 0; il < hp.n_layer; ++il) (il % 4 ? hp.swa : hp.nope)[(size_t)il] = 1;
  }
}

}  // namespace

extern const arch_unit k_arch_smallthinker = {"smallthinker", smallthinker_hparams, llama_tensors};

}  // namespace hearth
