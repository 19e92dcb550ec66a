// hearth calibrate: a dense ReLU-family model + a text -> a PowerInfer PWRI file with trained predictors.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>

#include "calibrate.h"
#include "progress_bar.h"
#include "expert_calibration.h"
#include "commands.h"
#include "error.h"
#include "gpuidx.h"
#include "names.h"
#include "offload.h"
#include "report.h"
#include "synth.h"

namespace hearth::cli {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

bool parse_type_opt(const args &a, const char *opt, dtype *out) {
  if (!a.has(opt)) return false;
  if (!parse_type(a.str(opt, "", ""), out)) throw error(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("{}: unknown type", opt));
  return true;
}

// A mixture of experts: the experts' and their neurons' frequencies, and the neuron-major file (no predictors).
int calibrate_mixture(const model &m, const std::string &corpus, const calibrate_config &cfg, const std::string &out,
                      const calibrate_progress &progress, progress_bar &bar, std::chrono::steady_clock::time_point t0) {
  const expert_calibration c = calibrate_experts(m, corpus, cfg, progress);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  bar.finish();
  const hparams &hp = m.hp();
  const int32_t E = hp.block.moe.n_expert, ff = hp.n_ff;
  fmt::print("profiled {} tokens through {} experts per layer ({} per token), {:.1f} s\n", c.tokens, E, hp.block.moe.n_used, secs);
  fmt::print("{:>5} {:>15} {:>15} {:>18}{}\n", "layer", "hottest expert", "coldest expert", "neurons firing", 
             m.file().find(key_name(kv::hearth_synthetic_frequency, {}, 0)) ? "  rank corr. with planted (experts, neurons)" : "");
  for (int32_t l = 0; l < hp.n_layer; ++l) {
    const std::vector<float> &fe = c.expert_frequency[(size_t)l], &fn = c.frequency[(size_t)l];
    double fired = 0, chosen = 0;
    for (int32_t e = 0; e < E; ++e)
      for (int32_t i = 0; i < ff; ++i) fired += (double)fe[(size_t)e] * fn[(size_t)e * ff + i], chosen += fe[(size_t)e];
    std::string corr;
    const std::vector<float> pe = m.file().get_floats(key_name(kv::hearth_synthetic_expert_frequency, {}, l)),
                             pn = m.file().get_floats(key_name(kv::hearth_synthetic_frequency, {}, l));
    if (pe.size() == fe.size() && pn.size() == fn.size())
      corr = fmt::format("  {:.4f}, {:.4f}", rank_correlation(pe, fe), rank_correlation(pn, fn));
    fmt::print("{:>5} {:>14.1f}% {:>14.1f}% {:>17.1f}%{}\n", l, 100 * *std::max_element(fe.begin(), fe.end()),
               100 * *std::min_element(fe.begin(), fe.end()), chosen > 0 ? 100 * fired / chosen : 0.0, corr);
  }
  write_calibrated_experts(m, c, cfg, out, progress);
  bar.finish();
  fmt::print("wrote {} (experts' down projections neuron-major; no predictors for experts)\n", out);
  model::load(out);  // what was written must load
  return 0;
}

}  // namespace

