// The hybrid CPU-GPU executor end to end: placement at load, packed hot tables, the graph with its events and
// transfers, merging on either side, dense layer offload, and every fallback to the CPU. Logits of hybrid
// sessions are compared with CPU-only sessions of the same model (the independent reference: the CPU path is
// itself tested against float64 loops).
//   hearth_test_hybrid emulated   the emulated device (runs everywhere, also with a delay before every device
//                                 operator, so that a missing wait gives wrong numbers rather than passing by luck)
//   hearth_test_hybrid cuda       the CUDA device; exits 77 (skipped) without one
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <chrono>
#include <thread>

#include "error.h"
#include "hearth.h"
#include "model.h"
#include "offload.h"
#include "gpuidx.h"
#include "placement.h"
#include "session.h"
#include "test_util.h"

using namespace hearth;

namespace {

bool g_cuda = false;
int32_t g_delay_us = 0;

std::unique_ptr<device> open_test_device(size_t capacity, std::string *why) {
  if (g_cuda) return make_cuda_device(why);
  return make_emulated_device(capacity, g_delay_us);
}

synth_config planted(const std::string &ffn, dtype t, bool llama_layout = false) {
  synth_config c = test::small_config(t, ffn);
  c.n_embd = 256, c.n_head = 4, c.n_head_kv = 2, c.n_ff = 1024, c.n_layer = 4, c.n_vocab = 1408;
  c.sparsity = 0.9f;
  c.predictor_rank = 64;
  c.llama_layout = llama_layout;
  return c;
}

std::shared_ptr<const model> load_with(const std::string &path, offload_config oc, size_t capacity = size_t(1) << 30) {
  model_config mc;
  mc.offload = oc;
  mc.offload.open = [capacity](std::string *why) { return open_test_device(capacity, why); };
  return model::load(path, mc);
}

double rel_diff(const float *a, const float *b, int32_t n) {  // max |a - b| / max |b|
  double err = 0, mag = 0;
  for (int32_t i = 0; i < n; ++i) {
    err = std::max(err, (double)std::fabs(a[i] - b[i]));
    mag = std::max(mag, (double)std::fabs(b[i]));
  }
  return err / mag;
}

int32_t argmax(const float *l, int32_t n) { return (int32_t)(std::max_element(l, l + n) - l); }

double max_abs_diff(const float *a, const float *b, int32_t n) {
  double d = 0;
  for (int32_t i = 0; i < n; ++i) d = std::max(d, (double)std::fabs(a[i] - b[i]));
  return d;
}

// A prompt of 5 tokens (one batch), then `steps` greedy tokens (the reference's, fed to both): the hybrid session
// must match the CPU session's logits within `tol` at every position and choose the same tokens, except at a
// near tie. The two paths do not agree bit for bit: the hybrid sums its GPU and CPU neurons in separate partial
// sums (another order of float additions), and with quantized weights a rounding-level difference in x can move
// one Q8_0 activation by a quantization step. Random-weight logits have near ties (one seen on the AVX2 tier: top
// two 0.0015 apart, the paths 0.0026 apart), where the argmax may differ; such a step must be explained by the
// measured difference (top-two gap <= 2 x max |difference|), and there must be few of them.
void compare(const model &cpu_m, const model &gpu_m, int32_t mode, double tol, int steps = 24, int32_t n_batch = 0) {
  session_config sc;
  sc.type_k = sc.type_v = dtype::f32;  // as the emulated device's: the two caches must round alike to agree
  sc.n_ctx = 128;
  sc.n_threads = 2;
  sc.sparse_mode = mode;
  if (n_batch) sc.n_batch = n_batch;
  session ref(cpu_m, sc), hyb(gpu_m, sc);
  REQUIRE(!ref.hybrid());
  REQUIRE(hyb.hybrid());
  if (gpu_m.gpu()->dev().kv_bytes() == 2) tol = std::max(tol, 5e-3);  // an F16 KV cache on the device
  const int32_t nv = cpu_m.hp().n_vocab;
  std::vector<int32_t> prompt = {1, 17, 300, 45, 999};
  ref.eval(prompt.data(), 5, true);
  hyb.eval(prompt.data(), 5, true);
  for (int i = 0; i < 5; ++i) CHECK(rel_diff(hyb.logits(i), ref.logits(i), nv) < tol);
  int near_ties = 0;
  for (int s = 0; s < steps; ++s) {
    const float *r = ref.logits(-1), *h = hyb.logits(-1);
    const int32_t t = argmax(r, nv), u = argmax(h, nv);
    if (u != t) {
      ++near_ties;
      CHECK(r[t] - r[u] <= 2 * max_abs_diff(h, r, nv));
      MESSAGE(fmt::format("near tie at step {}: reference {} ({:.6f}) vs hybrid {} ({:.6f} in the reference)", s, t, r[t], u, r[u]));
    }
    ref.eval(&t, 1, false);
    hyb.eval(&t, 1, false);
    CHECK(rel_diff(hyb.logits(-1), ref.logits(-1), nv) < tol);
  }
  CHECK(near_ties <= std::max(1, steps / 8));
  // the same neurons were computed, now split between the devices
  const sparse_stats &a = ref.stats(), &b = hyb.stats();
  CHECK(b.neurons == a.neurons);
  CHECK(std::llabs((long long)b.active - (long long)a.active) <= (long long)(a.active / 100));
  CHECK(b.gpu_active > 0);
  CHECK(b.gpu_active <= b.active);
  CHECK(b.gpu_decode_bytes > 0);
  MESSAGE(fmt::format("{}: the GPU computed {:.1f}% of {} active neuron-layers and read {:.0f} bytes per token",
                      gpu_m.gpu()->describe(), 100.0 * b.gpu_active / b.active, b.active, b.gpu_decode_bytes / b.decode_tokens));
}

// A .gpuidx that gives layer 0 a random half of its neurons, layer 1 all, layer 2 a quarter and layer 3 none.
std::string write_test_gpuidx(const model &m, uint64_t *neuron_bytes, std::string path = "") {
  placement p;
  p.layers.resize((size_t)m.hp().n_layer);
  const int32_t ff = m.hp().n_ff;
  *neuron_bytes = 0;
  for (int32_t l = 0; l < m.hp().n_layer; ++l) {
    const int32_t share[] = {2, 1, 4, 0};
    for (int32_t i = 0; i < ff && share[l]; ++i)
      if ((i * 7919) % share[l] == 0) p.layers[(size_t)l].gpu_neurons.push_back(i);
    const layer &L = m.layers()[(size_t)l];
    *neuron_bytes += p.layers[(size_t)l].gpu_neurons.size() * (L.gate.row_size + L.up.row_size + L.down_t.row_size + 4);
  }
  if (path.empty()) path = test::temp_path("hybrid.gpuidx");
  write_gpuidx(path, p, ff, 1 << 30);
  return path;
}

// What offload reserves besides the placed weights: per layer an FFN norm and the n_ff map to compact rows.
uint64_t overhead(const model &m) { return (uint64_t)m.hp().n_layer * (uint64_t)(m.hp().n_ff + m.hp().n_embd) * 4; }

uint64_t layer_attention_bytes(const model &m, int32_t l, int32_t n_ctx) {
  const layer &L = m.layers()[(size_t)l];
  return L.wq.bytes() + L.wk.bytes() + L.wv.bytes() + L.wo.bytes() + L.fc1.bytes() + L.fc2.bytes() +
         2ull * m.hp().n_embd * 4 + 2ull * m.hp().n_embd_kv() * 4 * (uint64_t)n_ctx;
}

}  // namespace

