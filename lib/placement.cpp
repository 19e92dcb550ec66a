#include "placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "error.h"

namespace hearth {
namespace {

constexpr double k_none = -std::numeric_limits<double>::infinity();

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Neuron ids of a layer by descending frequency (ties: lower id first, so results are reproducible).
std::vector<int32_t> by_frequency(const std::vector<float> &f) {
  std::vector<int32_t> ids(f.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return f[(size_t)a] > f[(size_t)b]; });
  return ids;
}

// G(c) = max over k in [kmin, kmax], k <= c of F(c - k) + h(k), for h concave on [kmin, kmax]: the best F index
// j = c - k is non-decreasing in c, so divide and conquer finds every row's optimum in O((C + K) log C).
void convolve(const std::vector<double> &F, const std::vector<double> &h, int64_t kmin, int64_t kmax,
              std::vector<double> &G, std::vector<int32_t> &arg) {
  const int64_t C = (int64_t)F.size() - 1;
  G.assign(F.size(), k_none);
  arg.assign(F.size(), -1);
  struct frame {
    int64_t c0, c1, j0, j1;
  };
  std::vector<frame> stack = {{0, C, 0, C}};
  while (!stack.empty()) {
    const frame fr = stack.back();
    stack.pop_back();
    if (fr.c0 > fr.c1) continue;
    const int64_t c = (fr.c0 + fr.c1) / 2;
    const int64_t lo = std::max(fr.j0, c - kmax), hi = std::min({fr.j1, c - kmin, c});
    int64_t best_j;
    if (lo > hi) {
      best_j = c - kmin < fr.j0 ? fr.j0 : fr.j1;  // c too small for any k: smaller c are too; else too large
    } else {
      best_j = lo;
      double best = k_none;
      for (int64_t j = lo; j <= hi; ++j) {
        const double v = F[(size_t)j] + h[(size_t)(c - j)];
        if (v >= best) {  // ties: the largest j, consistently
          best = v;
          best_j = j;
        }
      }
      G[(size_t)c] = best;
      arg[(size_t)c] = (int32_t)(c - best_j);
    }
    stack.push_back({fr.c0, c - 1, fr.j0, best_j});
    stack.push_back({c + 1, fr.c1, best_j, fr.j1});
  }
}

}  // namespace

