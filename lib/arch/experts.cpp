// Pieces of a mixture-of-experts FFN, for the units that have one (llama with experts = Mixtral, qwen2moe,
// qwen3moe): the hyper-parameters llama.cpp's converter writes and the tensors as llama.cpp stores them, 3-D
// with the expert as the outer dimension. Counts that disagree are refused naming the key or the tensor.
#include <fmt/format.h>

#include <cmath>

#include "../arch.h"
#include "../error.h"
#include "../gguf.h"

namespace hearth {

void moe_hparams(const gguf_file &f, hparams &hp, bool norm_weights, bool required) {
  const std::string &a = hp.arch;
  moe_spec &m = hp.block.moe;
  m.n_expert = hparam_or(f, kv::expert_count, a, 0, 4096, 0);
  if (m.n_expert == 0 && required) fail(HEARTH_ERR_BAD_FORMAT, "metadata '" + key_name(kv::expert_count, a) + "' is missing or 0");
  if (m.n_expert == 0) {
    if (hparam_or(f, kv::expert_used_count, a, 0, 4096, 0) != 0)
      fail(HEARTH_ERR_BAD_FORMAT, fmt::format("metadata '{}' is set but '{}' is 0 or missing", key_name(kv::expert_used_count, a),
                                              key_name(kv::expert_count, a)));
    return;
  }
  m.n_used = hparam(f, kv::expert_used_count, a, 1, (uint64_t)m.n_expert);
  hp.n_ff = hparam_or(f, kv::expert_feed_forward_length, a, 1, 1 << 20, hp.n_ff);
  const int32_t n_shared = hparam_or(f, kv::expert_shared_count, a, 0, 64, 0);
  // Qwen2-MoE writes the shared expert's width; DeepSeek-style files give a count of expert-sized ones.
  hp.n_ff_shared = hparam_or(f, kv::expert_shared_feed_forward_length, a, 0, 1 << 20, n_shared * hp.n_ff);
  const std::string gating_key = key_name(kv::expert_gating_func, a);
  switch (f.get_uint(gating_key, 1)) {
    case 1: m.gating = expert_gating::softmax; break;
    case 2: m.gating = expert_gating::sigmoid; break;
    default:
      fail(HEARTH_ERR_UNSUPPORTED, fmt::format("{} = {} is not supported (1: softmax, 2: sigmoid)", gating_key, f.get_uint(gating_key, 0)));
  }
  m.norm_weights = f.get_bool(key_name(kv::expert_weights_norm, a), norm_weights);
  const std::string scale_key = key_name(kv::expert_weights_scale, a);
  m.weights_scale = (float)f.get_float(scale_key, 0.0);
  if (!(m.weights_scale >= 0) || !std::isfinite(m.weights_scale)) fail(HEARTH_ERR_BAD_FORMAT, scale_key + " out of range");
}

void moe_tensors(tensor_loader &l, layer &L, int32_t il, const hparams &hp) {
  const int64_t d = hp.n_embd, ff = hp.n_ff, E = hp.block.moe.n_expert;
  moe_weights &m = L.moe;
  m.router = l.matrix_of(tensor::ffn_gate_inp, il, d, E);
  const std::vector<matrix> up = l.matrices_of(tensor::ffn_up_exps, il, d, ff, E);
  const std::vector<matrix> gate = l.matrices_of(tensor::ffn_gate_exps, il, d, ff, E, hp.block.ffn.gated);
  // ffn_down_exps: per expert n_embd rows of n_ff (llama.cpp), or n_ff rows of n_embd (neuron-major, PowerInfer's
  // SmallThinker files, recognised as they recognise it: the shape of up; a square expert reads as llama.cpp's)
  const gguf_tensor *dt = l.file().tensor(tensor_name(tensor::ffn_down_exps, il));
  const bool neuron_major = dt && d != ff && dt->n_dims == 3 && dt->ne[0] == d && dt->ne[1] == ff;
  const std::vector<matrix> down = neuron_major ? l.matrices_of(tensor::ffn_down_exps, il, d, ff, E)
                                                : l.matrices_of(tensor::ffn_down_exps, il, ff, d, E);
  m.experts.resize((size_t)E);
  for (int64_t e = 0; e < E; ++e) {
    ffn_weights &x = m.experts[(size_t)e];
    x.up = up[(size_t)e];
    if (!gate.empty()) x.gate = gate[(size_t)e];
    (neuron_major ? x.down_t : x.down) = down[(size_t)e];
  }
  // hearth's per-expert predictors: fc1_exps {n_embd, rank, n_expert}, fc2_exps {rank, n_ff, n_expert}
  if (const gguf_tensor *p1 = l.file().tensor(tensor_name(tensor::fc1_exps, il))) {
    const int64_t rank = p1->n_dims == 3 ? p1->ne[1] : 0;
    if (rank < 1 || rank > ff)
      fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {}, expected [{}, rank, {}]", p1->name, p1->shape(), d, E));
    m.fc1 = l.matrices_of(tensor::fc1_exps, il, d, rank, E);
    m.fc2 = l.matrices_of(tensor::fc2_exps, il, rank, ff, E);
  }
  if (hp.n_ff_shared > 0) {
    const int64_t fs = hp.n_ff_shared;
    m.shared.up = l.matrix_of(tensor::ffn_up_shexp, il, d, fs);
    m.shared.gate = l.matrix_of(tensor::ffn_gate_shexp, il, d, fs, hp.block.ffn.gated);
    m.shared.down = l.matrix_of(tensor::ffn_down_shexp, il, fs, d);
    m.shared_gate = l.vector_of(tensor::ffn_gate_inp_shexp, il, d, false);
  }
}

}  // namespace hearth
