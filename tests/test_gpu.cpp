// The C API on a real GPU (label gpu; exits 77, "skipped", without a CUDA device): a model loaded with the
// hybrid offload puts part of itself on the device, says so in hearth_model_gpu_info, and its sessions give the
// CPU-only model's logits. On machines without a device this binary only reports the skip; the CPU fallback is
// tested everywhere in test_hybrid's C API cases.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "hearth.h"
#include "synth.h"

namespace {

int failures = 0;
void expect(bool ok, const char *what) {
  if (!ok) {
    ++failures;
    std::printf("FAIL %s\n", what);
  }
}

}  // namespace

int main() {
  if (hearth_gpu_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  hearth::synth_config c;
  c.n_vocab = 1024, c.n_embd = 256, c.n_layer = 4, c.n_ff = 1024, c.n_head = 4, c.n_head_kv = 2;
  c.type = hearth::dtype::f16;
  c.ffn = "relu";
  c.sparsity = 0.9f;
  const std::string path = "/tmp/hearth-test-gpu.gguf";
  hearth::write_synthetic_model(path, c, hearth::builtin_corpus());
  hearth_model_params mp;
  hearth_model_params_init(&mp);
  mp.gpu_offload = HEARTH_GPU_NONE;
  hearth_model *cpu = nullptr, *gpu = nullptr;
  expect(hearth_model_load(path.c_str(), &mp, &cpu) == HEARTH_OK, "CPU-only load");
  mp.gpu_offload = HEARTH_GPU_HYBRID;
  mp.vram_budget_bytes = 8ull << 20;  // part of the model
  expect(hearth_model_load(path.c_str(), &mp, &gpu) == HEARTH_OK, "hybrid load");
  if (!cpu || !gpu) return 1;
  hearth_gpu_info gi;
  gi.struct_size = sizeof gi;
  expect(hearth_model_gpu_info(gpu, &gi) == HEARTH_OK, "gpu_info");
  expect(gi.gpu_offload == HEARTH_GPU_HYBRID, "the model is offloaded");
  expect(gi.vram_weight_bytes > 0 && gi.vram_weight_bytes <= mp.vram_budget_bytes, "within the budget");
  hearth_session_params sp;
  hearth_session_params_init(&sp);
  sp.n_ctx = 64;
  sp.n_threads = 2;
  hearth_session *a = nullptr, *b = nullptr;
  expect(hearth_session_create(cpu, &sp, &a) == HEARTH_OK && hearth_session_create(gpu, &sp, &b) == HEARTH_OK, "sessions");
  if (!a || !b) return 1;
  std::vector<hearth_token> toks = {1, 17, 300, 45, 999};
  const int32_t nv = hearth_model_n_vocab(cpu);
  for (int step = 0; step < 8; ++step) {
    expect(hearth_session_eval(a, toks.data(), (int32_t)toks.size(), 0) == HEARTH_OK, "CPU eval");
    expect(hearth_session_eval(b, toks.data(), (int32_t)toks.size(), 0) == HEARTH_OK, "hybrid eval");
    const float *la = hearth_session_logits(a, -1), *lb = hearth_session_logits(b, -1);
    double err = 0, mag = 0;
    for (int32_t i = 0; i < nv; ++i) err = std::max(err, (double)std::fabs(la[i] - lb[i])), mag = std::max(mag, (double)std::fabs(la[i]));
    std::printf("step %d: max |hybrid - CPU| / max |CPU| = %.2e\n", step, err / mag);
    expect(err / mag < 5e-3, "hybrid logits equal the CPU's (F16 KV cache on the device)");
    toks = {(hearth_token)(std::max_element(la, la + nv) - la)};
  }
  hearth_sparse_stats st;
  st.struct_size = sizeof st;
  expect(hearth_session_sparse_stats(b, &st) == HEARTH_OK && st.uses_gpu == 1 && st.gpu_neuron_share > 0, "the GPU computed neurons");
  hearth_session_free(a);
  hearth_session_free(b);
  hearth_model_free(cpu);
  hearth_model_free(gpu);
  std::remove(path.c_str());
  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
