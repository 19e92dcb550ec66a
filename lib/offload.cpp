#include "offload.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "error.h"
#include "gpuidx.h"
#include "log.h"
#include "names.h"
#include "utf8.h"

namespace hearth {
namespace {

constexpr double k_gib = 1024.0 * 1024.0 * 1024.0;

// A layer's FFN neurons as the placement counts them: a mixture's are its experts', expert-major.
int64_t layer_neurons(const model &m) { return (int64_t)m.hp().n_ff * std::max<int32_t>(1, m.hp().block.moe.n_expert); }

// The weight bytes of a layer's whole FFN (a mixture: every expert; its router and shared expert stay on the CPU).
uint64_t ffn_bytes_of(const layer &L) {
  if (!L.moe) return L.ffn_bytes();
  uint64_t b = 0;
  for (const ffn_weights &e : L.moe.experts) b += e.bytes();
  return b;
}

// llama.cpp's -ngl: whole layers from the first while they fit, then the output matrix. With `ffn` false only
// the attention units (the attention mode).
placement plan_layers(const model &m, const placement_input &in, bool ffn, int32_t max_layers) {
  placement p;
  p.layers.resize(in.layers.size());
  uint64_t used = 0;
  const int64_t N = layer_neurons(m);
  const size_t n_layer = in.layers.size();
  const size_t cap = max_layers > 0 ? std::min(n_layer, (size_t)max_layers) : n_layer;
  for (size_t l = 0; l < cap; ++l) {
    const uint64_t cost = in.layers[l].attention_bytes + (ffn ? ffn_bytes_of(m.layers()[l]) + 4ull * (uint64_t)N : 0);
    if (used + cost > in.budget) break;
    used += cost;
    p.layers[l].attention_on_gpu = true;
    if (ffn)
      for (int32_t i = 0; i < N; ++i) p.layers[l].gpu_neurons.push_back(i);
  }
  const bool output_asked = max_layers <= 0 || (size_t)max_layers > n_layer;  // as llama.cpp counts -ngl
  if (output_asked && used + in.output_bytes <= in.budget && p.layers.back().attention_on_gpu) {
    used += in.output_bytes;
    p.output_on_gpu = true;
  }
  p.bytes = used;
  return p;
}

// The neuron split of a PowerInfer .gpuidx as given; attention units then fill what is left of the budget in
// layer order, then the output.
placement plan_from_gpuidx(const model &m, const placement_input &in, const std::string &path) {
  placement p = read_gpuidx(path, m.hp().n_layer, m.hp().n_ff);
  uint64_t used = 0;
  for (size_t l = 0; l < in.layers.size(); ++l) used += p.layers[l].gpu_neurons.size() * in.layers[l].neuron_bytes;
  if (used > in.budget)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("{} puts {:.2f} GiB of neurons on the GPU, more than the {:.2f} GiB budget",
                                                  path, used / k_gib, in.budget / k_gib));
  for (size_t l = 0; l < in.layers.size(); ++l)
    if (used + in.layers[l].attention_bytes <= in.budget) {
      used += in.layers[l].attention_bytes;
      p.layers[l].attention_on_gpu = true;
    }
  if (used + in.output_bytes <= in.budget) {
    used += in.output_bytes;
    p.output_on_gpu = true;
  }
  p.bytes = used;
  return p;
}

// Every weight type of the model the device reads (else it stays CPU-only).
bool device_reads_model(const model &m, const device &d, std::string *which) {
  auto check = [&](const matrix &w) {
    if (w && !d.supports(w.type)) {
      *which = type_name(w.type);
      return false;
    }
    return true;
  };
  if (!check(m.output())) return false;
  for (const layer &L : m.layers()) {
    for (const matrix *w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down, &L.down_t, &L.fc1, &L.fc2})
      if (!check(*w)) return false;
    for (const ffn_weights &e : L.moe.experts)
      for (const matrix *w : {&e.gate, &e.up, &e.down, &e.down_t})
        if (!check(*w)) return false;
  }
  return true;
}

}  // namespace

