// GGUF metadata keys and tensor names: one table each (llama.cpp's LLM_KV_NAMES and LLM_TENSOR_NAMES), so the
// loader, the architectures, calibration, offload, the CLI and the tests spell every name the same way. Keys that
// belong to an architecture are templates over its name ("%s.context_length" -> "llama.context_length"); per-layer
// keys and tensor names take the layer ("blk.%d.attn_q" -> "blk.3.attn_q").
#pragma once
#include <string>
#include <string_view>

namespace hearth {

enum class kv {
  // general
  general_architecture, general_name, general_alignment, general_file_type,
  // hyper-parameters, per architecture
  context_length, embedding_length, block_count, feed_forward_length, head_count, head_count_kv,
  key_length, value_length, rope_dimension_count, rope_freq_base, rope_scaling_type, rope_scaling_factor,
  rope_scale_linear, rope_scaling_attn_factor, rope_scaling_original_context_length, rope_scaling_yarn_beta_fast,
  rope_scaling_yarn_beta_slow, sliding_window, attn_logit_softcapping, final_logit_softcapping,
  layer_norm_epsilon, layer_norm_rms_epsilon, expert_count, expert_used_count, expert_feed_forward_length,
  expert_shared_feed_forward_length, expert_shared_count, expert_weights_scale, expert_weights_norm, expert_gating_func,
  // vocabulary
  tokenizer_model, tokenizer_pre, tokenizer_tokens, tokenizer_scores, tokenizer_token_type, tokenizer_merges,
  tokenizer_bos_id, tokenizer_eos_id, tokenizer_unk_id, tokenizer_eot_id, tokenizer_eom_id, tokenizer_pad_id,
  tokenizer_sep_id, tokenizer_add_bos, tokenizer_add_eos, tokenizer_add_space_prefix, tokenizer_chat_template,
  // PowerInfer
  powerinfer_sparse_threshold, split_vram_capacity, gpu_index_block_count,
  // hearth's own
  hearth_ffn_activation, hearth_sparse_thresholds, hearth_calibration_frequency /* per layer */,
  hearth_calibration_expert_frequency /* per layer */,
  hearth_calibration_notes, hearth_calibration_corpus_hash, hearth_calibration_corpus_tokens,
  hearth_calibration_profiled_tokens, hearth_calibration_seed, hearth_calibration_samples_per_layer,
  hearth_calibration_target_recall, hearth_calibration_sparsity, hearth_calibration_skewness,
  hearth_calibration_predictor_rank, hearth_calibration_recall, hearth_calibration_precision,
  hearth_calibration_predictor_bytes, hearth_calibration_global_threshold_agreement,
  hearth_synthetic_frequency /* per layer */, hearth_synthetic_sparsity,
  hearth_synthetic_hot_fraction, hearth_synthetic_hot_coverage, hearth_synthetic_seed,
  hearth_synthetic_expert_frequency /* per layer */,
};

// The key; arch fills "%s" (architecture keys), layer fills "%d" (per-layer keys).
std::string key_name(kv k, std::string_view arch = {}, int layer = -1);
// The prefix of hearth's calibration record ("hearth.calibration.").
inline constexpr const char *k_calibration_prefix = "hearth.calibration.";

enum class tensor {
  token_embd, position_embd, output_norm, output, rope_freqs, rope_factors_long, rope_factors_short,
  // per layer
  attn_norm, attn_norm_2, attn_q, attn_k, attn_v, attn_qkv, attn_output, attn_q_norm, attn_k_norm,
  attn_post_norm, ffn_post_norm,
  ffn_norm, ffn_gate, ffn_up, ffn_down, ffn_down_t, ffn_gate_exps, ffn_up_exps, ffn_down_exps, ffn_gate_inp,
  ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp, ffn_gate_inp_shexp,
  fc1, fc2, fc1_exps, fc2_exps,
  // PowerInfer's GPU index
  gpu_idx, gpu_bucket,
};

// "blk.3.attn_q.weight"; suffix "bias" for biases, "" for none (the GPU index's tensors have none).
std::string tensor_name(tensor t, int layer = -1, std::string_view suffix = "weight");
// The layer of a per-layer tensor name ("blk.3.attn_q.weight" -> 3), or -1 for any other name.
int tensor_layer(std::string_view name);

// The architecture PowerInfer gives its GPU index files.
inline constexpr const char *k_gpu_index_arch = "generic.gpu_index";

}  // namespace hearth