TEST_CASE("hybrid: a .gpuidx split (all, some or no neurons, attention on either side) gives the CPU's logits") {
  for (dtype t : {dtype::f16, dtype::q8_0, dtype::q4_0}) {
    const std::string type = type_name(t);
    CAPTURE(type);
    const std::string path = test::synth_model(planted("relu", t));
    const auto cpu = model::load(path);
    uint64_t nb = 0;
    offload_config oc;
    oc.gpuidx = write_test_gpuidx(*cpu, &nb);
    oc.n_ctx = 128;
    oc.budget = overhead(*cpu) + nb + layer_attention_bytes(*cpu, 0, 128) + layer_attention_bytes(*cpu, 1, 128) + 4096;  // attention of layers 0-1
    const auto gpu = load_with(path, oc);
    REQUIRE(gpu->gpu());
    const offload &o = *gpu->gpu();
    CHECK(o.layers()[0].attention);
    CHECK(o.layers()[1].attention);
    CHECK(!o.layers()[2].attention);
    CHECK(!o.layers()[3].attention);
    CHECK(!o.output_on_gpu());
    CHECK(o.layers()[1].n_hot == cpu->hp().n_ff);
    CHECK(o.layers()[3].n_hot == 0);
    CHECK(o.table(0).gpu.size() + o.table(0).cpu.size() == (size_t)cpu->hp().n_ff);
    CHECK(o.weight_bytes() <= oc.budget);
    // Quantized weights take Q8_0-quantized activations: a rounding-level difference in x (the halves are summed
    // in another order) can move one activation by a quantization step, about 1e-3 of a logit's scale.
    const double tol = t == dtype::f16 ? 1e-4 : 2e-2;
    compare(*cpu, *gpu, HEARTH_SPARSE_PREDICTOR, tol);
    compare(*cpu, *gpu, HEARTH_SPARSE_DENSE, tol, 6);
  }
}

