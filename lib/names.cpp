#include "names.h"

#include <string>

namespace hearth {
namespace {

struct kv_row {
  kv k;
  const char *name;
};

// Spelled as llama.cpp's converter writes them (src/llama-arch.cpp) and PowerInfer's (its llama.cpp).
const kv_row k_kv[] = {
    {kv::general_architecture, "general.architecture"},
    {kv::general_name, "general.name"},
    {kv::general_alignment, "general.alignment"},
    {kv::general_file_type, "general.file_type"},
    {kv::context_length, "%s.context_length"},
    {kv::embedding_length, "%s.embedding_length"},
    {kv::block_count, "%s.block_count"},
    {kv::feed_forward_length, "%s.feed_forward_length"},
    {kv::head_count, "%s.attention.head_count"},
    {kv::head_count_kv, "%s.attention.head_count_kv"},
    {kv::key_length, "%s.attention.key_length"},
    {kv::value_length, "%s.attention.value_length"},
    {kv::rope_dimension_count, "%s.rope.dimension_count"},
    {kv::rope_freq_base, "%s.rope.freq_base"},
    {kv::rope_scaling_type, "%s.rope.scaling.type"},
    {kv::rope_scaling_factor, "%s.rope.scaling.factor"},
    {kv::rope_scale_linear, "%s.rope.scale_linear"},  // the older spelling of the factor
    {kv::rope_scaling_attn_factor, "%s.rope.scaling.attn_factor"},
    {kv::rope_scaling_original_context_length, "%s.rope.scaling.original_context_length"},
    {kv::rope_scaling_yarn_beta_fast, "%s.rope.scaling.yarn_beta_fast"},
    {kv::rope_scaling_yarn_beta_slow, "%s.rope.scaling.yarn_beta_slow"},
    {kv::sliding_window, "%s.attention.sliding_window"},
    {kv::attn_logit_softcapping, "%s.attn_logit_softcapping"},
    {kv::final_logit_softcapping, "%s.final_logit_softcapping"},
    {kv::layer_norm_epsilon, "%s.attention.layer_norm_epsilon"},
    {kv::layer_norm_rms_epsilon, "%s.attention.layer_norm_rms_epsilon"},
    {kv::expert_count, "%s.expert_count"},
    {kv::expert_used_count, "%s.expert_used_count"},
    {kv::expert_feed_forward_length, "%s.expert_feed_forward_length"},
    {kv::expert_shared_feed_forward_length, "%s.expert_shared_feed_forward_length"},
    {kv::expert_shared_count, "%s.expert_shared_count"},
    {kv::expert_weights_scale, "%s.expert_weights_scale"},
    {kv::expert_weights_norm, "%s.expert_weights_norm"},
    {kv::expert_gating_func, "%s.expert_gating_func"},  // 1 softmax, 2 sigmoid (llama.cpp's enum)
    {kv::tokenizer_model, "tokenizer.ggml.model"},
    {kv::tokenizer_pre, "tokenizer.ggml.pre"},
    {kv::tokenizer_tokens, "tokenizer.ggml.tokens"},
    {kv::tokenizer_scores, "tokenizer.ggml.scores"},
    {kv::tokenizer_token_type, "tokenizer.ggml.token_type"},
    {kv::tokenizer_merges, "tokenizer.ggml.merges"},
    {kv::tokenizer_bos_id, "tokenizer.ggml.bos_token_id"},
    {kv::tokenizer_eos_id, "tokenizer.ggml.eos_token_id"},
    {kv::tokenizer_unk_id, "tokenizer.ggml.unknown_token_id"},
    {kv::tokenizer_eot_id, "tokenizer.ggml.eot_token_id"},
    {kv::tokenizer_eom_id, "tokenizer.ggml.eom_token_id"},
    {kv::tokenizer_pad_id, "tokenizer.ggml.padding_token_id"},
    {kv::tokenizer_sep_id, "tokenizer.ggml.seperator_token_id"},  // sic: llama.cpp's spelling
    {kv::tokenizer_add_bos, "tokenizer.ggml.add_bos_token"},
    {kv::tokenizer_add_eos, "tokenizer.ggml.add_eos_token"},
    {kv::tokenizer_add_space_prefix, "tokenizer.ggml.add_space_prefix"},
    {kv::tokenizer_chat_template, "tokenizer.chat_template"},
    {kv::powerinfer_sparse_threshold, "powerinfer.sparse_threshold"},
    {kv::split_vram_capacity, "split.vram_capacity"},
    {kv::gpu_index_block_count, "generic.gpu_index.block_count"},
    {kv::hearth_ffn_activation, "hearth.ffn_activation"},
    {kv::hearth_sparse_thresholds, "hearth.sparse_thresholds"},
    {kv::hearth_calibration_frequency, "hearth.calibration.frequency.%d"},
    {kv::hearth_calibration_expert_frequency, "hearth.calibration.expert_frequency.%d"},
    {kv::hearth_calibration_notes, "hearth.calibration.notes"},
    {kv::hearth_calibration_corpus_hash, "hearth.calibration.corpus_fnv1a64"},
    {kv::hearth_calibration_corpus_tokens, "hearth.calibration.corpus_tokens"},
    {kv::hearth_calibration_profiled_tokens, "hearth.calibration.profiled_tokens"},
    {kv::hearth_calibration_seed, "hearth.calibration.seed"},
    {kv::hearth_calibration_samples_per_layer, "hearth.calibration.samples_per_layer"},
    {kv::hearth_calibration_target_recall, "hearth.calibration.target_recall"},
    {kv::hearth_calibration_sparsity, "hearth.calibration.sparsity"},
    {kv::hearth_calibration_skewness, "hearth.calibration.skewness"},
    {kv::hearth_calibration_predictor_rank, "hearth.calibration.predictor_rank"},
    {kv::hearth_calibration_recall, "hearth.calibration.recall"},
    {kv::hearth_calibration_precision, "hearth.calibration.precision"},
    {kv::hearth_calibration_predictor_bytes, "hearth.calibration.predictor_bytes"},
    {kv::hearth_calibration_global_threshold_agreement, "hearth.calibration.global_threshold_agreement"},
    {kv::hearth_synthetic_frequency, "hearth.synthetic.frequency.%d"},
    {kv::hearth_synthetic_sparsity, "hearth.synthetic.sparsity"},
    {kv::hearth_synthetic_hot_fraction, "hearth.synthetic.hot_fraction"},
    {kv::hearth_synthetic_hot_coverage, "hearth.synthetic.hot_coverage"},
    {kv::hearth_synthetic_seed, "hearth.synthetic.seed"},
    {kv::hearth_synthetic_expert_frequency, "hearth.synthetic.expert_frequency.%d"},
};

struct tensor_row {
  tensor t;
  const char *name;
};

const tensor_row k_tensors[] = {
    {tensor::token_embd, "token_embd"},         {tensor::position_embd, "position_embd"},
    {tensor::output_norm, "output_norm"},       {tensor::output, "output"},
    {tensor::rope_freqs, "rope_freqs"},         {tensor::rope_factors_long, "rope_factors_long"},
    {tensor::rope_factors_short, "rope_factors_short"},
    {tensor::attn_norm, "blk.%d.attn_norm"},     {tensor::attn_norm_2, "blk.%d.attn_norm_2"},
    {tensor::attn_q, "blk.%d.attn_q"},           {tensor::attn_k, "blk.%d.attn_k"},
    {tensor::attn_v, "blk.%d.attn_v"},           {tensor::attn_qkv, "blk.%d.attn_qkv"},
    {tensor::attn_output, "blk.%d.attn_output"}, {tensor::attn_q_norm, "blk.%d.attn_q_norm"},
    {tensor::attn_k_norm, "blk.%d.attn_k_norm"}, {tensor::ffn_norm, "blk.%d.ffn_norm"},
    {tensor::attn_post_norm, "blk.%d.post_attention_norm"}, {tensor::ffn_post_norm, "blk.%d.post_ffw_norm"},
    {tensor::ffn_gate, "blk.%d.ffn_gate"},       {tensor::ffn_up, "blk.%d.ffn_up"},
    {tensor::ffn_down, "blk.%d.ffn_down"},       {tensor::ffn_down_t, "blk.%d.ffn_down_t"},
    {tensor::ffn_gate_exps, "blk.%d.ffn_gate_exps"}, {tensor::ffn_up_exps, "blk.%d.ffn_up_exps"},
    {tensor::ffn_down_exps, "blk.%d.ffn_down_exps"}, {tensor::ffn_gate_inp, "blk.%d.ffn_gate_inp"},
    {tensor::ffn_gate_shexp, "blk.%d.ffn_gate_shexp"}, {tensor::ffn_up_shexp, "blk.%d.ffn_up_shexp"},
    {tensor::ffn_down_shexp, "blk.%d.ffn_down_shexp"}, {tensor::ffn_gate_inp_shexp, "blk.%d.ffn_gate_inp_shexp"},
    {tensor::fc1, "blk.%d.fc1"},                 {tensor::fc2, "blk.%d.fc2"},
    {tensor::fc1_exps, "blk.%d.fc1_exps"},       {tensor::fc2_exps, "blk.%d.fc2_exps"},  // hearth's, per expert
    {tensor::gpu_idx, "blk.%d.gpu_idx"},         {tensor::gpu_bucket, "blk.%d.gpu_bucket"},
};

// Fills %s and %d of a template.
std::string fill(const char *tmpl, std::string_view arch, int layer) {
  std::string out;
  for (const char *p = tmpl; *p; ++p) {
    if (p[0] == '%' && p[1] == 's') {
      out += arch;
      ++p;
    } else if (p[0] == '%' && p[1] == 'd') {
      out += std::to_string(layer);
      ++p;
    } else {
      out += *p;
    }
  }
  return out;
}

}  // namespace

std::string key_name(kv k, std::string_view arch, int layer) {
  for (const kv_row &r : k_kv)
    if (r.k == k) return fill(r.name, arch, layer);
  return {};
}

std::string tensor_name(tensor t, int layer, std::string_view suffix) {
  for (const tensor_row &r : k_tensors)
    if (r.t == t) {
      std::string s = fill(r.name, {}, layer);
      if (!suffix.empty()) (s += '.') += suffix;
      return s;
    }
  return {};
}

int tensor_layer(std::string_view name) {
  constexpr std::string_view prefix = "blk.";
  if (!name.starts_with(prefix)) return -1;
  int layer = 0;
  size_t i = prefix.size();
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && layer < 100000000; ++i) layer = layer * 10 + (name[i] - '0');
  return i > prefix.size() && i < name.size() && name[i] == '.' ? layer : -1;
}

}  // namespace hearth
