// hearth run: load, generate with streaming output, print speeds. Uses only the public C API.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "commands.h"
#include "device.h"
#include "hearth.h"

namespace hearth::cli {

namespace {
void stderr_log(int32_t level, const char *msg, void *) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  std::fprintf(stderr, "hearth %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

int32_t print_token(hearth_token, const char *piece, size_t len, void *) {
  std::fwrite(piece, 1, len, stdout);
  std::fflush(stdout);
  return 0;
}

int report(hearth_status st, const char *what) {
  std::fprintf(stderr, "hearth: %s failed: %s (%s)\n", what, hearth_last_error(), hearth_status_string(st));
  return 1;
}
}  // namespace

int parse_sparse_mode(const std::string &name) {
  if (name == "auto") return HEARTH_SPARSE_AUTO;
  if (name == "dense") return HEARTH_SPARSE_DENSE;
  if (name == "predictor") return HEARTH_SPARSE_PREDICTOR;
  if (name == "exact" || name == "exact-gate") return HEARTH_SPARSE_EXACT_GATE;
  if (name == "cats") return HEARTH_SPARSE_CATS;
  throw std::runtime_error("--sparse must be auto, dense, predictor, exact or cats");
}

int parse_gpu_mode(const std::string &name) {
  if (name == "auto") return HEARTH_GPU_AUTO;
  if (name == "none" || name == "off") return HEARTH_GPU_NONE;
  if (name == "hybrid") return HEARTH_GPU_HYBRID;
  if (name == "layers") return HEARTH_GPU_LAYERS;
  throw std::runtime_error("--gpu must be auto, none, hybrid or layers");
}

uint64_t parse_vram_budget(const args &a) {
  const double gib = a.real("--vram-budget", "", 0.0);
  if (!(gib >= 0) || gib > 1e6) throw std::runtime_error("--vram-budget needs a size in GiB");
  return (uint64_t)(gib * 1073741824.0);
}

void use_emulated_gpu(const std::string &spec) {
  char *end = nullptr;
  const unsigned long long mib = std::strtoull(spec.c_str(), &end, 10);
  long delay = 0;
  if (end && *end == ',') delay = std::strtol(end + 1, &end, 10);
  if (end == spec.c_str() || (end && *end) || mib == 0 || mib >= (1ull << 24) || delay < 0 || delay > 100000)
    throw std::runtime_error("--emulate-gpu needs MIB[,US] (a size in MiB, optionally a delay in microseconds)");
  set_device_opener([mib, delay](std::string *) { return make_emulated_device((size_t)mib << 20, (int32_t)delay); });
}

void log_to_stderr(int verbose) { hearth_set_log_callback(stderr_log, nullptr, verbose >= 2 ? HEARTH_LOG_INFO : HEARTH_LOG_WARN); }

int cmd_run(const args &a) {
  const std::string path = a.str("-m", "--model", "");
  if (path.empty()) {
    std::fprintf(stderr, "hearth run: -m MODEL is required\n");
    return 2;
  }
  const std::string prompt = a.str("-p", "--prompt", "");
  hearth_model_params mp;
  hearth_model_params_init(&mp);
  mp.gpu_offload = parse_gpu_mode(a.str("--gpu", "", "auto"));
  mp.vram_budget_bytes = parse_vram_budget(a);
  const std::string gpuidx = a.str("--gpuidx", "", "");
  mp.gpuidx_path = gpuidx.empty() ? nullptr : gpuidx.c_str();
  mp.gpu_n_ctx = (int32_t)a.num("-c", "--ctx", 0);
  hearth_model *model = nullptr;
  hearth_status st = hearth_model_load(path.c_str(), &mp, &model);
  if (st) return report(st, "loading the model");

  hearth_session_params sp;
  hearth_session_params_init(&sp);
  sp.n_threads = (int32_t)a.num("-t", "--threads", 0);
  sp.n_ctx = (int32_t)a.num("-c", "--ctx", 0);
  sp.sparse_mode = parse_sparse_mode(a.str("--sparse", "", "auto"));
  sp.cats_sparsity = (float)a.real("--cats-sparsity", "", sp.cats_sparsity);
  hearth_session *s = nullptr;
  st = hearth_session_create(model, &sp, &s);
  if (st) {
    hearth_model_free(model);
    return report(st, "creating the session");
  }
  hearth_sampler_params smp;
  hearth_sampler_params_init(&smp);
  smp.temperature = (float)a.real("--temp", "", smp.temperature);
  smp.top_k = (int32_t)a.num("--top-k", "", smp.top_k);
  smp.top_p = (float)a.real("--top-p", "", smp.top_p);
  smp.min_p = (float)a.real("--min-p", "", smp.min_p);
  smp.repeat_penalty = (float)a.real("--repeat-penalty", "", smp.repeat_penalty);
  smp.seed = (uint64_t)a.num("--seed", "-s", 0);
  st = hearth_session_set_sampler(s, &smp);
  if (!st) {
    char desc[256];
    size_t n = 0;
    hearth_model_desc(model, desc, sizeof desc, &n);
    std::fprintf(stderr, "model: %s\nkernels: %s, GPUs: %d, FFN mode: %s\n", desc, hearth_cpu_isa(), hearth_gpu_count(),
                 hearth_session_mode(s));
    hearth_generate_params gp;
    hearth_generate_params_init(&gp);
    gp.n_predict = (int32_t)a.num("-n", "--n-predict", 64);
    gp.on_token = print_token;
    std::fputs(prompt.c_str(), stdout);
    st = hearth_generate(s, prompt.c_str(), &gp);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  int rc = 0;
  if (st) {
    rc = report(st, "generation");
  } else {
    hearth_perf perf;
    perf.struct_size = sizeof perf;
    hearth_session_perf(s, &perf);
    std::fprintf(stderr, "prompt:     %4d tokens in %8.1f ms, %8.2f tokens/s\n", perf.n_prompt, perf.prompt_ms,
                 perf.prompt_ms > 0 ? perf.n_prompt * 1000.0 / perf.prompt_ms : 0.0);
    std::fprintf(stderr, "generation: %4d tokens in %8.1f ms, %8.2f tokens/s\n", perf.n_generated, perf.generate_ms,
                 perf.generate_ms > 0 ? perf.n_generated * 1000.0 / perf.generate_ms : 0.0);
    hearth_sparse_stats ss;
    ss.struct_size = sizeof ss;
    if (hearth_session_sparse_stats(s, &ss) == HEARTH_OK)
      std::fprintf(stderr, "FFN %s: %.1f%% of neurons computed, %.1f MiB of weights read per generated token\n",
                   hearth_session_mode(s), 100.0 * ss.active_fraction, ss.decode_bytes_per_token / 1048576.0);
    if (ss.uses_gpu)
      std::fprintf(stderr, "GPU: %.1f%% of the computed neurons, %.1f MiB of the weights read per token\n",
                   100.0 * ss.gpu_neuron_share, ss.gpu_bytes_per_token / 1048576.0);
  }
  hearth_session_free(s);
  hearth_model_free(model);
  return rc;
}

}  // namespace hearth::cli