TEST_CASE("hybrid: the solver's placement at load, from a small budget to everything including the output") {
  const std::string path = test::synth_model(planted("drelu", dtype::f16));
  const auto cpu = model::load(path);
  const uint64_t all = cpu->weight_bytes();
  for (double share : {0.08, 0.3, 0.6, 2.0}) {
    CAPTURE(share);
    offload_config oc;
    oc.mode = (int32_t)offload_mode::hybrid;
    oc.n_ctx = 128;
    oc.budget = (uint64_t)(share * (double)all);
    oc.sync_seconds = 1e-9;  // a model this small is never worth a 20 us round trip per layer
    const auto gpu = load_with(path, oc);
    REQUIRE(gpu->gpu());
    CHECK(gpu->gpu()->plan().bytes <= oc.budget);
    CHECK(gpu->gpu()->weight_bytes() <= oc.budget);
    if (share > 1) CHECK(gpu->gpu()->output_on_gpu());
    compare(*cpu, *gpu, HEARTH_SPARSE_PREDICTOR, 1e-4, 12);
    compare(*cpu, *gpu, HEARTH_SPARSE_PREDICTOR, 1e-4, 2, 2);  // the prompt in chunks of 2: logits of the last only
  }
}

// Whole-layer offload (-ngl) with a budget for two layers at n_ctx 128: layers 0 and 1 on the device, the rest on the
// host.
static offload_config two_layer_offload(const model &cpu) {
  const layer &L = cpu.layers()[0];
  offload_config oc;
  oc.mode = (int32_t)offload_mode::layers;
  oc.n_ctx = 128;
  const uint64_t per_layer = layer_attention_bytes(cpu, 0, 128) + L.gate.bytes() + L.up.bytes() + (L.down_t ? L.down_t : L.down).bytes();
  oc.budget = overhead(cpu) + 2 * (per_layer + 4 * cpu.hp().n_ff) + 1000;
  return oc;
}

TEST_CASE("dense layer offload (-ngl) on neuron-major and row-major files equals the CPU's dense run") {
  for (bool llama_layout : {false, true}) {
    CAPTURE(llama_layout);
    const std::string path = test::synth_model(planted("relu", dtype::q8_0, llama_layout));
    const auto cpu = model::load(path);
    const auto gpu = load_with(path, two_layer_offload(*cpu));
    REQUIRE(gpu->gpu());
    const offload &o = *gpu->gpu();
    CHECK(o.mode() == offload_mode::layers);
    CHECK((o.layers()[0].attention && o.layers()[1].attention && !o.layers()[2].attention));
    CHECK(o.layers()[0].n_hot == cpu->hp().n_ff);
    CHECK(o.layers()[2].n_hot == 0);
    compare(*cpu, *gpu, HEARTH_SPARSE_DENSE, 2e-2, 6);  // Q8_0 (see above)
  }
}

