// gemma3: Gemma 3 (text). Gemma 2's block without soft-capping, with RMS norms over each head of Q and K, five
// sliding-window layers to one global, and two RoPEs: the global layers' (rope.freq_base, and the linear
// rope.scaling the 4B and larger models have), the sliding layers' at base 10000 unscaled.
#include "../arch.h"
#include "../gguf.h"

namespace hearth {
namespace {

void gemma3_hparams(const gguf_file &f, hparams &hp) {
  gemma_hparams(f, hp, 6, 62);
  hp.n_swa = hparam(f, kv::sliding_window, hp.arch, 1, 1 << 24);
  hp.block.qk_norm = true;
  rope_scaling local;
  local.n_rot = hp.n_rot;
  local.base = 10000.0;
  hp.rope_swa = make_rope(local);
}

void gemma3_tensors(tensor_loader &l, hparams &hp) {
  gemma_tensors(l, hp);
  qk_norm_tensors(l, hp);
}

}  // namespace

extern const arch_unit k_arch_gemma3 = {"gemma3", gemma3_hparams, gemma3_tensors};

}  // namespace hearth
