#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "error.h"
#include "names.h"
#include "offload.h"
#include "placement.h"

namespace hearth::cli {
namespace {

constexpr int k_w = 720, k_h = 300, k_pad = 40;

std::string color(int32_t l, int32_t n) { return fmt::format("hsl({},70%,45%)", n > 1 ? 300 * l / (n - 1) : 200); }

// Frequency (y, 0..1) against neuron rank (x, hottest first, log scale): one line per layer.
std::string frequency_chart(const model &m) {
  const int32_t L = m.hp().n_layer;
  std::string s = fmt::format("<svg width='{}' height='{}' xmlns='http://www.w3.org/2000/svg' font-family='sans-serif'>", k_w, k_h);
  s += fmt::format("<text x='{}' y='16' font-size='13'>firing frequency by neuron rank (log scale), one line per layer</text>", k_pad);
  for (int32_t l = 0; l < L; ++l) {
    std::vector<float> f = m.file().get_floats(key_name(kv::hearth_calibration_frequency, {}, l));
    if (f.empty()) continue;
    std::sort(f.begin(), f.end(), std::greater<>());
    std::string pts;
    const double n = (double)f.size();
    for (size_t i = 0; i < f.size(); i += std::max<size_t>(1, f.size() / 400)) {
      const double x = k_pad + (k_w - 2 * k_pad) * std::log1p((double)i) / std::log1p(n);
      const double y = k_h - k_pad - (k_h - 2 * k_pad) * f[i];
      pts += fmt::format("{:.1f},{:.1f} ", x, y);
    }
    s += fmt::format("<polyline fill='none' stroke='{}' stroke-width='1.2' points='{}'><title>layer {}</title></polyline>", color(l, L), pts, l);
  }
  s += fmt::format("<line x1='{0}' y1='{1}' x2='{2}' y2='{1}' stroke='#444'/><line x1='{0}' y1='{3}' x2='{0}' y2='{1}' stroke='#444'/>",
                   k_pad, k_h - k_pad, k_w - k_pad, k_pad);
  s += fmt::format("<text x='{}' y='{}' font-size='10' text-anchor='end'>1.0</text><text x='{}' y='{}' font-size='10' text-anchor='end'>0</text>",
                   k_pad - 4, k_pad + 4, k_pad - 4, k_h - k_pad + 4);
  const double n = (double)m.hp().n_ff;
  for (double r = 1; r <= n; r *= 10) {  // rank ticks: 1, 10, 100, ...
    const double x = k_pad + (k_w - 2 * k_pad) * std::log1p(r - 1) / std::log1p(n);
    s += fmt::format("<line x1='{0:.1f}' y1='{1}' x2='{0:.1f}' y2='{2}' stroke='#444'/><text x='{0:.1f}' y='{3}' font-size='10' "
                     "text-anchor='middle'>{4}</text>", x, k_h - k_pad, k_h - k_pad + 4, k_h - k_pad + 14, r);
  }
  s += fmt::format("<text x='{}' y='{}' font-size='11' text-anchor='middle'>neuron rank, hottest first</text>", k_w / 2, k_h - 8);
  return s + "</svg>";
}

// One bar per layer on a [lo, hi] axis, each labelled with its value, layers numbered below.
std::string bars(const std::string &title, const std::vector<float> &v, double lo, double hi, const char *value_fmt,
                 const std::function<std::string(size_t)> &label) {
  std::string s = fmt::format("<svg width='{}' height='{}' xmlns='http://www.w3.org/2000/svg' font-family='sans-serif'>", k_w, k_h);
  s += fmt::format("<text x='{}' y='16' font-size='13'>{}</text>", k_pad, title);
  const double bw = (double)(k_w - 2 * k_pad) / (double)std::max<size_t>(1, v.size());
  const size_t every = std::max<size_t>(1, v.size() / 20);
  for (size_t i = 0; i < v.size(); ++i) {
    const double f = std::clamp(((double)v[i] - lo) / (hi - lo), 0.0, 1.0), h = (k_h - 2 * k_pad) * f;
    const double x = k_pad + bw * (double)i;
    s += fmt::format("<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='#3a7'><title>{}</title></rect>", x,
                     k_h - k_pad - h, std::max(1.0, bw - 1), h, label(i));
    if (i % every == 0) {
      s += fmt::format("<text x='{:.1f}' y='{}' font-size='10' text-anchor='middle'>{}</text>", x + bw / 2, k_h - k_pad + 12, i);
      if (bw >= 24) s += fmt::format("<text x='{:.1f}' y='{:.1f}' font-size='10' text-anchor='middle'>{}</text>", x + bw / 2,
                                     k_h - k_pad - h - 3, fmt::format(fmt::runtime(value_fmt), v[i]));
    }
  }
  s += fmt::format("<line x1='{0}' y1='{1}' x2='{2}' y2='{1}' stroke='#444'/><line x1='{0}' y1='{3}' x2='{0}' y2='{1}' stroke='#444'/>",
                   k_pad, k_h - k_pad, k_w - k_pad, k_pad);
  s += fmt::format("<text x='{}' y='{}' font-size='10' text-anchor='end'>{}</text><text x='{}' y='{}' font-size='10' text-anchor='end'>{}</text>",
                   k_pad - 4, k_pad + 4, hi, k_pad - 4, k_h - k_pad + 4, lo);
  s += fmt::format("<text x='{}' y='{}' font-size='11' text-anchor='middle'>layer</text>", k_w / 2, k_h - 8);
  return s + "</svg>";
}

}  // namespace

std::string write_report(const std::string &dir, const model &m, uint64_t budget) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(HEARTH_ERR_IO, fmt::format("cannot create {}: {}", dir, ec.message()));
  const int32_t L = m.hp().n_layer;
  const std::vector<float> recall = m.file().get_floats(key_name(kv::hearth_calibration_recall));
  const std::vector<float> sparsity = m.file().get_floats(key_name(kv::hearth_calibration_sparsity));
  const placement_input in = placement_input_for(m, budget, 4096);
  const placement p = solve_placement(in);
  std::vector<float> gpu_share((size_t)L);
  for (int32_t l = 0; l < L; ++l) {
    double all = 0, gpu = 0;
    for (float f : in.layers[(size_t)l].frequency) all += f;
    for (int32_t i : p.layers[(size_t)l].gpu_neurons) gpu += in.layers[(size_t)l].frequency[(size_t)i];
    gpu_share[(size_t)l] = all > 0 ? (float)(gpu / all) : 0.0f;
  }
  std::string html = "<!doctype html><meta charset='utf-8'><title>hearth calibration report</title>"
                     "<body style='font-family:sans-serif;max-width:760px;margin:auto'>";
  html += fmt::format("<h1>hearth calibration report</h1><p>{}</p>", m.describe());
  html += "<h2>Activation frequency (hot/cold skew)</h2>" + frequency_chart(m);
  if (!sparsity.empty())
    html += "<h2>Sparsity per layer</h2>" + bars("share of neurons silent per token", sparsity, 0.0, 1.0, "{:.3f}", [&](size_t i) {
              return fmt::format("layer {}: {:.3f}", i, sparsity[i]);
            });
  if (!recall.empty())
    html += "<h2>Predictor recall per layer (held-out tokens)</h2>" +
            bars("recall of firing neurons (axis from 0.9)", recall, 0.9, 1.0, "{:.4f}", [&](size_t i) {
              return fmt::format("layer {}: {:.4f}", i, recall[i]);
            });
  html += fmt::format("<h2>GPU/CPU split for a {:.2f} GiB budget</h2><p>{} of {} layers' attention on the GPU, output {}; "
                      "{:.1f}% of neuron firings served by the GPU; {:.2f} GiB used; solved in {:.1f} ms.</p>",
                      budget / 1073741824.0,
                      std::count_if(p.layers.begin(), p.layers.end(), [](const placement_layer &x) { return x.attention_on_gpu; }), L,
                      p.output_on_gpu ? "on the GPU" : "on the CPU", 100 * p.gpu_firing_share, p.bytes / 1073741824.0, p.solve_ms);
  html += bars("share of each layer's firings served by GPU neurons", gpu_share, 0.0, 1.0, "{:.2f}", [&](size_t i) {
    return fmt::format("layer {}: {} GPU neurons, {:.1f}% of firings", i, p.layers[i].gpu_neurons.size(), 100 * gpu_share[i]);
  });
  html += "</body>\n";
  const std::string path = (std::filesystem::path(dir) / "report.html").string();
  std::ofstream out(path, std::ios::binary);
  out << html;
  if (!out) fail(HEARTH_ERR_IO, "cannot write " + path);
  return path;
}

}  // namespace hearth::cli