const char *offload_mode_name(offload_mode m) {
  switch (m) {
    case offload_mode::none: return "none";
    case offload_mode::hybrid: return "hybrid";
    case offload_mode::layers: return "layers";
    case offload_mode::attention: return "attention";
  }
  return "?";
}

std::vector<float> recorded_expert_frequencies(const gguf_file &f, int32_t il) {
  std::vector<float> v = f.get_floats(key_name(kv::hearth_calibration_expert_frequency, {}, il));
  if (v.empty()) v = f.get_floats(key_name(kv::hearth_synthetic_expert_frequency, {}, il));
  return v;
}

std::vector<float> recorded_frequencies(const gguf_file &f, int32_t il) {
  std::vector<float> v = f.get_floats(key_name(kv::hearth_calibration_frequency, {}, il));
  if (v.empty()) v = f.get_floats(key_name(kv::hearth_synthetic_frequency, {}, il));  // a synthetic model's planted ones
  return v;
}

placement_input placement_input_for(const model &m, uint64_t budget, int32_t n_ctx, size_t kv_bytes) {
  const hparams &hp = m.hp();
  placement_input in;
  in.budget = budget;
  in.output_bytes = m.output().bytes();
  for (int32_t l = 0; l < hp.n_layer; ++l) {
    const layer &L = m.layers()[(size_t)l];
    placement_layer_input li;
    if (L.moe) {  // neuron e * n_ff + i: expert e's neuron i, fired by a share expert_frequency[e] x frequency
      const int32_t E = hp.block.moe.n_expert;
      const std::vector<float> fn = recorded_frequencies(m.file(), l), fe = recorded_expert_frequencies(m.file(), l);
      li.frequency.assign((size_t)E * (size_t)hp.n_ff, 1.0f);
      if (fn.size() == li.frequency.size()) li.frequency = fn;
      if ((int32_t)fe.size() == E)
        for (size_t i = 0; i < li.frequency.size(); ++i) li.frequency[i] = std::clamp(li.frequency[i] * fe[i / (size_t)hp.n_ff], 0.0f, 1.0f);
      const ffn_weights &e0 = L.moe.experts[0];
      li.neuron_bytes = e0.neuron_bytes() + (!e0.down_t && e0.down ? e0.down.bytes() / (uint64_t)hp.n_ff : 0);
      li.attention_bytes = L.attention_bytes() + L.ffn_input_norm(hp.block.parallel).bytes() +
                           (uint64_t)2 * hp.n_embd_kv() * kv_bytes * (uint64_t)n_ctx;
      in.layers.push_back(std::move(li));
      continue;
    }
    li.frequency = recorded_frequencies(m.file(), l);
    if ((int32_t)li.frequency.size() != hp.n_ff) li.frequency.assign((size_t)hp.n_ff, 1.0f);
    li.neuron_bytes = L.neuron_bytes();
    if (!L.down_t && L.down) li.neuron_bytes += L.down.bytes() / (uint64_t)hp.n_ff;  // a column of row-major down
    li.attention_bytes = L.attention_bytes() + (L.fc1 ? L.fc1.bytes() + L.fc2.bytes() : 0) +
                         L.ffn_input_norm(hp.block.parallel).bytes() +
                         (uint64_t)2 * hp.n_embd_kv() * kv_bytes * (uint64_t)n_ctx;
    in.layers.push_back(std::move(li));
  }
  return in;
}