TEST_CASE("hybrid sessions on several threads share one model, a cancelled step leaves the session usable") {
  const std::string path = test::synth_model(planted("relu", dtype::f16));
  const auto cpu = model::load(path);
  offload_config oc;
  oc.n_ctx = 64;
  oc.budget = cpu->weight_bytes() / 2;
  oc.sync_seconds = 1e-9;
  const auto gpu = load_with(path, oc);
  REQUIRE(gpu->gpu());
  session_config sc;
  sc.n_ctx = 64;
  sc.n_threads = 1;
  const int32_t nv = cpu->hp().n_vocab;
  // the CPU's greedy continuation, the reference for every thread
  std::vector<int32_t> want;
  {
    session ref(*cpu, sc);
    int32_t t = 1;
    for (int i = 0; i < 16; ++i) {
      ref.eval(&t, 1, false);
      want.push_back(t = argmax(ref.logits(-1), nv));
    }
  }
  std::vector<int> ok(3, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 3; ++k)
    threads.emplace_back([&, k] {
      session s(*gpu, sc);
      int32_t t = 1;
      int same = 0;
      for (int i = 0; i < 16; ++i) {
        s.eval(&t, 1, false);
        t = argmax(s.logits(-1), nv);
        same += t == want[(size_t)i];
      }
      ok[(size_t)k] = s.hybrid() && same == 16;
    });
  for (auto &t : threads) t.join();
  CHECK(ok == std::vector<int>{1, 1, 1});

  // Cancelled from another thread, in the middle of a step or (if the step was quicker) at the next one: the
  // session then evaluates again and agrees with the CPU.
  session s(*gpu, sc);
  REQUIRE(s.hybrid());
  std::vector<int32_t> prompt(40, 7);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    s.request_cancel();
  });
  bool cancelled = false;
  try {
    s.eval(prompt.data(), (int32_t)prompt.size(), false);
  } catch (const hearth::error &e) {
    cancelled = e.status() == HEARTH_ERR_CANCELLED;
  }
  canceller.join();
  const int32_t t = 1;
  if (!cancelled) CHECK_THROWS_AS(s.eval(&t, 1, false), hearth::error);
  s.reset();
  s.eval(&t, 1, false);
  CHECK(argmax(s.logits(-1), nv) == want[0]);
}

TEST_CASE("a file without activation statistics takes PowerInfer's .generated.gpuidx beside it, if it fits") {
  synth_config c = planted("relu", dtype::f16);
  c.frequency_record = false;  // as PowerInfer's converter writes it
  const std::string path = test::synth_model(c);
  const auto cpu = model::load(path);
  uint64_t nb = 0;
  write_test_gpuidx(*cpu, &nb, path + ".generated.gpuidx");
  offload_config oc;
  oc.n_ctx = 64;
  oc.budget = cpu->weight_bytes();
  auto gpu = load_with(path, oc);
  REQUIRE(gpu->gpu());
  CHECK(gpu->gpu()->layers()[1].n_hot == cpu->hp().n_ff);  // the split of the file beside the model
  CHECK(gpu->gpu()->layers()[3].n_hot == 0);
  compare(*cpu, *gpu, HEARTH_SPARSE_PREDICTOR, 1e-4, 4);
  oc.budget = nb / 2;  // the split does not fit: set aside with a warning, and the solver places what fits
  gpu = load_with(path, oc);
  REQUIRE(gpu->gpu());
  CHECK(gpu->gpu()->weight_bytes() <= oc.budget);
  oc.gpuidx = path + ".generated.gpuidx";  // named explicitly, the same split is an error
  CHECK_THROWS_AS(load_with(path, oc), hearth::error);
  std::remove((path + ".generated.gpuidx").c_str());
}

