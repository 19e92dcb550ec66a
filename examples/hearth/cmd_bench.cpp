// hearth bench: dense and sparse FFNs side by side in one run: prompt and generation speed, neurons computed,
// weight bytes read per token, achieved bandwidth as a fraction of the machine's read bandwidth measured in the
// same run, predictor time share, peak RSS, and optionally greedy-token agreement of sparse with dense.
// With --vram-budget (GiB) two GPU columns join: dense layer offload (whole layers while the budget lasts, as
// llama.cpp's -ngl) and the hybrid executor, with the bytes each side reads per token, the bound the host's and
// the GPU's measured bandwidths give for them, the GPU's share of the computed neurons, and the achieved
// bandwidth of the sparse GPU kernels against a device-to-device copy. A mixture of experts adds a third: attention
// on the GPU and every expert on the CPU (llama.cpp's -ngl 99 -ot exps=CPU, --n-cpu-moe), under the same budget.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "../../kernels/cpu/kernels.h"
#include "commands.h"
#include "dtype.h"
#include "error.h"
#include "membw.h"
#include "model.h"
#include "offload.h"
#include "session.h"

namespace hearth::cli {
namespace {

using clock_type = std::chrono::steady_clock;
double ms_since(clock_type::time_point t0) { return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count(); }

struct result {
  std::vector<double> pp_ms, tg_ms;
  double active = 0, bytes = 0, gpu_bytes = 0, gpu_share = 0, predictor_share = 0;
  sparse_stats last;  // of the last generation run
};

int32_t argmax(const float *l, int32_t n) { return (int32_t)(std::max_element(l, l + n) - l); }

// One repetition, as llama-bench runs its pp and tg tests: the prompt as one batch after `depth` tokens of context
// (untimed, llama-bench -d), then, from the same `depth` tokens (the prompt truncated away), n greedy one-token
// steps (the first feeds the prompt's first token). Generation so runs at llama-bench's context, not after the prompt.
void run_once(session &s, const std::vector<int32_t> &context, const std::vector<int32_t> &prompt, int n_gen, result &r) {
  s.reset();
  if (!context.empty()) s.eval(context.data(), (int32_t)context.size(), false);
  auto t0 = clock_type::now();
  s.eval(prompt.data(), (int32_t)prompt.size(), false);
  r.pp_ms.push_back(ms_since(t0));
  s.truncate((int32_t)context.size());  // back to the context: its KV rows are as they were before the prompt
  s.reset_stats();
  t0 = clock_type::now();
  int32_t t = prompt[0];
  for (int i = 0; i < n_gen; ++i) {
    s.eval(&t, 1, false);
    t = s.sample();
  }
  r.tg_ms.push_back(ms_since(t0));
  const sparse_stats &st = s.stats();
  r.active = st.neurons ? (double)st.active / (double)st.neurons : 0;
  r.bytes = st.decode_tokens ? st.decode_bytes / (double)st.decode_tokens : 0;
  r.gpu_bytes = st.decode_tokens ? st.gpu_decode_bytes / (double)st.decode_tokens : 0;
  r.gpu_share = st.active ? (double)st.gpu_active / (double)st.active : 0;
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

// The sparse GPU kernels alone on the layer with the most hot neurons: gate/up over rows of which `share` are
// active, then the down axpy, timed over many launches. Returns the bytes of active rows read per second.
double probe_sparse_kernels(const offload &o, const hparams &hp, double share) {
  const offload_layer *best = nullptr;
  for (const offload_layer &l : o.layers())
    if (l.down_t && (!best || l.n_hot > best->n_hot)) best = &l;
  if (!best || best->n_hot == 0) return 0;
  device &dev = o.dev();
  const int64_t K = best->n_hot, d = hp.n_embd, ff = hp.n_ff;
  std::vector<float> x((size_t)d), logits((size_t)ff), orig_rows;
  for (int64_t i = 0; i < d; ++i) x[(size_t)i] = (float)((i * 37 % 101) - 50) / 50.0f;
  for (int64_t i = 0; i < ff; ++i) logits[(size_t)i] = ((i * 7919) % 1000) < share * 1000 ? 1.0f : -1.0f;
  device_buffer dx(dev, (size_t)d * 4), dl(dev, (size_t)ff * 4), da(dev, (size_t)K * 4), dy(dev, (size_t)d * 4),
      ds(dev, hot_down_scratch(1, d) * 4);
  if (!dx || !dl || !da || !dy || !ds || !dev.upload_now(dx.get(), x.data(), x.size() * 4) ||
      !dev.upload_now(dl.get(), logits.data(), logits.size() * 4))
    return 0;
  auto st = dev.make_stream();
  auto pass = [&] {
    st->hot_gate_up(best->gate, best->up, best->bgate, best->bup, hp.block.ffn, dx.get<float>(), 1, dl.get<float>(), (int32_t)ff,
                    best->orig, 0.0f, da.get<float>());
    st->hot_down(best->down_t, da.get<float>(), 1, ds.get<float>(), dy.get<float>());
  };
  pass();
  st->sync();
  const int reps = 50;
  const auto t0 = clock_type::now();
  for (int r = 0; r < reps; ++r) pass();
  st->sync();
  const double s = ms_since(t0) / 1000.0;
  // the rows read: every hot row's logit, the active rows' gate, up and down rows
  int64_t active = 0;
  std::vector<int32_t> orig((size_t)K);
  st->download(orig.data(), best->orig, (size_t)K * 4);
  st->sync();
  for (int32_t i : orig) active += logits[(size_t)i] >= 0.0f;
  return s > 0 ? (double)active * (double)best->neuron_bytes * reps / s : 0;
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
  const int depth = std::max(0, (int)a.num("--ctx", "", 0));
  const std::string out_format = a.str("-o", "--output", "text");
  if (out_format != "text" && out_format != "md" && out_format != "csv" && out_format != "json") {
    std::fprintf(stderr, "hearth bench: -o must be text, md, csv or json\n");
    return 2;
  }
  session_config cfg;
  cfg.n_threads = (int)a.num("-t", "--threads", 0);
  cfg.n_ctx = depth + n_prompt + std::max(n_gen, n_agree) + 8;
  cfg.n_batch = n_prompt;
  try {
    cfg.type_k = kv_dtype(a.str("-ctk", "--cache-type-k", "f16"));
    cfg.type_v = kv_dtype(a.str("-ctv", "--cache-type-v", "f16"));
    model_config mc;
    mc.prefault = true;
    mc.repack = !a.has("--no-repack");
    const auto m = model::load(path, mc);
    const hparams &hp = m->hp();
    cfg.sparse_mode = HEARTH_SPARSE_DENSE;
    auto dense = std::make_unique<session>(*m, cfg);
    cfg.sparse_mode = parse_sparse_mode(a.str("--sparse", "", "auto"));
    std::unique_ptr<session> sparse;
    if (resolve_sparse_mode(cfg.sparse_mode, *m, false) != sparse_mode::dense) sparse = std::make_unique<session>(*m, cfg);
    // Machine-readable output (-o csv|json) keeps stdout to the table; what would precede it goes to stderr.
    const bool text = out_format == "text" || out_format == "md";
    FILE *info = text ? stdout : stderr;
    fmt::print(info, "model:   {}\n", m->describe());
    fmt::print(info, "machine: {} threads, kernels {}; KV cache K {} V {}; context before the prompt and the generation {}\n", dense->n_threads(),
               cpu::kernels().isa, type_name(cfg.type_k), type_name(cfg.type_v), depth);
    {
      std::string types;
      for (const auto &[t, b] : m->dense_bytes_by_type())
        types += fmt::format("{}{} {:.1f} MiB", types.empty() ? "" : ", ", type_name(t), b / 1048576.0);
      fmt::print(info, "weights: {:.1f} MiB read per token (dense) by type: {}\n", m->dense_bytes_per_token() / 1048576.0, types);
      fmt::print(info, "         {:.1f} MiB repacked into row groups at load{}\n", m->repacked_bytes() / 1048576.0,
                 mc.repack ? "" : " (--no-repack)");
    }
    // The read-bandwidth probe runs before and after the timed runs on the same threads; the higher figure is
    // the denominator, so machine noise can only lower the reported fraction.
    const size_t probe = probe_bytes();
    const double bw_before = measure_read_bandwidth(probe, dense->n_threads(), 5);

    // GPU columns: the same file loaded twice more, once per offload mode, under the same budget.
    // -ngl N (llama-bench's) caps the layer-offload column at N layers and brings the GPU columns without a
    // budget (then the device's free memory); -ngl 0 leaves that column out.
    const uint64_t budget = parse_vram_budget(a);
    const gpu_layers_option ngl = parse_gpu_layers(a);
    std::shared_ptr<const model> m_layers, m_hybrid, m_attn;
    std::unique_ptr<session> layers, hybrid, attn;
    double gpu_bw = 0;
    if (budget > 0 || ngl.given) {
      std::string why;
      if (auto dev = open_device(&why)) {
        gpu_bw = dev->copy_bandwidth(size_t(256) << 20);
        fmt::print(info, "device:  {}, device-to-device copy {:.1f} GB/s\n", dev->name(), gpu_bw / 1e9);
      } else {
        fmt::print(info, "device:  none ({}): the GPU columns are left out\n", why);
      }
      model_config gc;
      gc.repack = mc.repack;
      gc.offload.budget = budget;
      gc.offload.n_ctx = cfg.n_ctx;
      gc.offload.cpu_bandwidth = bw_before;
      gc.offload.gpu_bandwidth = gpu_bw;
      gc.offload.mode = (int32_t)(gpu_bw > 0 && !ngl.cpu ? offload_mode::layers : offload_mode::none);
      gc.offload.max_layers = ngl.cap;
      m_layers = model::load(path, gc);
      gc.offload.max_layers = 0;
      if (hp.block.moe) {
        gc.offload.mode = (int32_t)(gpu_bw > 0 ? offload_mode::attention : offload_mode::none);
        m_attn = model::load(path, gc);
      }
      gc.offload.mode = (int32_t)(gpu_bw > 0 ? offload_mode::hybrid : offload_mode::none);
      gc.offload.gpuidx = a.str("--gpuidx", "", "");
      m_hybrid = model::load(path, gc);
      if (m_layers->gpu()) {
        cfg.sparse_mode = HEARTH_SPARSE_DENSE;
        layers = std::make_unique<session>(*m_layers, cfg);
        fmt::print(info, "layers:  {}\n", m_layers->gpu()->describe());
      }
      if (m_attn && m_attn->gpu()) {
        cfg.sparse_mode = HEARTH_SPARSE_DENSE;
        attn = std::make_unique<session>(*m_attn, cfg);
        fmt::print(info, "experts on the CPU: {}\n", m_attn->gpu()->describe());
      }
      if (m_hybrid->gpu()) {
        cfg.sparse_mode = parse_sparse_mode(a.str("--sparse", "", "auto"));
        hybrid = std::make_unique<session>(*m_hybrid, cfg);
        fmt::print(info, "hybrid:  {}, FFN {}\n", m_hybrid->gpu()->describe(), sparse_mode_name(hybrid->mode()));
      }
    }

    std::vector<int32_t> prompt((size_t)n_prompt), context((size_t)depth);
    for (int i = 0; i < n_prompt; ++i) prompt[(size_t)i] = 3 + (int32_t)((i * 7919u + 13u) % (uint32_t)(hp.n_vocab - 3));
    for (int i = 0; i < depth; ++i) context[(size_t)i] = 3 + (int32_t)((i * 104729u + 7u) % (uint32_t)(hp.n_vocab - 3));
    sampler_config greedy;
    greedy.temperature = 0;
    greedy.repeat_penalty = 1;
    std::vector<session *> sessions = {dense.get()};
    if (sparse) sessions.push_back(sparse.get());
    const size_t n_cpu = sessions.size(), none = (size_t)-1;
    const size_t kl = layers ? sessions.size() : none;
    if (layers) sessions.push_back(layers.get());
    const size_t ka = attn ? sessions.size() : none;
    if (attn) sessions.push_back(attn.get());
    const size_t kh = hybrid ? sessions.size() : none;
    if (hybrid) sessions.push_back(hybrid.get());
    for (session *s : sessions) {
      s->smp().configure(greedy);
      s->eval(prompt.data(), std::min(n_prompt, 4), false);  // warm-up
    }
    std::vector<result> res(sessions.size());
    size_t rss = 0;  // resident memory of the model runs, sampled after each (the probe's buffer is gone by then)
    for (int r = 0; r < reps; ++r)  // interleaved, so drift in machine speed hits both alike
      for (size_t k = 0; k < sessions.size(); ++k) {
        run_once(*sessions[k], context, prompt, n_gen, res[k]);
        rss = std::max(rss, current_rss_bytes());
      }
    const double bw_after = measure_read_bandwidth(probe, dense->n_threads(), 5);
    const double bw = std::max(bw_before, bw_after);
    // KV bytes a generated token reads: every cached position's key and value row, at the middle of the run
    const double kv = (double)hp.n_layer * (double)(row_bytes(cfg.type_k, hp.n_embd_kv()) + row_bytes(cfg.type_v, hp.n_embd_kv())) *
                      (depth + n_gen / 2.0);
    // Per column: the share of the KV cache that lives on the GPU (layers whose attention is there).
    auto kv_gpu = [&](size_t k) {
      const offload *o = sessions[k]->hybrid() ? sessions[k]->mdl().gpu() : nullptr;
      return o ? kv * o->n_attention_layers() / hp.n_layer : 0.0;
    };
    // The time per token the two bandwidths allow for the bytes each side reads (the CPU's and the GPU's parts of
    // a layer run one after the other except the FFN halves, so this sum is within that overlap of the bound).
    auto bound_ms = [&](size_t k) {
      const double g = res[k].gpu_bytes + kv_gpu(k), c = res[k].bytes + kv - g;
      return 1000.0 * (c / bw + (g > 0 && gpu_bw > 0 ? g / gpu_bw : 0.0));
    };

    auto rate = [&](const std::vector<double> &ms, int n) { return n * 1000.0 * (double)ms.size() / std::accumulate(ms.begin(), ms.end(), 0.0); };
    std::vector<std::string> cols = {"dense"};
    if (sparse) cols.push_back(sparse_mode_name(sparse->mode()));
    if (layers) cols.push_back("GPU layers, dense");
    if (attn) cols.push_back("experts on the CPU");
    if (hybrid) cols.push_back("hybrid");
    // Every figure as a row: a key (csv/json), a label (text/md), a value per column, and how the text shows it.
    struct row_t {
      std::string key, label, fmt, unit;
      std::vector<double> v;
    };
    std::vector<row_t> rows;
    auto row = [&](std::string key, std::string label, std::string f, std::string unit, auto value) {
      row_t r{std::move(key), std::move(label), std::move(f), std::move(unit), {}};
      for (size_t k = 0; k < cols.size(); ++k) r.v.push_back(value(k));
      rows.push_back(std::move(r));
    };
    const bool gpu_cols = sessions.size() > n_cpu;
    auto per_token = [&](size_t k, double ms) { return ms / (double)std::max<uint64_t>(1, res[k].last.decode_tokens); };
    row("pp_tokens_per_s", fmt::format("prompt tokens/s ({} tokens)", n_prompt), "{:.2f}", "", [&](size_t k) { return rate(res[k].pp_ms, n_prompt); });
    row("tg_tokens_per_s", fmt::format("generation tokens/s ({} tokens)", n_gen), "{:.2f}", "", [&](size_t k) { return rate(res[k].tg_ms, n_gen); });
    row("ffn_neurons_computed_pct", "FFN neurons computed", "{:.1f}", "%", [&](size_t k) { return 100 * res[k].active; });
    row("weight_mib_per_token", "weight bytes read per token", "{:.1f}", " MiB", [&](size_t k) { return res[k].bytes / 1048576.0; });
    row("kv_mib_per_token", "  + KV cache read per token", "{:.1f}", " MiB", [&](size_t) { return kv / 1048576.0; });
    row("achieved_gb_per_s", "achieved bandwidth", "{:.2f}", " GB/s", [&](size_t k) { return (res[k].bytes + kv) * rate(res[k].tg_ms, n_gen) / 1e9; });
    row("of_read_bandwidth_pct", "  of measured read bandwidth", "{:.1f}", "%", [&](size_t k) { return 100 * (res[k].bytes + kv) * rate(res[k].tg_ms, n_gen) / bw; });
    if (gpu_cols) {
      row("gpu_mib_per_token", "  of which the GPU read", "{:.1f}", " MiB", [&](size_t k) { return res[k].gpu_bytes / 1048576.0; });
      row("gpu_neuron_share_pct", "computed neurons on the GPU", "{:.1f}", "%", [&](size_t k) { return 100 * res[k].gpu_share; });
      row("bound_ms_per_token", "bandwidth bound per token", "{:.2f}", " ms", [&](size_t k) { return bound_ms(k); });
      row("bound_reached_pct", "  reached", "{:.1f}", "%", [&](size_t k) { return bound_ms(k) * rate(res[k].tg_ms, n_gen) / 10.0; });
    }
    row("predictor_share_pct", "predictor time share", "{:.1f}", "%", [&](size_t k) { return 100 * res[k].predictor_share; });
    row("attention_ms_per_token", "generation time per token: attention", "{:.2f}", " ms", [&](size_t k) { return per_token(k, res[k].last.attention_ms); });
    row("masks_ms_per_token", "  masks (predictor or dense gate)", "{:.2f}", " ms", [&](size_t k) { return per_token(k, res[k].last.mask_ms); });
    row("ffn_ms_per_token", "  FFN", "{:.2f}", " ms", [&](size_t k) { return per_token(k, res[k].last.ffn_ms); });
    row("output_ms_per_token", "  output", "{:.2f}", " ms", [&](size_t k) { return per_token(k, res[k].last.output_ms); });
    if (gpu_cols) row("gpu_wait_ms_per_token", "  of all: waiting for the GPU", "{:.2f}", " ms", [&](size_t k) { return per_token(k, res[k].last.gpu_wait_ms); });

    // Single figures after the table: (key, value, the sentence text and md show).
    std::vector<std::tuple<std::string, double, std::string>> notes;
    notes.emplace_back("read_bandwidth_before_gb_per_s", bw_before / 1e9, "");
    notes.emplace_back("read_bandwidth_after_gb_per_s", bw_after / 1e9,
                       fmt::format("memory read bandwidth (measured, {} threads, best of 5 reads of {:.1f} GiB): {:.2f} GB/s before, {:.2f} GB/s after",
                                   dense->n_threads(), probe / 1073741824.0, bw_before / 1e9, bw_after / 1e9));
    notes.emplace_back("peak_rss_mib", rss / 1048576.0,
                       fmt::format("peak RSS of the model runs: {:.1f} MiB (model file {:.1f} MiB, mapped)", rss / 1048576.0,
                                   m->file().file_size() / 1048576.0));
    if (sparse) {
      const double speedup = rate(res[1].tg_ms, n_gen) / rate(res[0].tg_ms, n_gen);
      const double ideal = (res[0].bytes + kv) / (res[1].bytes + kv);
      notes.emplace_back("sparse_ideal_speedup", ideal, "");
      notes.emplace_back("sparse_speedup", speedup, fmt::format("sparse / dense generation: {:.2f}x (ideal from bytes read: {:.2f}x)", speedup, ideal));
      if (n_agree > 0) {
        const double ag = 100 * agreement(*dense, *sparse, prompt, n_agree);
        notes.emplace_back("greedy_agreement_pct", ag, fmt::format("greedy agreement with dense over {} positions: {:.1f}%", n_agree, ag));
      }
    }
    if (kh != none) {
      const double tg_h = rate(res[kh].tg_ms, n_gen);
      if (kl != none) {
        const double x = tg_h / rate(res[kl].tg_ms, n_gen);
        notes.emplace_back("hybrid_over_gpu_layers", x, fmt::format("hybrid / GPU layers (dense) generation: {:.2f}x", x));
      }
      if (ka != none) {
        const double x = tg_h / rate(res[ka].tg_ms, n_gen);
        notes.emplace_back("hybrid_over_experts_on_cpu", x, fmt::format("hybrid / experts on the CPU generation: {:.2f}x", x));
      }
      const double xc = tg_h / rate(res[sparse ? 1 : 0].tg_ms, n_gen);
      notes.emplace_back("hybrid_over_cpu", xc, fmt::format("hybrid / CPU {} generation: {:.2f}x", sparse ? sparse_mode_name(sparse->mode()) : "dense", xc));
      notes.emplace_back("hybrid_bound_reached_pct", bound_ms(kh) * tg_h / 10.0,
                         fmt::format("hybrid: {:.1f}% of the bound from the host's {:.1f} GB/s and the GPU's {:.1f} GB/s",
                                     bound_ms(kh) * tg_h / 10.0, bw / 1e9, gpu_bw / 1e9));
      // the share of hot rows active per token in the hybrid run, for the kernel probe
      const double hot = (double)m_hybrid->gpu()->n_hot_neurons();
      const sparse_stats &hs = res[kh].last;
      const double share = hot > 0 && hs.decode_tokens ? std::min(1.0, (double)hs.gpu_active / (double)hs.decode_tokens / hot) : 0.0;
      const double kbw = probe_sparse_kernels(*m_hybrid->gpu(), hp, share);
      if (kbw > 0)
        notes.emplace_back("sparse_gpu_kernels_gb_per_s", kbw / 1e9,
                           fmt::format("sparse GPU kernels (gate/up + down over one layer's hot table, {:.0f}% of rows active): {:.1f} GB/s of "
                                       "active rows, {:.1f}% of the device-to-device copy", 100 * share, kbw / 1e9, 100 * kbw / gpu_bw));
    }
    // A model the last-level cache can hold is partly read from the cache between tokens: its "bandwidth" may
    // exceed the memory's (a 1B model once showed 118%).
    std::string llc_warning;
    if (const size_t llc = last_level_cache_bytes(); llc > 0 && m->weight_bytes() < 2 * (uint64_t)llc)
      llc_warning = fmt::format("warning: the model's {:.1f} MiB of weights are less than twice the {:.1f} MiB last-level cache: part of "
                                "each token's reads can come from the cache, so the bandwidth figures above overstate memory traffic; "
                                "a larger model measures the memory", m->weight_bytes() / 1048576.0, llc / 1048576.0);

    auto cell = [](const row_t &r, size_t k) { return fmt::format(fmt::runtime(r.fmt), r.v[k]) + r.unit; };
    if (out_format == "text") {
      fmt::print("\n{:<38}", "");
      for (const std::string &c : cols) fmt::print("{:>22}", c);
      fmt::print("\n");
      for (const row_t &r : rows) {
        std::string line = fmt::format("{:<38}", r.label);
        for (size_t k = 0; k < cols.size(); ++k) line += fmt::format("{:>22}", cell(r, k));
        fmt::print("{}\n", line);
      }
    } else if (out_format == "md") {
      fmt::print("\n| |");
      for (const std::string &c : cols) fmt::print(" {} |", c);
      fmt::print("\n| --- |");
      for (size_t k = 0; k < cols.size(); ++k) fmt::print(" --- |");
      fmt::print("\n");
      for (const row_t &r : rows) {
        std::string label = r.label;
        label.erase(0, label.find_first_not_of(' '));
        fmt::print("| {} |", label);
        for (size_t k = 0; k < cols.size(); ++k) fmt::print(" {} |", cell(r, k));
        fmt::print("\n");
      }
      fmt::print("\n");
    }
    if (text) {
      for (const auto &[key, value, sentence] : notes)
        if (!sentence.empty()) fmt::print("{}\n", sentence);
      if (!llc_warning.empty()) fmt::print("{}\n", llc_warning);
    } else {
      if (!llc_warning.empty()) fmt::print(stderr, "{}\n", llc_warning);
      const std::string model_name = m->describe();
      if (out_format == "csv") {  // one line per column (a run's configuration), llama-bench style
        std::string header = "model,isa,threads,type_k,type_v,ctx,n_prompt,n_gen,column";
        for (const row_t &r : rows) header += "," + r.key;
        for (const auto &[key, value, sentence] : notes) header += "," + key;
        fmt::print("{}\n", header);
        for (size_t k = 0; k < cols.size(); ++k) {
          std::string line = fmt::format("\"{}\",{},{},{},{},{},{},{},\"{}\"", model_name, cpu::kernels().isa, dense->n_threads(),
                                         type_name(cfg.type_k), type_name(cfg.type_v), depth, n_prompt, n_gen, cols[k]);
          for (const row_t &r : rows) line += fmt::format(",{:.6g}", r.v[k]);
          for (const auto &[key, value, sentence] : notes) line += fmt::format(",{:.6g}", value);
          fmt::print("{}\n", line);
        }
      } else {
        nlohmann::ordered_json j;
        j["model"] = model_name;
        j["isa"] = cpu::kernels().isa;
        j["threads"] = dense->n_threads();
        j["type_k"] = type_name(cfg.type_k);
        j["type_v"] = type_name(cfg.type_v);
        j["ctx"] = depth;
        j["n_prompt"] = n_prompt;
        j["n_gen"] = n_gen;
        j["reps"] = reps;
        nlohmann::ordered_json columns = nlohmann::ordered_json::array();
        for (size_t k = 0; k < cols.size(); ++k) {
          nlohmann::ordered_json c;
          c["column"] = cols[k];
          for (const row_t &r : rows) c[r.key] = r.v[k];
          c["pp_ms"] = res[k].pp_ms;
          c["tg_ms"] = res[k].tg_ms;
          columns.push_back(std::move(c));
        }
        j["columns"] = std::move(columns);
        for (const auto &[key, value, sentence] : notes) j[key] = value;
        fmt::print("{}\n", j.dump(2));
      }
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "hearth bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace hearth::cli
