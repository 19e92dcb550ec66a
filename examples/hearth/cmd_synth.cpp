// hearth synth: write a synthetic model of any architecture hearth runs (random weights, a vocabulary from shipped text).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "progress_bar.h"
#include "error.h"
#include "names.h"
#include "quantize.h"
#include "synth.h"

namespace hearth::cli {

int cmd_synth(const args &a) {
  const std::string out = a.str("-o", "--output", "");
  if (out.empty()) {
    std::fprintf(stderr, "hearth synth: -o OUT.gguf is required\n");
    return 2;
  }
  synth_config c;
  if (!synth_preset(a.str("--preset", "", "tiny"), &c)) {
    std::fprintf(stderr, "hearth synth: unknown preset (tiny, small, 1b, 7b, 13b, qwen3-8b, relufalcon-40b)\n");
    return 2;
  }
  const quant_target *mixture = nullptr;
  if (a.has("--type")) {
    const std::string name = a.str("--type", "", "");
    if (!parse_type(name, &c.type)) {
      mixture = find_quant_target(name);
      if (!mixture) {
        std::fprintf(stderr, "hearth synth: --type must be one of %s, or a llama-quantize mixture (%s)\n",
                     computable_type_names().c_str(), quant_target_names().c_str());
        return 2;
      }
      c.type = mixture->base;
      c.type_label = mixture->name;
    }
  }
  c.ffn = a.str("--ffn", "", c.ffn);
  c.n_vocab = (int32_t)a.num("--vocab", "", c.n_vocab);
  c.tokenizer = a.str("--tokenizer", "", c.tokenizer);
  c.arch = a.str("--arch", "", c.arch);
  c.head_dim = (int32_t)a.num("--head-dim", "", c.head_dim);
  if (a.has("--falcon-norm2")) c.falcon_norm2 = true;
  c.pre = a.str("--pre", "", c.pre);
  std::string corpus(builtin_corpus());
  if (a.has("--corpus")) {
    try {
      corpus = read_text_file(a.str("--corpus", "", ""), "corpus");
    } catch (const error &e) {
      std::fprintf(stderr, "hearth synth: %s\n", e.what());
      return 1;
    }
  }
  c.n_embd = (int32_t)a.num("--embd", "", c.n_embd);
  c.n_layer = (int32_t)a.num("--layers", "", c.n_layer);
  c.n_ff = (int32_t)a.num("--ff", "", c.n_ff);
  c.n_head = (int32_t)a.num("--heads", "", c.n_head);
  c.n_head_kv = (int32_t)a.num("--kv-heads", "", c.n_head_kv);
  c.n_ctx = (int32_t)a.num("--ctx", "", c.n_ctx);
  c.seed = (uint64_t)a.num("--seed", "", (long)c.seed);
  c.tied_output = a.has("--tied");
  c.n_expert = (int32_t)a.num("--experts", "", c.n_expert);
  c.n_expert_used = (int32_t)a.num("--experts-used", "", c.n_expert_used);
  c.expert_skew = (float)a.real("--expert-skew", "", c.expert_skew);
  if (mixture) {  // each tensor's type by llama-quantize's rules for this shape
    const int n_layer = c.n_layer, n_gqa = c.n_head / std::max(1, c.n_head_kv);
    const bool has_output = !c.tied_output;
    c.type_of = [mixture, n_layer, n_gqa, has_output](const std::string &name, int64_t cols) {
      const int layer = tensor_layer(name);
      return mixture_type(*mixture, "llama", name, cols, layer, n_layer, n_gqa, 0, layer, has_output);
    };
  }
  c.frequency_record = !a.has("--no-frequency-record");
  c.sparsity = (float)a.real("--sparsity", "", c.sparsity);
  if (a.has("--profile")) {  // measured frequencies instead of the power law; the sparsity is theirs
    c.profile = measured_profile(a.str("--profile", "", ""));
    double sum = 0, n = 0;
    for (const auto &l : c.profile)
      for (float v : l) sum += v, n += 1;
    c.sparsity = (float)(1.0 - sum / n);
  }
  c.hot_fraction = (float)a.real("--hot", "", c.hot_fraction);
  c.hot_coverage = (float)a.real("--coverage", "", c.hot_coverage);
  c.predictor_rank = (int32_t)a.num("--predictor-rank", "", c.predictor_rank);
  if (a.has("--predictor-type") && !parse_type(a.str("--predictor-type", "", ""), &c.predictor_type)) {
    std::fprintf(stderr, "hearth synth: --predictor-type must be one of %s\n", computable_type_names().c_str());
    return 2;
  }
  if (c.sparsity > 0 && !a.has("--ffn")) c.ffn = "relu";
  // (the 0.1 names sparse and dense are still accepted: "dense" now means every neuron computed, nothing else)
  const std::string layout = a.str("--layout", "", "powerinfer");
  if (layout != "powerinfer" && layout != "llama" && layout != "sparse" && layout != "dense") {
    std::fprintf(stderr, "hearth synth: --layout must be powerinfer (PWRI: ffn_down_t and predictors) or llama (llama.cpp's)\n");
    return 2;
  }
  c.llama_layout = layout == "llama" || layout == "dense";
  c.neuron_major = a.has("--layout") && !c.llama_layout;  // an unplanted model in PowerInfer's down layout
  progress_bar bar;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    write_synthetic_model(out, c, corpus, [&](size_t done, size_t total) {
      bar.update("tensors", (int64_t)done, (int64_t)total);
      return true;
    });
  } catch (const error &e) {
    bar.finish();
    std::fprintf(stderr, "hearth synth: %s\n", e.what());
    return 1;
  }
  bar.finish();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // the skew: a power law's, or the measured profile's (its hottest 20% of neurons' share of the firings)
  const std::string skew = c.profile.empty() ? fmt::format("hottest {:.0f}% of neurons cover {:.0f}% of firings", 100 * c.hot_fraction, 100 * c.hot_coverage)
                                             : fmt::format("measured profile of {} layers from {}", c.profile.size(), a.str("--profile", "", ""));
  if (c.sparsity > 0)
    std::fprintf(stderr, "planted sparsity %.2f, %s, %s\n", c.sparsity, skew.c_str(),
                 c.llama_layout ? "llama.cpp layout (row-major ffn_down, no predictors)"
                 : c.n_expert ? "experts' down projections neuron-major, no predictors"
                                : fmt::format("predictor rank {} {}, PWRI file", c.predictor_rank, type_name(c.predictor_type)).c_str());
  // "silu" is the architecture's own FFN for falcon (GELU) and gemma (GeGLU)
  const std::string ffn = c.ffn != "silu" ? c.ffn : c.arch == "falcon" ? "gelu" : c.arch.starts_with("gemma") ? "geglu" : c.arch == "opt" ? "relu" : "silu";
  const std::string experts = c.n_expert ? fmt::format(" x {} experts ({} per token, skew {:.2f})", c.n_expert, c.n_expert_used, c.expert_skew) : "";
  std::fprintf(stderr, "wrote %s: %s, %d layers, embd %d, ff %d%s, heads %d/%d, vocab %s, %s, FFN %s (%.1f s)\n",
               out.c_str(), c.arch.c_str(), c.n_layer, c.n_embd, c.n_ff, experts.c_str(), c.n_head, c.n_head_kv, c.n_vocab > 0 ? std::to_string(c.n_vocab).c_str() : "auto", (c.type_label.empty() ? type_name(c.type) : c.type_label).c_str(), ffn.c_str(), s);
  return 0;
}

}  // namespace hearth::cli