std::unique_ptr<offload> offload::create(const model &m, const offload_config &cfg) {
  if (cfg.mode < 0 || cfg.mode > 4) fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("unknown GPU offload mode {}", cfg.mode));
  if (cfg.mode == (int32_t)offload_mode::none || m.vocab_only()) return nullptr;
  const bool asked = cfg.mode != 0 || cfg.budget != 0 || !cfg.gpuidx.empty();
  const int level = asked ? HEARTH_LOG_WARN : HEARTH_LOG_INFO;
  std::string why;
  std::unique_ptr<device> dev = cfg.open ? cfg.open(&why) : open_device(&why);
  if (!dev) {
    log(level, "no usable GPU ({}): running on the CPU", why);
    return nullptr;
  }
  if (std::string type; !device_reads_model(m, *dev, &type)) {
    log(level, "{} has no kernels for the model's {} weights: running on the CPU", dev->name(), type);
    return nullptr;
  }
  offload_mode mode = cfg.mode == 0 ? offload_mode::hybrid : (offload_mode)cfg.mode;
  if (mode == offload_mode::hybrid && !m.neuron_major()) {
    log(HEARTH_LOG_INFO, "the file stores ffn_down row-major, so its neurons cannot be split: offloading whole layers "
                         "(`hearth calibrate` writes the neuron-major layout)");
    mode = offload_mode::layers;
  }
  const uint64_t free = dev->free_bytes(), margin = (256ull << 20) + free / 32;
  uint64_t budget = cfg.budget;
  if (budget == 0 || budget > free) {
    if (budget > free)
      log(HEARTH_LOG_WARN, "a VRAM budget of {:.2f} GiB is more than the {:.2f} GiB free on {}: using what is free",
          budget / k_gib, free / k_gib, dev->name());
    budget = free > margin ? free - margin : 0;
  }
  const int32_t n_ctx = cfg.n_ctx > 0 ? cfg.n_ctx : std::min(m.hp().n_ctx_train, 4096);
  // Besides the weights the placement counts, each layer may hold its FFN norm and an n_ff map to compact rows
  // (a layer with hot neurons but its attention on the CPU), and each GPU neuron its original id: reserve the
  // first two, charge the last to the neurons.
  const uint64_t overhead = (uint64_t)m.hp().n_layer * ((uint64_t)layer_neurons(m) + (uint64_t)m.hp().n_embd) * 4;
  placement_input in = placement_input_for(m, budget > overhead ? budget - overhead : 0, n_ctx, dev->kv_bytes());
  for (placement_layer_input &l : in.layers) l.neuron_bytes += 4;
  if (cfg.cpu_bandwidth > 0) in.cpu_bandwidth = cfg.cpu_bandwidth;
  if (cfg.gpu_bandwidth > 0) in.gpu_bandwidth = cfg.gpu_bandwidth;
  if (cfg.sync_seconds > 0) in.sync_seconds = cfg.sync_seconds;

  // PowerInfer keeps its neuron split beside the model; hearth reuses it for a file without activation statistics
  // (hearth's solver needs them), as PowerInfer does, and solves instead if it does not fit.
  std::string gpuidx = cfg.gpuidx;
  bool found = false;
  if (!gpuidx.empty() && m.hp().block.moe)
    fail(HEARTH_ERR_UNSUPPORTED, "a PowerInfer .gpuidx splits a dense FFN's neurons; this model's FFNs are mixtures of experts");
  if (gpuidx.empty() && mode == offload_mode::hybrid && !m.hp().block.moe && recorded_frequencies(m.file(), 0).empty()) {
    const std::string beside = m.file().path() + ".generated.gpuidx";
    std::error_code ec;  // an unreadable one fails to load below, and then the solver decides
    if (std::filesystem::exists(utf8_path(beside), ec)) gpuidx = beside, found = true;
  }

  std::unique_ptr<offload> o(new offload());
  o->mode_ = mode;
  o->budget_ = budget;
  if (mode == offload_mode::layers || mode == offload_mode::attention) {
    o->plan_ = plan_layers(m, in, mode == offload_mode::layers, mode == offload_mode::layers ? cfg.max_layers : 0);
  } else if (gpuidx.empty()) {
    o->plan_ = solve_placement(in);
  } else {
    try {
      o->plan_ = plan_from_gpuidx(m, in, gpuidx);
      if (found) log(HEARTH_LOG_INFO, "using PowerInfer's neuron split {}", gpuidx);
    } catch (const error &e) {
      if (!found) throw;
      log(HEARTH_LOG_WARN, "not using {}: {}; the placement solver decides instead", gpuidx, e.what());
      o->plan_ = solve_placement(in);
    }
  }
  {  // the share of neuron firings the GPU serves, by the frequencies the plan was made with
    double all = 0, gpu = 0;
    for (size_t l = 0; l < in.layers.size(); ++l) {
      for (float f : in.layers[l].frequency) all += f;
      for (int32_t i : o->plan_.layers[l].gpu_neurons) gpu += in.layers[l].frequency[(size_t)i];
    }
    o->plan_.gpu_firing_share = all > 0 ? gpu / all : 0.0;
  }
  if (o->plan_.bytes == 0) {
    if (in.gpu_bandwidth <= in.cpu_bandwidth)  // the solver's gain per byte moved is then zero or negative
      log(level, "{} reads at {:.1f} GB/s, no faster than the CPU's {:.1f} GB/s: nothing goes to it, running on the CPU",
          dev->name(), in.gpu_bandwidth / 1e9, in.cpu_bandwidth / 1e9);
    else
      log(level, "a VRAM budget of {:.2f} GiB holds nothing of this model: running on the CPU", budget / k_gib);
    return nullptr;
  }
  o->dev_ = std::move(dev);
  const auto t0 = std::chrono::steady_clock::now();
  o->upload(m);
  if (o->failed_) {
    log(HEARTH_LOG_WARN, "could not allocate or fill {:.2f} GiB on {}: running on the CPU", o->plan_.bytes / k_gib,
        o->dev_->name());
    return nullptr;
  }
  log(HEARTH_LOG_INFO, "{} (uploaded in {:.1f} s)", o->describe(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return o;
}

offload::~offload() {
  buffers_.clear();  // before the device they belong to
}

const void *offload::put(const void *host, size_t bytes) {
  if (failed_) return nullptr;
  device_buffer b(*dev_, std::max<size_t>(bytes, 4));
  if (!b || !dev_->upload_now(b.get(), host, bytes)) {
    failed_ = true;
    return nullptr;
  }
  weight_bytes_ += bytes;
  buffers_.push_back(std::move(b));
  return buffers_.back().get();
}

dev_matrix offload::put_rows(const matrix &w, const std::vector<int32_t> &rows) {
  dev_matrix d;
  if (!w) return d;
  d.type = w.type, d.cols = w.cols, d.row_size = w.row_size;
  if (rows.empty()) {
    d.rows = w.rows;
    d.data = put(w.data, w.bytes());
    return d;
  }
  std::vector<uint8_t> packed(rows.size() * w.row_size);
  for (size_t j = 0; j < rows.size(); ++j) std::memcpy(packed.data() + j * w.row_size, w.row(rows[j]), w.row_size);
  d.rows = (int64_t)rows.size();
  d.data = put(packed.data(), packed.size());
  return d;
}

void offload::upload(const model &m) {
  const hparams &hp = m.hp();
  for (int32_t l = 0; l < hp.n_layer && !failed_; ++l) {
    const layer &L = m.layers()[(size_t)l];
    const placement_layer &pl = plan_.layers[(size_t)l];
    offload_layer ol;
    const std::vector<int32_t> all;
    if (pl.attention_on_gpu) {
      ol.attention = true;
      ol.wq = put_rows(L.wq, all), ol.wk = put_rows(L.wk, all), ol.wv = put_rows(L.wv, all), ol.wo = put_rows(L.wo, all);
      ol.bq = put(L.bq), ol.bk = put(L.bk), ol.bv = put(L.bv), ol.bo = put(L.bo);
      ol.fc1 = put_rows(L.fc1, all), ol.fc2 = put_rows(L.fc2, all);
      ol.attn_norm = put(L.attn_norm), ol.q_norm = put(L.q_norm), ol.k_norm = put(L.k_norm);
      ol.attn_post_norm = put(L.attn_post_norm);
    }
    const std::vector<int32_t> &hot = pl.gpu_neurons;
    ol.n_hot = (int32_t)hot.size();
    ol.neuron_bytes = L.neuron_bytes();
    std::vector<neuron_table> experts;
    if (L.moe) {  // each expert's share of the layer's GPU neurons (expert-major ids)
      const int32_t ff = hp.n_ff, E = hp.block.moe.n_expert;
      std::vector<std::vector<int32_t>> rows((size_t)E);
      for (int32_t id : hot) rows[(size_t)(id / ff)].push_back(id % ff);
      for (int32_t e = 0; e < E; ++e) {
        const ffn_weights &x = L.moe.experts[(size_t)e];
        const std::vector<int32_t> &h = rows[(size_t)e];
        offload_expert oe;
        oe.n_hot = (int32_t)h.size();
        if (!h.empty()) {
          const bool whole = (int32_t)h.size() == ff;
          if (!x.down_t && !whole) fail(HEARTH_ERR_INTERNAL, "a row-major expert can only go to the GPU whole");
          oe.gate = put_rows(x.gate, whole ? all : h), oe.up = put_rows(x.up, whole ? all : h);
          if (x.down_t) oe.down_t = put_rows(x.down_t, whole ? all : h);
          else oe.down = put_rows(x.down, all);
          oe.orig = (const int32_t *)put(h.data(), h.size() * 4);
        }
        ol.experts.push_back(oe);
        experts.push_back(neuron_table::split(ff, h));
      }
      ol.neuron_bytes = L.moe.experts[0].neuron_bytes();
      if (ol.attention || !hot.empty()) ol.ffn_norm = put(L.ffn_input_norm(hp.block.parallel));
    } else if (!hot.empty()) {
      const bool whole = (int32_t)hot.size() == hp.n_ff;
      if (!L.down_t && !whole) fail(HEARTH_ERR_INTERNAL, "a row-major FFN can only go to the GPU whole");
      ol.gate = put_rows(L.gate, whole ? all : hot), ol.up = put_rows(L.up, whole ? all : hot);
      if (L.down_t) ol.down_t = put_rows(L.down_t, whole ? all : hot);
      else ol.down = put_rows(L.down, all);
      auto packed = [&](const std::vector<float> &b) {
        std::vector<float> p;
        for (int32_t i : hot) p.push_back(b[(size_t)i]);
        return p;
      };
      if (!L.bgate.empty()) ol.bgate = put(packed(L.bgate));
      if (!L.bup.empty()) ol.bup = put(packed(L.bup));
      ol.orig = (const int32_t *)put(hot.data(), hot.size() * 4);
    }
    if (!L.moe && (ol.attention || !hot.empty())) {
      ol.ffn_norm = put(L.ffn_input_norm(hp.block.parallel));
      ol.ffn_post_norm = put(L.ffn_post_norm);
      ol.bdown = put(L.bdown);
      std::vector<int32_t> row_of((size_t)hp.n_ff, -1);
      for (size_t j = 0; j < hot.size(); ++j) row_of[(size_t)hot[j]] = (int32_t)j;
      ol.row_of = (const int32_t *)put(row_of.data(), row_of.size() * 4);
    }
    tables_.push_back(neuron_table::split(layer_neurons(m), hot));
    expert_tables_.push_back(std::move(experts));
    layers_.push_back(ol);
  }
  if (plan_.output_on_gpu && !failed_) {
    output_ = put_rows(m.output(), {});
    output_norm_ = put(m.output_norm());
  }
}

int32_t offload::n_attention_layers() const {
  int32_t n = 0;
  for (const offload_layer &l : layers_) n += l.attention;
  return n;
}

uint64_t offload::n_hot_neurons() const {
  uint64_t n = 0;
  for (const offload_layer &l : layers_) n += (uint64_t)l.n_hot;
  return n;
}

uint64_t offload::n_neurons() const {
  uint64_t n = 0;
  for (const neuron_table &t : tables_) n += t.on_gpu.size();
  return n;
}

std::string offload::describe() const {
  const uint64_t all = n_neurons();
  return fmt::format("GPU offload ({}) on {}: attention of {}/{} layers, {:.1f}% of FFN neurons, output {}; "
                     "{:.2f} GiB of weights for a {:.2f} GiB budget, {:.1f}% of neuron firings served by the GPU",
                     offload_mode_name(mode_), dev_->name(), n_attention_layers(), layers_.size(),
                     all ? 100.0 * n_hot_neurons() / all : 0.0, output_ ? "on the GPU" : "on the CPU", weight_bytes_ / k_gib,
                     budget_ / k_gib, 100 * plan_.gpu_firing_share);
}

}  // namespace hearth
