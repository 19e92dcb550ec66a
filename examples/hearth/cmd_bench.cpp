// hearth bench: prompt and generation speed, bytes read per token, achieved bandwidth as a fraction of the
// machine's read bandwidth measured in the same run, and peak RSS.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

#include "../../kernels/cpu/kernels.h"
#include "commands.h"
#include "error.h"
#include "membw.h"
#include "model.h"
#include "session.h"

namespace hearth::cli {

int cmd_bench(const args &a) {
  const std::string path = a.str("-m", "--model", "");
  if (path.empty()) {
    std::fprintf(stderr, "hearth bench: -m MODEL is required\n");
    return 2;
  }
  const int n_prompt = (int)a.num("-p", "--prompt-tokens", 64);
  const int n_gen = (int)a.num("-n", "--gen-tokens", 32);
  const int reps = std::max(1, (int)a.num("-r", "--reps", 3));
  session_config cfg;
  cfg.n_threads = (int)a.num("-t", "--threads", 0);
  cfg.n_ctx = n_prompt + n_gen + 8;
  cfg.n_batch = std::max(1, n_prompt);
  try {
    using clock = std::chrono::steady_clock;
    auto ms_since = [](clock::time_point t0) { return std::chrono::duration<double, std::milli>(clock::now() - t0).count(); };
    const auto m = model::load(path, false, true, nullptr, nullptr);
    session s(*m, cfg);
    const hparams &hp = m->hp();
    fmt::print("model:   {}\n", m->describe());
    fmt::print("machine: {} threads, kernels {}\n", s.n_threads(), cpu::kernels().isa);
    // The read-bandwidth probe runs before and after the timed runs on the same threads; the higher figure is
    // the denominator, so machine noise can only lower the reported fraction.
    const size_t probe = probe_bytes();
    const double bw_before = measure_read_bandwidth(probe, s.n_threads(), 5);

    std::vector<int32_t> prompt((size_t)n_prompt);
    for (int i = 0; i < n_prompt; ++i) prompt[(size_t)i] = 3 + (int32_t)((i * 7919u + 13u) % (uint32_t)(hp.n_vocab - 3));
    sampler_config greedy;
    greedy.temperature = 0;
    greedy.repeat_penalty = 1;
    s.smp().configure(greedy);
    s.eval(prompt.data(), std::min(n_prompt, 4), false);  // warm-up
    std::vector<double> pp_ms, tg_ms;
    size_t rss = 0;  // resident memory of the model runs, sampled after each (the probe's buffer is gone by then)
    for (int r = 0; r < reps; ++r) {
      s.reset();
      auto t0 = clock::now();
      s.eval(prompt.data(), n_prompt, false);
      pp_ms.push_back(ms_since(t0));
      t0 = clock::now();
      for (int i = 0; i < n_gen; ++i) {
        const int32_t t = s.sample();
        s.eval(&t, 1, false);
      }
      tg_ms.push_back(ms_since(t0));
      rss = std::max(rss, current_rss_bytes());
    }
    const double pp = n_prompt * 1000.0 * reps / std::accumulate(pp_ms.begin(), pp_ms.end(), 0.0);
    const double tg = n_gen * 1000.0 * reps / std::accumulate(tg_ms.begin(), tg_ms.end(), 0.0);
    // KV cache read per generated token, averaged over the positions the generation passed through.
    const double kv = 2.0 * hp.n_layer * hp.n_embd_kv() * sizeof(float) * (n_prompt + n_gen / 2.0);
    const double bytes = (double)m->bytes_per_token() + kv;
    const double achieved = bytes * tg;
    const double bw_after = measure_read_bandwidth(probe, s.n_threads(), 5);
    const double bw = std::max(bw_before, bw_after);
    fmt::print("prompt processing: {:5d} tokens  {:9.2f} tokens/s\n", n_prompt, pp);
    fmt::print("generation:        {:5d} tokens  {:9.2f} tokens/s  ({:.1f} ms/token)\n", n_gen, tg, 1000.0 / tg);
    fmt::print("bytes read per generated token: {:.1f} MiB (weights {:.1f} MiB + KV {:.1f} MiB)\n", bytes / 1048576.0,
               m->bytes_per_token() / 1048576.0, kv / 1048576.0);
    fmt::print("memory read bandwidth (measured, {} threads, best of 5 reads of {:.1f} GiB): {:.2f} GB/s before, {:.2f} GB/s after\n",
               s.n_threads(), probe / 1073741824.0, bw_before / 1e9, bw_after / 1e9);
    fmt::print("achieved bandwidth: {:.2f} GB/s = {:.1f}% of the higher measured read bandwidth\n", achieved / 1e9, 100.0 * achieved / bw);
    fmt::print("peak RSS of the model runs: {:.1f} MiB (model file {:.1f} MiB, mapped)\n", rss / 1048576.0,
               m->file().file_size() / 1048576.0);
  } catch (const error &e) {
    std::fprintf(stderr, "hearth bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace hearth::cli