int cmd_calibrate(const args &a) {
  const std::string in = a.str("-m", "--model", ""), text_path = a.str("--text", "", ""), out = a.str("-o", "--output", "");
  if (in.empty() || out.empty()) {
    std::fprintf(stderr, "hearth calibrate: -m MODEL and -o OUT.gguf are required (--text CORPUS.txt; default: the shipped text)\n");
    return 2;
  }
  try {
    calibrate_config cfg;
    cfg.profile.n_threads = (int32_t)a.num("-t", "--threads", 0);
    cfg.profile.n_ctx = (int32_t)a.num("-c", "--ctx", 512);
    cfg.profile.n_batch = (int32_t)a.num("-b", "--batch", 64);
    cfg.profile.max_samples = a.num("--samples", "", 4096);
    cfg.trainer.seed = cfg.profile.seed = (uint64_t)a.num("--seed", "", 1);
    cfg.trainer.target_recall = a.real("--recall", "", 0.99);
    cfg.trainer.max_epochs = (int32_t)a.num("--epochs", "", cfg.trainer.max_epochs);
    cfg.trainer.fixed_rank = (int32_t)a.num("--rank", "", 0);
    cfg.convert_weights = parse_type_opt(a, "--type", &cfg.weight_type);
    cfg.down_type_set = parse_type_opt(a, "--down-type", &cfg.down_type);
    parse_type_opt(a, "--predictor-type", &cfg.predictor_type);
    if (!(cfg.trainer.target_recall > 0 && cfg.trainer.target_recall < 1))
      throw error(HEARTH_ERR_INVALID_ARGUMENT, "--recall must be in (0, 1)");
    std::string corpus;
    if (text_path.empty()) {
      corpus = std::string(builtin_corpus());
    } else {
      corpus = read_text_file(text_path, "corpus");
    }
    const auto m = model::load(in);
    progress_bar bar;
    std::signal(SIGINT, on_sigint);
    auto t0 = std::chrono::steady_clock::now();
    const calibrate_progress progress = [&](const char *stage, int64_t done, int64_t total) {
      bar.update(stage, done, total);
      return !g_interrupted.load();
    };
    if (m->hp().block.moe) return calibrate_mixture(*m, corpus, cfg, out, progress, bar, t0);
    const calibration c = calibrate_model(*m, corpus, cfg, progress);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.finish();
    const hparams &hp = m->hp();
    fmt::print("calibrated on {} tokens ({} sampled per layer for training), {:.1f} s\n", c.profile.tokens,
               c.profile.samples.empty() ? 0 : c.profile.samples[0].n, secs);
    const bool planted_record = m->file().find(key_name(kv::hearth_synthetic_frequency, {}, 0)) != nullptr;
    fmt::print("{:>5} {:>9} {:>6} {:>5} {:>8} {:>9} {:>10} {:>8}{}\n", "layer", "sparsity", "skew", "rank", "recall", "precision",
               "bytes", "% FFN", planted_record ? "  rank corr. with planted" : "");
    double min_corr = 1, min_recall = 1, max_share = 0;
    for (int32_t l = 0; l < hp.n_layer; ++l) {
      const trained_predictor &p = c.predictors[(size_t)l];
      const double bytes = (double)(row_bytes(cfg.predictor_type, hp.n_embd) * (size_t)p.rank + row_bytes(cfg.predictor_type, p.rank) * (size_t)hp.n_ff);
      // relative to the FFN as the output file stores it (its --type / --down-type)
      const double ffn_bytes = (double)output_ffn_bytes(*m, cfg, l);
      std::string corr;
      const std::vector<float> planted = m->file().get_floats(key_name(kv::hearth_synthetic_frequency, {}, l));
      if (!planted.empty()) {
        const double r = rank_correlation(planted, c.profile.frequency(l));
        min_corr = std::min(min_corr, r);
        corr = fmt::format("  {:.4f}", r);
      }
      min_recall = std::min(min_recall, p.recall);
      max_share = std::max(max_share, bytes / ffn_bytes);
      fmt::print("{:>5} {:>9.4f} {:>6.3f} {:>5} {:>8.4f} {:>9.4f} {:>10.0f} {:>7.2f}%{}\n", l, p.sparsity, p.skew, p.rank, p.recall,
                 p.precision, bytes, 100 * bytes / ffn_bytes, corr);
    }
    fmt::print("lowest held-out recall {:.4f}; largest predictor {:.2f}% of its layer's FFN bytes", min_recall, 100 * max_share);
    if (planted_record) fmt::print("; lowest rank correlation with the planted frequencies {:.4f}", min_corr);
    fmt::print("\n");
    if (min_recall < cfg.trainer.target_recall)
      std::fprintf(stderr, "hearth calibrate: warning: some layers stay below the recall target %.3f on held-out tokens; "
                           "more text (--text) or samples (--samples) usually helps\n", cfg.trainer.target_recall);
    write_calibrated_model(*m, c, cfg, out, progress);
    bar.finish();
    fmt::print("wrote {}\n", out);
    const auto cm = model::load(out);  // what was written must load
    if (a.has("--report") || a.has("--gpuidx")) {
      const uint64_t budget = (uint64_t)(a.real("--vram-budget", "", 8.0) * 1073741824.0);
      if (a.has("--report")) fmt::print("report: {}\n", write_report(a.str("--report", "", "report"), *cm, budget));
      if (a.has("--gpuidx")) {
        const placement p = solve_placement(placement_input_for(*cm, budget, 4096));
        write_gpuidx(a.str("--gpuidx", "", ""), p, hp.n_ff, budget);
        fmt::print("gpuidx: {} ({:.1f}% of firings on the GPU, solved in {:.2f} ms)\n", a.str("--gpuidx", "", ""), 100 * p.gpu_firing_share, p.solve_ms);
      }
    }
  } catch (const error &e) {
    std::fprintf(stderr, "\nhearth calibrate: %s\n", e.what());
    return e.status() == HEARTH_ERR_CANCELLED ? 130 : 1;
  }
  return 0;
}

}  // namespace hearth::cli