placement solve_placement(const placement_input &in) {
  const auto t0 = std::chrono::steady_clock::now();
  const size_t L = in.layers.size();
  if (!(in.cpu_bandwidth > 0) || !(in.gpu_bandwidth > 0) || !(in.sync_seconds >= 0) || in.max_units < 1)
    fail(HEARTH_ERR_INVALID_ARGUMENT, "placement: bandwidths must be positive, sync time non-negative");
  const double per_byte = std::max(0.0, 1.0 / in.cpu_bandwidth - 1.0 / in.gpu_bandwidth);
  uint64_t unit = 0, neuron_gcd = 0;
  for (const placement_layer_input &l : in.layers) {
    if (l.neuron_bytes == 0 && !l.frequency.empty()) fail(HEARTH_ERR_INVALID_ARGUMENT, "placement: a layer's neuron_bytes is 0");
    for (float f : l.frequency)
      if (!(f >= 0.0f && f <= 1.0f)) fail(HEARTH_ERR_INVALID_ARGUMENT, "placement: frequencies must lie in [0, 1]");
    for (uint64_t b : {l.neuron_bytes, l.attention_bytes})
      if (b) unit = unit ? std::gcd(unit, b) : b;
    if (l.neuron_bytes) neuron_gcd = neuron_gcd ? std::gcd(neuron_gcd, l.neuron_bytes) : l.neuron_bytes;
  }
  if (in.output_bytes) unit = unit ? std::gcd(unit, in.output_bytes) : in.output_bytes;
  if (!unit) unit = 1;
  if (!neuron_gcd) neuron_gcd = 1;
  // Too fine a table: a unit of g whole neurons (of the common size), attention units rounded up to it.
  if (in.budget / unit > (uint64_t)in.max_units) unit = neuron_gcd * ceil_div(in.budget, (uint64_t)in.max_units * neuron_gcd);
  const int64_t C = (int64_t)(in.budget / unit);

  placement out;
  out.unit = unit;
  out.layers.resize(L);
  std::vector<std::vector<int32_t>> order(L);
  std::vector<std::vector<int32_t>> k_arg(L);    // per layer and capacity: units given to neurons (F1's choice)
  std::vector<std::vector<uint8_t>> attention_arg(L);
  std::vector<double> F((size_t)C + 1, 0.0), G, h;
  std::vector<int32_t> arg;
  std::vector<int64_t> block_of(L, 1), step_of(L, 1);
  for (size_t l = 0; l < L; ++l) {
    const placement_layer_input &li = in.layers[l];
    const int64_t N = (int64_t)li.frequency.size();
    order[l] = by_frequency(li.frequency);
    // C_l (the paper's rule C_l T_gpu + T_sync <= C_l T_cpu): the neurons whose bytes, read faster, pay for a sync.
    const double neuron_gain = (double)li.neuron_bytes * per_byte;
    // (more than the layer has: its FFN stays on the CPU)
    const double need = neuron_gain > 0 ? std::ceil(in.sync_seconds / neuron_gain) : (double)N + 1;
    out.layers[l].min_neurons = std::max<int64_t>(1, (int64_t)std::min(need, (double)N + 1));
    std::vector<double> prefix((size_t)N + 1, 0.0);
    for (int64_t i = 0; i < N; ++i) prefix[(size_t)i + 1] = prefix[(size_t)i] + li.frequency[(size_t)order[l][(size_t)i]] * neuron_gain;
    // The layer's neurons are taken in steps of `block` neurons (hottest first) costing `step` units each, so the
    // value is concave in the steps: one neuron per step when a neuron is a whole number of units, whole units of
    // neurons when a unit holds several, else a neuron rounded up to whole units.
    int64_t block = 1, step = 1;
    if (li.neuron_bytes % unit == 0) step = (int64_t)(li.neuron_bytes / unit);
    else if (unit % li.neuron_bytes == 0) block = (int64_t)(unit / li.neuron_bytes);
    else step = (int64_t)ceil_div(li.neuron_bytes, unit);
    k_arg[l].assign((size_t)C + 1, 0);
    const int64_t nmin = (out.layers[l].min_neurons + block - 1) / block, nmax = (N + block - 1) / block;
    if (N > 0 && nmin <= nmax && nmin * step <= C) {
      h.assign((size_t)nmax + 1, k_none);
      for (int64_t n = nmin; n <= nmax; ++n) h[(size_t)n] = prefix[(size_t)std::min(N, n * block)] - in.sync_seconds;
      // one monotone convolution per residue class of the capacity modulo the step
      std::vector<double> Fr, Gr;
      for (int64_t rho = 0; rho < step && rho <= C; ++rho) {
        Fr.clear();
        for (int64_t c = rho; c <= C; c += step) Fr.push_back(F[(size_t)c]);
        convolve(Fr, h, nmin, std::min<int64_t>(nmax, (int64_t)Fr.size() - 1), Gr, arg);
        for (size_t t = 0; t < Fr.size(); ++t) {
          const int64_t c = rho + (int64_t)t * step;
          if (Gr[t] > F[(size_t)c]) {
            F[(size_t)c] = Gr[t];
            k_arg[l][(size_t)c] = arg[t] * (int32_t)step;
          }
        }
      }
    }
    block_of[l] = block;
    step_of[l] = step;
    // the attention unit
    attention_arg[l].assign((size_t)C + 1, 0);
    const uint64_t D = ceil_div(li.attention_bytes, unit);
    const double dv = (double)li.attention_bytes * per_byte;
    if (li.attention_bytes > 0 && D <= (uint64_t)C && dv > 0)
      for (int64_t c = C; c >= (int64_t)D; --c)
        if (F[(size_t)(c - (int64_t)D)] + dv > F[(size_t)c]) {
          F[(size_t)c] = F[(size_t)(c - (int64_t)D)] + dv;
          attention_arg[l][(size_t)c] = 1;
        }
  }
  std::vector<uint8_t> out_arg((size_t)C + 1, 0);
  const uint64_t O = ceil_div(in.output_bytes, unit);
  if (in.output_bytes > 0 && O <= (uint64_t)C && per_byte > 0)
    for (int64_t c = C; c >= (int64_t)O; --c)
      if (F[(size_t)(c - (int64_t)O)] + (double)in.output_bytes * per_byte > F[(size_t)c]) {
        F[(size_t)c] = F[(size_t)(c - (int64_t)O)] + (double)in.output_bytes * per_byte;
        out_arg[(size_t)c] = 1;
      }
  // F is the best value within capacity c, so F[C] is the optimum; walk the choices back.
  int64_t c = C;
  out.saved_seconds = F[(size_t)C];
  if (out_arg[(size_t)c]) {
    out.output_on_gpu = true;
    c -= (int64_t)O;
    out.bytes += in.output_bytes;
  }
  double fired = 0, fired_gpu = 0;
  for (size_t l = L; l-- > 0;) {
    const placement_layer_input &li = in.layers[l];
    if (attention_arg[l][(size_t)c]) {
      out.layers[l].attention_on_gpu = true;
      c -= (int64_t)ceil_div(li.attention_bytes, unit);
      out.bytes += li.attention_bytes;
    }
    const int64_t k = k_arg[l][(size_t)c];
    c -= k;
    const int64_t n = std::min<int64_t>((int64_t)li.frequency.size(), k / step_of[l] * block_of[l]);
    std::vector<int32_t> ids(order[l].begin(), order[l].begin() + n);
    std::sort(ids.begin(), ids.end());
    out.layers[l].gpu_neurons = std::move(ids);
    out.bytes += (uint64_t)n * li.neuron_bytes;
    for (float f : li.frequency) fired += f;
    for (int32_t i : out.layers[l].gpu_neurons) fired_gpu += li.frequency[(size_t)i];
  }
  out.gpu_firing_share = fired > 0 ? fired_gpu / fired : 0;
  out.solve_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

double placement_value(const placement_input &in, const placement &p) {
  const double per_byte = std::max(0.0, 1.0 / in.cpu_bandwidth - 1.0 / in.gpu_bandwidth);
  double v = p.output_on_gpu ? (double)in.output_bytes * per_byte : 0.0;
  for (size_t l = 0; l < in.layers.size(); ++l) {
    const placement_layer_input &li = in.layers[l];
    if (p.layers[l].attention_on_gpu) v += (double)li.attention_bytes * per_byte;
    if (!p.layers[l].gpu_neurons.empty()) v -= in.sync_seconds;
    for (int32_t i : p.layers[l].gpu_neurons) v += li.frequency[(size_t)i] * (double)li.neuron_bytes * per_byte;
  }
  return v;
}

}  // namespace hearth