TEST_CASE("without a usable GPU the model loads CPU-only and still runs") {
  const std::string path = test::synth_model(planted("relu", dtype::q8_0));
  const auto cpu = model::load(path);
  offload_config oc;
  oc.mode = (int32_t)offload_mode::hybrid;
  oc.n_ctx = 128;
  SUBCASE("no device") {
    auto m = model::load(path);
    oc.open = [](std::string *why) {
      *why = "test: no device";
      return std::unique_ptr<device>();
    };
    CHECK(!offload::create(*m, oc));
  }
  SUBCASE("a budget that holds nothing") {
    oc.budget = 1;
    CHECK(!load_with(path, oc)->gpu());
  }
  SUBCASE("a device with less memory than the plan: the allocation fails part way") {
    if (!g_cuda) {
      oc.budget = cpu->weight_bytes() / 2;
      CHECK(!load_with(path, oc, cpu->weight_bytes() / 4)->gpu());
    }
  }
  SUBCASE("a session whose KV cache does not fit runs on the CPU") {
    if (!g_cuda) {
      oc.mode = (int32_t)offload_mode::layers;
      oc.budget = cpu->weight_bytes() * 2;
      oc.n_ctx = 16;
      const auto gpu = load_with(path, oc, cpu->weight_bytes() + (8u << 20));
      REQUIRE(gpu->gpu());
      session_config sc;
      sc.n_ctx = 2048;  // 4 layers x 2 x 2048 x 128 x 4 bytes = 8 MiB of KV: over what is left
      session s(*gpu, sc);
      CHECK(!s.hybrid());
      const int32_t t = 5;
      s.eval(&t, 1, false);
    }
  }
  SUBCASE("a .gpuidx that does not fit the budget is refused with a reason") {
    uint64_t nb = 0;
    oc.gpuidx = write_test_gpuidx(*cpu, &nb);
    oc.budget = nb / 2;
    auto m = model::load(path);
    oc.open = [](std::string *why) { return open_test_device(size_t(1) << 30, why); };
    CHECK_THROWS_AS(offload::create(*m, oc), hearth::error);
  }
  SUBCASE("a session mode the GPU does not run (exact gate) runs on the CPU with the CPU's results") {
    oc.budget = cpu->weight_bytes();
    const auto gpu = load_with(path, oc);
    REQUIRE(gpu->gpu());
    session_config sc;
    sc.n_ctx = 64;
    sc.sparse_mode = HEARTH_SPARSE_EXACT_GATE;
    session a(*cpu, sc), b(*gpu, sc);
    CHECK(!b.hybrid());
    std::vector<int32_t> toks = {1, 2, 3};
    a.eval(toks.data(), 3, false);
    b.eval(toks.data(), 3, false);
    // to rounding, not bit for bit: the CPU-only model's attention is repacked into row groups, while the GPU
    // model keeps the file's layout for the matrices it placed on the GPU, which this session then reads itself
    CHECK(rel_diff(b.logits(-1), a.logits(-1), cpu->hp().n_vocab) < 1e-5);
  }
}

