// hearth bench: dense and sparse FFNs side by side in one run: prompt and generation speed, neurons computed,
// weight bytes read per token, achieved bandwidth as a fraction of the machine's read bandwidth measured in the
// same run, predictor time share, peak RSS, and optionally greedy-token agreement of sparse with dense.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <vector>

#include "../../kernels/cpu/kernels.h"
#include "commands.h"
#include "error.h"
#include "membw.h"
#include "model.h"
#include "session.h"

namespace hearth::cli {
namespace {

using clock_type = std::chrono::steady_clock;
double ms_since(clock_type::time_point t0) { return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count(); }

struct result {
  std::vector<double> pp_ms, tg_ms;
  double active = 0, bytes = 0, predictor_share = 0;
  sparse_stats last;  // of the last generation run
};

int32_t argmax(const float *l, int32_t n) { return (int32_t)(std::max_element(l, l + n) - l); }

// One repetition: the prompt as one batch, then n greedy one-token steps.
void run_once(session &s, const std::vector<int32_t> &prompt, int n_gen, result &r) {
  s.reset();
  auto t0 = clock_type::now();
  s.eval(prompt.data(), (int32_t)prompt.size(), false);
  r.pp_ms.push_back(ms_since(t0));
  s.reset_stats();
  t0 = clock_type::now();
  for (int i = 0; i < n_gen; ++i) {
    const int32_t t = s.sample();
    s.eval(&t, 1, false);
  }
  r.tg_ms.push_back(ms_since(t0));
  const sparse_stats &st = s.stats();
  r.active = st.neurons ? (double)st.active / (double)st.neurons : 0;
  r.bytes = s.non_ffn_bytes() + (st.decode_tokens ? st.decode_bytes / (double)st.decode_tokens : 0);
  r.predictor_share = st.step_ms > 0 ? st.predictor_ms / st.step_ms : 0;
  r.last = st;
}

// Teacher-forced agreement: the share of positions where the sparse session's greedy token equals the dense
// session's, both fed the dense greedy continuation (so one disagreement does not derail the rest).
double agreement(session &dense, session &sparse, const std::vector<int32_t> &prompt, int n) {
  const int32_t nv = dense.mdl().hp().n_vocab;
  dense.reset();
  sparse.reset();
  dense.eval(prompt.data(), (int32_t)prompt.size(), false);
  sparse.eval(prompt.data(), (int32_t)prompt.size(), false);
  int same = 0;
  for (int i = 0; i < n; ++i) {
    const int32_t t = argmax(dense.logits(-1), nv);
    same += argmax(sparse.logits(-1), nv) == t;
    dense.eval(&t, 1, false);
    sparse.eval(&t, 1, false);
  }
  return (double)same / n;
}

}  // namespace

int cmd_bench(const args &a) {
  const std::string path = a.str("-m", "--model", "");
  if (path.empty()) {
    std::fprintf(stderr, "hearth bench: -m MODEL is required\n");
    return 2;
  }
  const int n_prompt = std::max(1, (int)a.num("-p", "--prompt-tokens", 64));
  const int n_gen = std::max(1, (int)a.num("-n", "--gen-tokens", 32));
  const int reps = std::max(1, (int)a.num("-r", "--reps", 3));
  const int n_agree = std::max(0, (int)a.num("--agreement", "", 0));
  session_config cfg;
  cfg.n_threads = (int)a.num("-t", "--threads", 0);
  cfg.n_ctx = n_prompt + std::max(n_gen, n_agree) + 8;
  cfg.n_batch = n_prompt;
  try {
    const auto m = model::load(path, false, true, nullptr, nullptr);
    const hparams &hp = m->hp();
    cfg.sparse_mode = HEARTH_SPARSE_DENSE;
    auto dense = std::make_unique<session>(*m, cfg);
    cfg.sparse_mode = parse_sparse_mode(a.str("--sparse", "", "auto"));
    std::unique_ptr<session> sparse;
    if (resolve_sparse_mode(cfg.sparse_mode, *m) != sparse_mode::dense) sparse = std::make_unique<session>(*m, cfg);
    fmt::print("model:   {}\n", m->describe());
    fmt::print("machine: {} threads, kernels {}\n", dense->n_threads(), cpu::kernels().isa);
    // The read-bandwidth probe runs before and after the timed runs on the same threads; the higher figure is
    // the denominator, so machine noise can only lower the reported fraction.
    const size_t probe = probe_bytes();
    const double bw_before = measure_read_bandwidth(probe, dense->n_threads(), 5);

    std::vector<int32_t> prompt((size_t)n_prompt);
    for (int i = 0; i < n_prompt; ++i) prompt[(size_t)i] = 3 + (int32_t)((i * 7919u + 13u) % (uint32_t)(hp.n_vocab - 3));
    sampler_config greedy;
    greedy.temperature = 0;
    greedy.repeat_penalty = 1;
    std::vector<session *> sessions = {dense.get()};
    if (sparse) sessions.push_back(sparse.get());
    for (session *s : sessions) {
      s->smp().configure(greedy);
      s->eval(prompt.data(), std::min(n_prompt, 4), false);  // warm-up
    }
    std::vector<result> res(sessions.size());
    size_t rss = 0;  // resident memory of the model runs, sampled after each (the probe's buffer is gone by then)
    for (int r = 0; r < reps; ++r)  // interleaved, so drift in machine speed hits both alike
      for (size_t k = 0; k < sessions.size(); ++k) {
        run_once(*sessions[k], prompt, n_gen, res[k]);
        rss = std::max(rss, current_rss_bytes());
      }
    const double bw_after = measure_read_bandwidth(probe, dense->n_threads(), 5);
    const double bw = std::max(bw_before, bw_after);
    const double kv = 2.0 * hp.n_layer * hp.n_embd_kv() * sizeof(float) * (n_prompt + n_gen / 2.0);

    auto rate = [&](const std::vector<double> &ms, int n) { return n * 1000.0 * (double)ms.size() / std::accumulate(ms.begin(), ms.end(), 0.0); };
    std::vector<std::string> cols = {"dense"};
    if (sparse) cols.push_back(sparse_mode_name(sparse->mode()));
    auto row = [&](const char *label, auto cell) {
      std::string line = fmt::format("{:<34}", label);
      for (size_t k = 0; k < cols.size(); ++k) line += fmt::format("{:>22}", cell(k));
      fmt::print("{}\n", line);
    };
    fmt::print("\n{:<34}", "");
    for (const std::string &c : cols) fmt::print("{:>22}", c);
    fmt::print("\n");
    row(fmt::format("prompt tokens/s ({} tokens)", n_prompt).c_str(), [&](size_t k) { return fmt::format("{:.2f}", rate(res[k].pp_ms, n_prompt)); });
    row(fmt::format("generation tokens/s ({} tokens)", n_gen).c_str(), [&](size_t k) { return fmt::format("{:.2f}", rate(res[k].tg_ms, n_gen)); });
    row("FFN neurons computed", [&](size_t k) { return fmt::format("{:.1f}%", 100 * res[k].active); });
    row("weight bytes read per token", [&](size_t k) { return fmt::format("{:.1f} MiB", res[k].bytes / 1048576.0); });
    row("  + KV cache read per token", [&](size_t) { return fmt::format("{:.1f} MiB", kv / 1048576.0); });
    row("achieved bandwidth", [&](size_t k) { return fmt::format("{:.2f} GB/s", (res[k].bytes + kv) * rate(res[k].tg_ms, n_gen) / 1e9); });
    row("  of measured read bandwidth", [&](size_t k) { return fmt::format("{:.1f}%", 100 * (res[k].bytes + kv) * rate(res[k].tg_ms, n_gen) / bw); });
    row("predictor time share", [&](size_t k) { return fmt::format("{:.1f}%", 100 * res[k].predictor_share); });
    auto per_token = [&](size_t k, double ms) { return fmt::format("{:.2f} ms", ms / (double)std::max<uint64_t>(1, res[k].last.decode_tokens)); };
    row("generation time per token: attention", [&](size_t k) { return per_token(k, res[k].last.attention_ms); });
    row("  masks (predictor or dense gate)", [&](size_t k) { return per_token(k, res[k].last.mask_ms); });
    row("  FFN", [&](size_t k) { return per_token(k, res[k].last.ffn_ms); });
    row("  output", [&](size_t k) { return per_token(k, res[k].last.output_ms); });
    fmt::print("memory read bandwidth (measured, {} threads, best of 5 reads of {:.1f} GiB): {:.2f} GB/s before, {:.2f} GB/s after\n",
               dense->n_threads(), probe / 1073741824.0, bw_before / 1e9, bw_after / 1e9);
    fmt::print("peak RSS of the model runs: {:.1f} MiB (model file {:.1f} MiB, mapped)\n", rss / 1048576.0, m->file().file_size() / 1048576.0);
    if (sparse) {
      const double speedup = rate(res[1].tg_ms, n_gen) / rate(res[0].tg_ms, n_gen);
      const double ideal = (res[0].bytes + kv) / (res[1].bytes + kv);
      fmt::print("sparse / dense generation: {:.2f}x (ideal from bytes read: {:.2f}x)\n", speedup, ideal);
      if (n_agree > 0)
        fmt::print("greedy agreement with dense over {} positions: {:.1f}%\n", n_agree, 100 * agreement(*dense, *sparse, prompt, n_agree));
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "hearth bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace hearth::cli
