// hearth inspect: the file's metadata and tensors, then what the engine makes of it.
#include <algorithm>
#include <fmt/format.h>

#include <cstdio>
#include <map>

#include "commands.h"
#include "error.h"
#include "gguf.h"
#include "gpuidx.h"
#include "model.h"
#include "names.h"
#include "offload.h"
#include "report.h"

namespace hearth::cli {

int cmd_inspect(const args &a) {
  if (a.positional().empty()) {
    std::fprintf(stderr, "hearth inspect: MODEL is required\n");
    return 2;
  }
  const std::string path = a.positional()[0];
  std::unique_ptr<gguf_file> f;
  try {
    f = gguf_file::open(path);
  } catch (const error &e) {
    std::fprintf(stderr, "hearth inspect: %s\n", e.what());
    return 1;
  }
  fmt::print("file:      {}\nformat:    {} v{}, {} bytes, alignment {}\n", path, f->pwri() ? "PWRI (PowerInfer GGUF)" : "GGUF",
             f->version(), f->file_size(), f->alignment());
  fmt::print("metadata:  {} keys\n", f->kvs().size());
  for (const gguf_kv &kv : f->kvs()) {
    std::string v = kv.value.to_string();
    if (v.size() > 80) v = v.substr(0, 77) + "...";
    for (char &c : v)
      if (c == '\n') c = ' ';
    fmt::print("  {:<44} {:<7} {}\n", kv.key, gguf_type_name(kv.value.type), v);
  }
  uint64_t elems = 0, bytes = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;  // tensors, bytes
  fmt::print("tensors:   {}\n", f->tensors().size());
  for (const gguf_tensor &t : f->tensors()) {
    const std::string size = known(t.type) ? fmt::format("{:>12} bytes", t.size) : "  (size unknown)";
    fmt::print("  {:<36} {:<7} {:<22} {}\n", t.name, type_name(t.type), t.shape(), size);
    elems += (uint64_t)t.n_elements();
    bytes += t.size;
    auto &bt = by_type[type_name(t.type)];
    ++bt.first;
    bt.second += t.size;
  }
  fmt::print("parameters: {} ({:.3f} B), tensor data {:.2f} MiB\n", elems, elems / 1e9, bytes / 1048576.0);
  for (const auto &[name, tb] : by_type) fmt::print("  {:<8} {:>5} tensors {:>10.2f} MiB\n", name, tb.first, tb.second / 1048576.0);
  f.reset();
  try {
    const auto m = model::load(path);
    fmt::print("engine:    {}\n           bytes read per decoded token (dense): {:.1f} MiB\n", m->describe(),
               m->dense_bytes_per_token() / 1048576.0);
    if (const moe_spec &moe = m->hp().block.moe) {  // how often each expert is chosen, as recorded
      const bool calibrated = m->file().find(key_name(kv::hearth_calibration_expert_frequency, {}, 0)) != nullptr;
      for (int32_t l = 0; l < m->hp().n_layer; ++l) {
        std::vector<float> fe = recorded_expert_frequencies(m->file(), l);
        if ((int32_t)fe.size() != moe.n_expert) {
          if (l == 0) fmt::print("experts:   no record of how often each is chosen (`hearth calibrate` measures it)\n");
          break;
        }
        const std::vector<float> fn = recorded_frequencies(m->file(), l);
        double fired = 0, chosen = 0;
        if (fn.size() == fe.size() * (size_t)m->hp().n_ff)
          for (size_t i = 0; i < fn.size(); ++i) fired += (double)fe[i / (size_t)m->hp().n_ff] * fn[i], chosen += fe[i / (size_t)m->hp().n_ff];
        std::string line;
        for (size_t e = 0; e < fe.size(); ++e) line += fmt::format(" {}:{:.1f}%", e, 100 * fe[e]);
        if (l == 0) fmt::print("experts:   share of tokens choosing each ({}){}\n", calibrated ? "calibrated" : "planted",
                               chosen > 0 ? ", and the chosen experts' neurons that fire" : "");
        fmt::print("  layer {:<3}{}{}\n", l, line, chosen > 0 ? fmt::format("; neurons {:.1f}%", 100 * fired / chosen) : "");
      }
    }
    const uint64_t budget = (uint64_t)(a.real("--vram-budget", "", 8.0) * 1073741824.0);
    if (a.has("--report")) fmt::print("report:    {}\n", write_report(a.str("--report", "", "report"), *m, budget));
    if (a.has("--gpuidx")) {  // the solver's neuron split for the budget, as PowerInfer's GPU index
      const int32_t n_ctx = (int32_t)a.num("-c", "--ctx", std::min(m->hp().n_ctx_train, 4096));
      const placement p = solve_placement(placement_input_for(*m, budget, n_ctx));
      const std::string out = a.str("--gpuidx", "", "");
      write_gpuidx(out, p, m->hp().n_ff, budget);
      size_t neurons = 0;
      for (const placement_layer &l : p.layers) neurons += l.gpu_neurons.size();
      fmt::print("gpuidx:    {}: {} GPU neurons ({:.1f}% of firings) for {:.2f} GiB with a {}-token KV cache\n", out, neurons,
                 100 * p.gpu_firing_share, budget / 1073741824.0, n_ctx);
    }
  } catch (const error &e) {
    fmt::print("engine:    cannot run this file: {}\n", e.what());
  }
  return 0;
}

}  // namespace hearth::cli