TEST_CASE("C API: asking for the GPU where there is none loads CPU-only") {
  if (g_cuda) return;
  const std::string path = test::synth_model(planted("relu", dtype::q8_0));
  hearth_model_params mp;
  hearth_model_params_init(&mp);
  mp.gpu_offload = HEARTH_GPU_HYBRID;
  mp.vram_budget_bytes = 1ull << 30;
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(path.c_str(), &mp, &m) == HEARTH_OK);  // this build's machine has no GPU driver
  hearth_session *s = nullptr;
  REQUIRE(hearth_session_create(m, nullptr, &s) == HEARTH_OK);
  const hearth_token t = 3;
  CHECK(hearth_session_eval(s, &t, 1, 0) == HEARTH_OK);
  hearth_sparse_stats st;
  st.struct_size = sizeof st;
  CHECK(hearth_session_sparse_stats(s, &st) == HEARTH_OK);
  CHECK(st.uses_gpu == 0);
  CHECK(st.gpu_neuron_share == 0.0);
  hearth_gpu_info gi;
  gi.struct_size = sizeof gi;
  REQUIRE(hearth_model_gpu_info(m, &gi) == HEARTH_OK);
  CHECK(gi.gpu_offload == HEARTH_GPU_NONE);
  CHECK(gi.vram_weight_bytes == 0);
  CHECK(hearth_model_gpu_info(nullptr, &gi) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(hearth_model_gpu_info(m, nullptr) == HEARTH_ERR_INVALID_ARGUMENT);
  mp.gpu_offload = 7;
  hearth_model *bad = nullptr;
  CHECK(hearth_model_load(path.c_str(), &mp, &bad) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(bad == nullptr);
  hearth_session_free(s);
  hearth_model_free(m);
}

TEST_CASE("C API on the emulated device: whole-layer offload, hearth_model_gpu_info") {
  if (g_cuda) return;
  const std::string path = test::synth_model(planted("relu", dtype::q8_0));
  // The C ABI cannot choose the emulated device; the process's C++ code can (the CLI's --emulate-gpu does this).
  set_device_opener([](std::string *) { return make_emulated_device(size_t(64) << 20, g_delay_us); });
  hearth_model_params mp;
  hearth_model_params_init(&mp);
  mp.gpu_offload = HEARTH_GPU_LAYERS;
  mp.vram_budget_bytes = 3u << 20;
  mp.gpu_n_ctx = 64;
  hearth_model *m = nullptr;
  const hearth_status st = hearth_model_load(path.c_str(), &mp, &m);
  set_device_opener(nullptr);
  REQUIRE(st == HEARTH_OK);
  hearth_gpu_info gi;
  gi.struct_size = sizeof gi;
  REQUIRE(hearth_model_gpu_info(m, &gi) == HEARTH_OK);
  CHECK(gi.gpu_offload == HEARTH_GPU_LAYERS);
  CHECK(gi.vram_budget_bytes == mp.vram_budget_bytes);
  CHECK(gi.vram_weight_bytes > 0);
  CHECK(gi.vram_weight_bytes <= gi.vram_budget_bytes);
  CHECK(gi.n_layer_attention > 0);
  CHECK(gi.n_layer_attention < 4);  // 3 MiB holds some of the 4 layers, not all
  CHECK(gi.neuron_fraction == doctest::Approx(gi.n_layer_attention / 4.0));
  hearth_session_params sp;
  hearth_session_params_init(&sp);
  sp.n_ctx = 64;
  sp.sparse_mode = HEARTH_SPARSE_DENSE;
  hearth_session *s = nullptr;
  REQUIRE(hearth_session_create(m, &sp, &s) == HEARTH_OK);
  const hearth_token toks[3] = {1, 50, 60};
  REQUIRE(hearth_session_eval(s, toks, 3, 0) == HEARTH_OK);
  hearth_sparse_stats ss;
  ss.struct_size = sizeof ss;
  REQUIRE(hearth_session_sparse_stats(s, &ss) == HEARTH_OK);
  CHECK(ss.uses_gpu == 1);
  CHECK(ss.gpu_neuron_share == doctest::Approx(gi.neuron_fraction));
  hearth_session_free(s);
  hearth_model_free(m);
}

TEST_CASE("C API on the emulated device: gpu_n_layers caps whole-layer offload as llama.cpp's -ngl counts") {
  if (g_cuda) return;
  const std::string path = test::synth_model(planted("relu", dtype::q8_0));  // 4 layers
  set_device_opener([](std::string *) { return make_emulated_device(size_t(64) << 20, g_delay_us); });
  struct row {
    int32_t n_layers;
    int32_t want_layers;
    int32_t want_output;
  };
  // a budget that holds every layer and the output: the cap alone decides
  for (const row r : {row{1, 1, 0}, row{3, 3, 0}, row{4, 4, 0}, row{5, 4, 1}, row{99, 4, 1}, row{0, 4, 1}}) {
    CAPTURE(r.n_layers);
    hearth_model_params mp;
    hearth_model_params_init(&mp);
    CHECK(mp.gpu_n_layers == 0);
    mp.gpu_offload = HEARTH_GPU_LAYERS;
    mp.vram_budget_bytes = 32u << 20;
    mp.gpu_n_ctx = 64;
    mp.gpu_n_layers = r.n_layers;
    hearth_model *m = nullptr;
    REQUIRE(hearth_model_load(path.c_str(), &mp, &m) == HEARTH_OK);
    hearth_gpu_info gi;
    gi.struct_size = sizeof gi;
    REQUIRE(hearth_model_gpu_info(m, &gi) == HEARTH_OK);
    CHECK(gi.gpu_offload == HEARTH_GPU_LAYERS);
    CHECK(gi.n_layer_attention == r.want_layers);
    CHECK(gi.output_on_gpu == r.want_output);
    CHECK(gi.neuron_fraction == doctest::Approx(r.want_layers / 4.0));
    hearth_model_free(m);
  }
  hearth_model_params mp;
  hearth_model_params_init(&mp);
  mp.gpu_offload = HEARTH_GPU_LAYERS;
  mp.gpu_n_layers = -1;
  hearth_model *bad = nullptr;
  CHECK(hearth_model_load(path.c_str(), &mp, &bad) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_last_error()).find("gpu_n_layers") != std::string::npos);
  CHECK(bad == nullptr);
  set_device_opener(nullptr);
}

