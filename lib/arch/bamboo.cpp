// bamboo: PowerInfer's Bamboo and TurboSparse models: the llama block with a dReLU FFN, relu(gate) * relu(up).
#include "../arch.h"
#include "../gguf.h"

namespace hearth {
namespace {

void bamboo_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  if (!f.find(key_name(kv::hearth_ffn_activation))) hp.block.ffn = {activation::relu, true, true};
}

}  // namespace

extern const arch_unit k_arch_bamboo = {"bamboo", bamboo_hparams, llama_tensors};

}  // namespace hearth
