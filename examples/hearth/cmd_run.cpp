// hearth run: load, generate with streaming output, print speeds. Runs the model through the public C API (the
// emulated device and the UTF-8 helpers come from the library's own headers).
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "device.h"
#include "hearth.h"
#include "utf8.h"

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

std::string format_chat(const hearth_model *model, const std::string &tmpl, const std::vector<std::pair<std::string, std::string>> &turns,
                        bool add_assistant) {
  std::vector<hearth_chat_message> ms;
  for (const auto &[role, content] : turns) ms.push_back({role.c_str(), content.c_str()});
  size_t n = 0;
  const char *t = tmpl.empty() ? nullptr : tmpl.c_str();
  hearth_status st = hearth_chat_apply_template(model, t, ms.data(), ms.size(), add_assistant, nullptr, 0, &n);
  std::string out(n + 1, '\0');
  if (!st) st = hearth_chat_apply_template(model, t, ms.data(), ms.size(), add_assistant, out.data(), out.size(), &n);
  if (st) throw std::runtime_error(std::string("chat template: ") + hearth_last_error());
  out.resize(n);
  return out;
}

// Interactive multi-turn chat over stdin: each user line is added to the conversation, the conversation is
// formatted with the chat template, and only the text the session has not seen yet is evaluated (the session
// keeps the KV of every earlier turn).
hearth_status chat_loop(hearth_model *model, hearth_session *s, const std::string &tmpl, const std::string &system,
                        int32_t n_predict) {
  std::vector<std::pair<std::string, std::string>> turns;
  if (!system.empty()) turns.emplace_back("system", system);
  size_t seen = 0;  // bytes of the formatted conversation the session holds
  std::string line;
  for (bool first = true;; first = false) {
    std::fputs("> ", stderr);
    std::fflush(stderr);
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    turns.emplace_back("user", line);
    const std::string prompt = format_chat(model, tmpl, turns, true);
    // The step API rather than hearth_generate: the template's marks must be parsed as tokens, and the turn
    // ends on an end-of-generation token whose text the template writes after the reply.
    const std::string delta = prompt.substr(seen);
    hearth_status st = hearth_session_feed(s, delta.data(), delta.size(),
                                           HEARTH_TOKENIZE_PARSE_SPECIAL | (first ? HEARTH_TOKENIZE_ADD_BOS : 0));
    struct {
      std::string text;
      hearth_token last = -1;
    } r;
    for (int32_t i = 0; !st && i < n_predict;) {
      hearth_token t = -1;
      st = hearth_session_step(s, &t);
      if (st || t < 0) continue;  // t < 0: a step that evaluated queued input
      ++i;
      if (hearth_token_is_eog(model, t)) {
        r.last = t;
        break;
      }
      char piece[256];
      size_t n = 0;
      if (hearth_token_to_piece(model, t, 0, piece, sizeof piece, &n) == HEARTH_OK) {
        r.text.append(piece, n);
        std::fwrite(piece, 1, n, stdout);  // raw bytes: a character split over tokens completes on the terminal
        std::fflush(stdout);
      }
    }
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (st) return st;
    // A random or broken model can emit bytes that are not UTF-8, which the chat template refuses: the reply
    // joins the conversation with them replaced as hearth_generate's pieces replace them.
    turns.emplace_back("assistant", utf8_sanitize(r.text));
    // What the session now holds: the prompt, the reply, and the end-of-turn token it stopped at when that is the
    // text the template writes after the reply.
    const std::string with_reply = format_chat(model, tmpl, turns, false);
    seen = std::min(prompt.size() + r.text.size(), with_reply.size());
    if (r.last >= 0 && hearth_token_is_eog(model, r.last)) {
      char piece[64];
      size_t n = 0;
      if (hearth_token_to_piece(model, r.last, HEARTH_DETOKENIZE_SPECIAL, piece, sizeof piece, &n) == HEARTH_OK &&
          with_reply.compare(seen, n, piece, n) == 0)
        seen += n;
    }
    // A template that rewrites the reply (trimming it, say) leaves the session holding text the formatted
    // conversation does not have; then the next turn starts where the formatted history ends (as llama.cpp does).
    if (with_reply.compare(0, prompt.size() + r.text.size(), prompt + r.text) != 0) seen = with_reply.size();
    // (that includes a reply that was not UTF-8: the session holds its bytes, the conversation their U+FFFD)
  }
  return HEARTH_OK;
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

int parse_kv_type(const std::string &name) {
  if (name == "f16") return HEARTH_KV_F16;
  if (name == "f32") return HEARTH_KV_F32;
  if (name == "q8_0") return HEARTH_KV_Q8_0;
  throw std::runtime_error("-ctk/-ctv (the KV cache's type) must be f16, f32 or q8_0, not '" + name + "'");
}

dtype kv_dtype(const std::string &name) {
  const int t = parse_kv_type(name);
  return t == HEARTH_KV_F32 ? dtype::f32 : t == HEARTH_KV_Q8_0 ? dtype::q8_0 : dtype::f16;
}

int parse_gpu_mode(const std::string &name) {
  if (name == "auto") return HEARTH_GPU_AUTO;
  if (name == "none" || name == "off") return HEARTH_GPU_NONE;
  if (name == "hybrid") return HEARTH_GPU_HYBRID;
  if (name == "layers") return HEARTH_GPU_LAYERS;
  if (name == "attention") return HEARTH_GPU_ATTENTION;
  throw std::runtime_error("--gpu must be auto, none, hybrid, layers or attention");
}

gpu_layers_option parse_gpu_layers(const args &a) {
  gpu_layers_option o;
  if (!a.has("-ngl", "--n-gpu-layers")) return o;
  const long n = a.num("-ngl", "--n-gpu-layers", 0);
  o.given = true;
  o.cpu = n == 0;
  o.cap = n > 0 ? (int32_t)std::min<long>(n, 1 << 20) : 0;
  return o;
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
  std::string prompt = a.str("-p", "--prompt", "");
  if (a.has("-f", "--file")) prompt = read_text_file(a.str("-f", "--file", ""), "prompt file");
  const bool chat = a.has("--chat", "-cnv") || a.has("--conversation");
  const std::string chat_template = a.str("--chat-template", "", "");
  std::string system = a.str("-sys", "--system-prompt", "");
  if (chat && system.empty()) system = prompt;  // as llama.cpp: in a conversation, -p is the system prompt
  hearth_model_params mp;
  hearth_model_params_init(&mp);
  mp.gpu_offload = parse_gpu_mode(a.str("--gpu", "", "auto"));
  if (const gpu_layers_option ngl = parse_gpu_layers(a); ngl.given) {
    if (!a.has("--gpu")) mp.gpu_offload = ngl.cpu ? HEARTH_GPU_NONE : HEARTH_GPU_LAYERS;
    mp.gpu_n_layers = ngl.cap;
  }
  mp.vram_budget_bytes = parse_vram_budget(a);
  const std::string gpuidx = a.str("--gpuidx", "", "");
  mp.gpuidx_path = gpuidx.empty() ? nullptr : gpuidx.c_str();
  mp.gpu_n_ctx = (int32_t)a.num("-c", "--ctx", 0);
  mp.no_repack = a.has("--no-repack") ? 1 : 0;
  hearth_model *model = nullptr;
  hearth_status st = hearth_model_load(path.c_str(), &mp, &model);
  if (st) return report(st, "loading the model");

  hearth_session_params sp;
  hearth_session_params_init(&sp);
  sp.n_threads = (int32_t)a.num("-t", "--threads", 0);
  sp.n_ctx = (int32_t)a.num("-c", "--ctx", 0);
  sp.sparse_mode = parse_sparse_mode(a.str("--sparse", "", "auto"));
  sp.cats_sparsity = (float)a.real("--cats-sparsity", "", sp.cats_sparsity);
  sp.type_k = parse_kv_type(a.str("-ctk", "--cache-type-k", "f16"));
  sp.type_v = parse_kv_type(a.str("-ctv", "--cache-type-v", "f16"));
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
  const long seed = a.num("--seed", "-s", -1);  // -1 (the default): a fresh one, reported below (llama.cpp's -s)
  smp.seed = seed < 0 ? HEARTH_SEED_RANDOM : (uint64_t)seed;
  st = hearth_session_set_sampler(s, &smp);
  if (!st) {
    char desc[256];
    size_t n = 0;
    hearth_model_desc(model, desc, sizeof desc, &n);
    std::fprintf(stderr, "model: %s\nkernels: %s, GPUs: %d, FFN mode: %s, seed: %llu\n", desc, hearth_cpu_isa(),
                 hearth_gpu_count(), hearth_session_mode(s), (unsigned long long)hearth_session_seed(s));
    if (chat) {
      st = chat_loop(model, s, chat_template, system, (int32_t)a.num("-n", "--n-predict", 512));
    } else {
      hearth_generate_params gp;
      hearth_generate_params_init(&gp);
      gp.n_predict = (int32_t)a.num("-n", "--n-predict", 64);
      gp.on_token = print_token;
      std::fputs(prompt.c_str(), stdout);
      st = hearth_generate(s, prompt.c_str(), &gp);
      std::fputc('\n', stdout);
      std::fflush(stdout);
    }
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