// Regression: AUTO resolved from the model's GPU part, so a session that fell back to the CPU ran dense where the
// CPU would have used the exact gate.
TEST_CASE("AUTO sparse mode follows the session's actual device") {
  if (g_cuda) return;
  // a neuron-major ReLU file without predictors: the exact gate on the CPU, dense in the hybrid executor
  const std::string path = test::rewrite_model(test::synth_model(planted("relu", dtype::q8_0)), {}, {".fc1.weight", ".fc2.weight"});
  const auto cpu = model::load(path);
  REQUIRE(!cpu->has_predictors());
  REQUIRE(cpu->neuron_major());
  offload_config oc;
  oc.mode = (int32_t)offload_mode::layers;
  oc.n_ctx = 16;
  oc.budget = cpu->weight_bytes() * 2;
  const auto gpu = load_with(path, oc, cpu->weight_bytes() + (8u << 20));
  REQUIRE(gpu->gpu());
  session_config sc;
  sc.n_ctx = 64;  // fits the device: hybrid, dense
  session fits(*gpu, sc);
  CHECK(fits.hybrid());
  CHECK(fits.mode() == sparse_mode::dense);
  sc.n_ctx = 2048;  // 4 layers x 2 x 2048 x 128 x 4 bytes = 8 MiB of KV: over what is left, so the CPU
  session falls_back(*gpu, sc);
  CHECK(!falls_back.hybrid());
  CHECK(falls_back.mode() == sparse_mode::exact_gate);
  session plain(*cpu, sc);
  CHECK(plain.mode() == sparse_mode::exact_gate);
}

int main(int argc, char **argv) {
  std::vector<char *> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "cuda") g_cuda = true;
    else if (a.rfind("delay=", 0) == 0) g_delay_us = std::stoi(a.substr(6));
    else if (a != "emulated") rest.push_back(argv[i]);
  }
  if (g_cuda) {
    std::string why;
    if (!make_cuda_device(&why)) {
      std::printf("no CUDA device (%s): skipped\n", why.c_str());
      return 77;
    }
  }
  doctest::Context ctx((int)rest.size(), rest.data());
  return ctx.run();
}

TEST_CASE("a hybrid session's state, with KV caches on the device, restores and continues identically") {
  const std::string path = test::synth_model(planted("relu", dtype::q8_0));
  const auto cpu = model::load(path);
  const auto gpu = load_with(path, two_layer_offload(*cpu));
  REQUIRE(gpu->gpu());
  REQUIRE(gpu->gpu()->layers()[0].attention);  // layer 0's cache lives on the device, the last layer's on the host
  REQUIRE(!gpu->gpu()->layers().back().attention);
  session_config sc;
  sc.n_ctx = 128;
  sc.n_batch = 8;
  sc.sparse_mode = HEARTH_SPARSE_DENSE;
  session a(*gpu, sc);
  REQUIRE(a.hybrid());
  const std::vector<int32_t> prompt = {1, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39};
  a.eval(prompt.data(), (int32_t)prompt.size(), false);
  std::vector<uint8_t> state(a.state_bytes());
  a.save_state(state.data(), state.size());
  std::vector<float> want;
  for (int32_t t : {40, 41, 42}) {
    a.eval(&t, 1, false);
    want.insert(want.end(), a.logits(-1), a.logits(-1) + gpu->hp().n_vocab);
  }
  session b(*gpu, sc);
  b.load_state(state.data(), state.size());
  CHECK(b.n_past() == (int32_t)prompt.size());
  std::vector<float> got;
  for (int32_t t : {40, 41, 42}) {
    b.eval(&t, 1, false);
    got.insert(got.end(), b.logits(-1), b.logits(-1) + gpu->hp().n_vocab);
  }
  CHECK(got == want);  // the device caches came back byte for byte
  // a CPU-only session keeps every cache on the host: the layout differs, and says where
  session c(*cpu, sc);
  bool refused = false;
  try {
    c.load_state(state.data(), state.size());
  } catch (const error &e) {
    refused = e.status() == HEARTH_ERR_INVALID_ARGUMENT && std::string(e.what()).find("GPU") != std::string::npos;
  }
  CHECK(refused);
  CHECK(c.n_past() == 0);
}
