// The C ABI: argument checks, exceptions turned into statuses, nothing else. No exception leaves this file.
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "../kernels/cpu/kernels.h"
#include "chat_template.h"
#include "error.h"
#include "file_replace.h"
#include "gguf.h"
#include "gpu.h"
#include "hearth.h"
#include "log.h"
#include "mapped_file.h"
#include "model.h"
#include "names.h"
#include "offload.h"
#include "session.h"
#include "utf8.h"

// A handle owns one reference to its model; every session's handle owns another, so a model outlives its
// sessions whatever order the caller frees them in. (impl is declared after model: it is destroyed first.)
struct hearth_model {
  std::shared_ptr<const hearth::model> impl;
};

struct hearth_session {
  std::shared_ptr<const hearth::model> model;
  std::unique_ptr<hearth::session> impl;
};

namespace {

thread_local std::string t_last_error;

template <class F>
hearth_status guarded(hearth_session *s, F &&body) noexcept {
  hearth_status st = HEARTH_OK;
  std::string msg;
  try {
    body();
  } catch (const hearth::error &e) {
    st = e.status();
    msg = e.what();
  } catch (const std::bad_alloc &) {
    st = HEARTH_ERR_OUT_OF_MEMORY;
    msg = "out of memory";
  } catch (const std::exception &e) {
    st = HEARTH_ERR_INTERNAL;
    msg = std::string("internal error: ") + e.what();
  } catch (...) {
    st = HEARTH_ERR_INTERNAL;
    msg = "internal error: unknown exception";
  }
  try {
    t_last_error = msg;
    if (s) s->impl ? (void)(s->impl->last_error = msg) : (void)0;
    if (st != HEARTH_OK && st != HEARTH_ERR_CANCELLED && st != HEARTH_ERR_BUFFER_TOO_SMALL)
      hearth::log(HEARTH_LOG_ERROR, "{}", msg);
  } catch (...) {
  }
  return st;
}

template <class F>
hearth_status guarded(F &&body) noexcept {
  return guarded(nullptr, std::forward<F>(body));
}

void require(bool ok, const char *what) {
  if (!ok) hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, what);
}

// Copies the caller's params over the defaults, reading only the bytes the caller's struct has.
template <class T>
T read_params(const T *p, void (*init)(T *)) {
  T out;
  init(&out);
  if (p) {
    if (p->struct_size < sizeof(uint32_t))
      hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, "params.struct_size is not set (call the *_params_init function)");
    std::memcpy((char *)&out + sizeof(uint32_t), (const char *)p + sizeof(uint32_t),
                std::min<size_t>(p->struct_size, sizeof(T)) - sizeof(uint32_t));
    out.struct_size = sizeof(T);
  }
  return out;
}

hearth_status copy_out(const std::string &s, char *buf, size_t cap, size_t *n_out) {
  if (n_out) *n_out = s.size();
  if (!buf || cap == 0) {
    if (buf == nullptr && cap == 0) return HEARTH_OK;  // size query
    hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, "buf is NULL but cap is not 0");
  }
  const size_t n = std::min(s.size(), cap - 1);
  std::memcpy(buf, s.data(), n);
  buf[n] = '\0';
  if (n < s.size()) hearth::fail(HEARTH_ERR_BUFFER_TOO_SMALL, fmt::format("output needs {} bytes plus NUL, buffer holds {}", s.size(), cap));
  return HEARTH_OK;
}

const hearth::model &live_model(const hearth_model *m) {
  require(m && m->impl, "model is NULL");
  return *m->impl;
}

hearth::session &live_session(hearth_session *s) {
  require(s && s->impl, "session is NULL");
  return *s->impl;
}

std::vector<int32_t> tokenize_checked(const hearth::model &m, const char *text, size_t len, int32_t flags) {
  require(text || len == 0, "text is NULL");
  const std::string_view sv(text ? text : "", len);
  std::vector<int32_t> out;  // encode() refuses invalid UTF-8 with its byte offset
  m.tok().encode(sv, flags & HEARTH_TOKENIZE_ADD_BOS, flags & HEARTH_TOKENIZE_PARSE_SPECIAL, out);
  return out;
}

}  // namespace

extern "C" {

uint32_t hearth_version(void) { return HEARTH_VERSION_NUMBER; }
const char *hearth_version_string(void) {
#define HEARTH_STR2(x) #x
#define HEARTH_STR(x) HEARTH_STR2(x)
  return HEARTH_STR(HEARTH_VERSION_MAJOR) "." HEARTH_STR(HEARTH_VERSION_MINOR) "." HEARTH_STR(HEARTH_VERSION_PATCH);
}
uint32_t hearth_abi_version(void) { return HEARTH_ABI_VERSION; }

const char *hearth_status_string(hearth_status s) {
  switch (s) {
    case HEARTH_OK: return "ok";
    case HEARTH_ERR_INVALID_ARGUMENT: return "invalid argument";
    case HEARTH_ERR_OUT_OF_MEMORY: return "out of memory";
    case HEARTH_ERR_IO: return "input/output error";
    case HEARTH_ERR_BAD_FORMAT: return "malformed model file";
    case HEARTH_ERR_UNSUPPORTED: return "unsupported";
    case HEARTH_ERR_CONTEXT_FULL: return "context full";
    case HEARTH_ERR_CANCELLED: return "cancelled";
    case HEARTH_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case HEARTH_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
  }
}

const char *hearth_last_error(void) { return t_last_error.c_str(); }

void hearth_set_log_callback(hearth_log_fn fn, void *user, int32_t max_level) { hearth::log_set(fn, user, max_level); }

void hearth_model_params_init(hearth_model_params *p) {
  if (!p) return;
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
}

hearth_status hearth_model_load(const char *path, const hearth_model_params *params, hearth_model **out) {
  if (out) *out = nullptr;
  return guarded([&] {
    require(out, "out is NULL");
    require(path, "path is NULL");
    const hearth_model_params p = read_params(params, hearth_model_params_init);
    hearth::model_config mc;
    mc.vocab_only = p.vocab_only != 0;
    mc.prefault = p.prefault != 0;
    mc.progress = p.progress;
    mc.progress_user = p.progress_user;
    mc.offload.mode = p.gpu_offload;
    mc.offload.budget = p.vram_budget_bytes;
    mc.offload.gpuidx = p.gpuidx_path ? p.gpuidx_path : "";
    mc.offload.n_ctx = p.gpu_n_ctx;
    if (mc.offload.n_ctx < 0) hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, "gpu_n_ctx is negative");
    mc.offload.max_layers = p.gpu_n_layers;
    mc.repack = p.no_repack == 0;
    if (p.gpu_n_layers < 0) hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, "gpu_n_layers is negative");
    auto m = std::make_unique<hearth_model>();
    m->impl = hearth::model::load(path, mc);
    *out = m.release();
  });
}

void hearth_model_free(hearth_model *model) { delete model; }

int32_t hearth_model_n_vocab(const hearth_model *m) { return m && m->impl ? m->impl->vocab_data().n_vocab() : 0; }
int32_t hearth_model_n_ctx_train(const hearth_model *m) { return m && m->impl ? m->impl->hp().n_ctx_train : 0; }
int32_t hearth_model_n_embd(const hearth_model *m) { return m && m->impl ? m->impl->hp().n_embd : 0; }
int32_t hearth_model_n_layer(const hearth_model *m) { return m && m->impl ? m->impl->hp().n_layer : 0; }
uint64_t hearth_model_n_params(const hearth_model *m) { return m && m->impl ? m->impl->n_params() : 0; }
uint64_t hearth_model_size_bytes(const hearth_model *m) { return m && m->impl ? m->impl->weight_bytes() : 0; }
uint64_t hearth_model_repacked_bytes(const hearth_model *m) { return m && m->impl ? m->impl->repacked_bytes() : 0; }
hearth_token hearth_model_bos(const hearth_model *m) { return m && m->impl ? m->impl->vocab_data().bos() : -1; }
hearth_token hearth_model_eos(const hearth_model *m) { return m && m->impl ? m->impl->vocab_data().eos() : -1; }
int32_t hearth_token_is_eog(const hearth_model *m, hearth_token t) { return m && m->impl && m->impl->vocab_data().is_eog(t); }

hearth_status hearth_model_desc(const hearth_model *model, char *buf, size_t cap, size_t *n_out) {
  return guarded([&] { copy_out(live_model(model).describe(), buf, cap, n_out); });
}

hearth_status hearth_model_meta(const hearth_model *model, const char *key, char *buf, size_t cap, size_t *n_out) {
  return guarded([&] {
    require(key, "key is NULL");
    const hearth::gguf_value *v = live_model(model).file().find(key);
    if (!v) hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("metadata key '{}' not found", key));
    copy_out(v->to_string(), buf, cap, n_out);
  });
}

hearth_status hearth_chat_apply_template(const hearth_model *model, const char *tmpl, const hearth_chat_message *messages,
                                         size_t n_messages, int32_t add_assistant, char *buf, size_t cap, size_t *n_out) {
  return guarded([&] {
    require(messages || n_messages == 0, "messages is NULL");
    std::string from_model;
    hearth::chat_specials specials;  // the texts a template writes for bos_token / eos_token
    if (model && model->impl) {
      const hearth::vocab &v = model->impl->vocab_data();
      if (v.bos() >= 0) specials.bos = v.text(v.bos());
      if (v.eos() >= 0) specials.eos = v.text(v.eos());
    }
    if (!tmpl) {
      const hearth::gguf_value *v = live_model(model).file().find(hearth::key_name(hearth::kv::tokenizer_chat_template));
      if (!v || v->type != hearth::gguf_type::string)
        hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, "the model has no chat template (tokenizer.chat_template); name a built-in one: " +
                                                      hearth::chat_template_names());
      from_model = std::string(v->str);
    }
    std::vector<hearth::chat_message> ms;
    ms.reserve(n_messages);
    for (size_t i = 0; i < n_messages; ++i) {
      if (!messages[i].role || !messages[i].content)
        hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("message {} has a NULL role or content", i));
      const std::string_view content(messages[i].content);
      if (const int64_t bad = hearth::utf8_invalid_at(content); bad >= 0)
        hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("message {}: content is not valid UTF-8 (byte {})", i, bad));
      ms.push_back({messages[i].role, content});
    }
    copy_out(hearth::chat_template_apply(tmpl ? std::string_view(tmpl) : std::string_view(from_model), ms, add_assistant != 0,
                                         specials),
             buf, cap, n_out);
  });
}

const char *hearth_chat_builtin_templates(void) { return hearth::chat_template_names().c_str(); }

const char *hearth_chat_detect_template(const char *tmpl) {
  if (!tmpl) return nullptr;
  return hearth::chat_template_detect(tmpl);  // does not throw
}

hearth_status hearth_model_gpu_info(const hearth_model *model, hearth_gpu_info *out) {
  return guarded([&] {
    const hearth::model &m = live_model(model);
    require(out && out->struct_size >= sizeof(uint32_t), "out is NULL or out->struct_size is not set");
    hearth_gpu_info r{};
    r.struct_size = sizeof r;
    r.gpu_offload = HEARTH_GPU_NONE;
    if (const hearth::offload *o = m.gpu()) {
      r.gpu_offload = o->mode() == hearth::offload_mode::layers      ? HEARTH_GPU_LAYERS
                      : o->mode() == hearth::offload_mode::attention ? HEARTH_GPU_ATTENTION
                                                                     : HEARTH_GPU_HYBRID;
      r.vram_budget_bytes = o->budget();
      r.vram_weight_bytes = o->weight_bytes();
      r.n_layer_attention = o->n_attention_layers();
      r.output_on_gpu = o->output_on_gpu();
      r.neuron_fraction = o->n_neurons() ? (double)o->n_hot_neurons() / (double)o->n_neurons() : 0.0;
      r.firing_share = o->plan().gpu_firing_share;
    }
    std::memcpy(out, &r, std::min<size_t>(out->struct_size, sizeof r));
  });
}

hearth_status hearth_tokenize(const hearth_model *model, const char *text, size_t len, int32_t flags, hearth_token *out,
                              size_t cap, size_t *n_out) {
  return guarded([&] {
    require(n_out, "n_out is NULL");
    require(out || cap == 0, "out is NULL but cap is not 0");
    const std::vector<int32_t> toks = tokenize_checked(live_model(model), text, len, flags);
    *n_out = toks.size();
    if (toks.size() > cap)
      hearth::fail(HEARTH_ERR_BUFFER_TOO_SMALL, fmt::format("{} tokens do not fit in a buffer of {}", toks.size(), cap));
    std::copy(toks.begin(), toks.end(), out);
  });
}

hearth_status hearth_token_to_piece(const hearth_model *model, hearth_token token, int32_t flags, char *buf, size_t cap,
                                    size_t *n_out) {
  return guarded([&] {
    const hearth::model &m = live_model(model);
    if (token < 0 || token >= m.vocab_data().n_vocab()) hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("token {} is outside the vocabulary", token));
    copy_out(m.tok().piece(token, flags & HEARTH_DETOKENIZE_SPECIAL), buf, cap, n_out);
  });
}

hearth_status hearth_detokenize(const hearth_model *model, const hearth_token *tokens, size_t n, int32_t flags, char *buf,
                                size_t cap, size_t *n_out) {
  return guarded([&] {
    const hearth::model &m = live_model(model);
    require(tokens || n == 0, "tokens is NULL");
    std::vector<int32_t> v(tokens, tokens + n);
    for (int32_t t : v)
      if (t < 0 || t >= m.vocab_data().n_vocab()) hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("token {} is outside the vocabulary", t));
    copy_out(m.tok().decode(v, flags & HEARTH_DETOKENIZE_SPECIAL), buf, cap, n_out);
  });
}

namespace {
hearth::dtype kv_type(int32_t v, const char *field) {
  switch (v) {
    case HEARTH_KV_DEFAULT:
    case HEARTH_KV_F16: return hearth::dtype::f16;
    case HEARTH_KV_F32: return hearth::dtype::f32;
    case HEARTH_KV_Q8_0: return hearth::dtype::q8_0;
    default: hearth::fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("params.{} is {}, not a HEARTH_KV_* value", field, v));
  }
}
}  // namespace

void hearth_session_params_init(hearth_session_params *p) {
  if (!p) return;
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
  p->n_batch = 256;
  p->sparse_mode = HEARTH_SPARSE_AUTO;
  p->cats_sparsity = 0.5f;
  p->max_memory_bytes = 0;
}

hearth_status hearth_session_create(const hearth_model *model, const hearth_session_params *params, hearth_session **out) {
  if (out) *out = nullptr;
  return guarded([&] {
    require(out, "out is NULL");
    const hearth::model &m = live_model(model);
    const hearth_session_params p = read_params(params, hearth_session_params_init);
    hearth::session_config cfg;
    cfg.n_ctx = p.n_ctx;
    cfg.n_batch = p.n_batch;
    cfg.n_threads = p.n_threads;
    cfg.sparse_mode = p.sparse_mode;
    cfg.cats_sparsity = p.cats_sparsity;
    cfg.memory_limit = p.max_memory_bytes;
    cfg.type_k = kv_type(p.type_k, "type_k");
    cfg.type_v = kv_type(p.type_v, "type_v");
    auto s = std::make_unique<hearth_session>();
    s->model = model->impl;
    s->impl = std::make_unique<hearth::session>(m, cfg);
    *out = s.release();
  });
}

void hearth_session_free(hearth_session *s) { delete s; }

const char *hearth_session_last_error(const hearth_session *s) {
  return s && s->impl ? s->impl->last_error.c_str() : "session is NULL";
}

hearth_status hearth_session_reset(hearth_session *s) {
  return guarded(s, [&] { live_session(s).reset(); });
}
int32_t hearth_session_n_past(const hearth_session *s) { return s && s->impl ? s->impl->n_past() : 0; }
int32_t hearth_session_n_ctx(const hearth_session *s) { return s && s->impl ? s->impl->n_ctx() : 0; }

hearth_status hearth_session_truncate(hearth_session *s, int32_t n_keep) {
  return guarded(s, [&] { live_session(s).truncate(n_keep); });
}

hearth_status hearth_session_state_size(const hearth_session *s, size_t *out) {
  return guarded(const_cast<hearth_session *>(s), [&] {
    require(out != nullptr, "out is NULL");
    *out = live_session(const_cast<hearth_session *>(s)).state_bytes();
  });
}

hearth_status hearth_session_state_save(hearth_session *s, void *buf, size_t cap, size_t *n_out) {
  return guarded(s, [&] {
    hearth::session &ss = live_session(s);
    const size_t need = ss.state_bytes();
    if (n_out) *n_out = need;
    ss.save_state((uint8_t *)buf, buf ? cap : 0);
  });
}

hearth_status hearth_session_state_load(hearth_session *s, const void *buf, size_t size) {
  return guarded(s, [&] { live_session(s).load_state((const uint8_t *)buf, size); });
}

hearth_status hearth_session_state_save_file(hearth_session *s, const char *path) {
  return guarded(s, [&] {
    require(path != nullptr, "path is NULL");
    hearth::session &ss = live_session(s);
    std::vector<uint8_t> bytes(ss.state_bytes());
    ss.save_state(bytes.data(), bytes.size());
    hearth::write_file_replacing(path, [&](const hearth::append_fn &write) { write(bytes.data(), bytes.size()); });
  });
}

hearth_status hearth_session_state_load_file(hearth_session *s, const char *path) {
  return guarded(s, [&] {
    require(path != nullptr, "path is NULL");
    hearth::session &ss = live_session(s);
    const hearth::mapped_file f(path);
    ss.load_state(f.data(), f.size());
  });
}

const char *hearth_session_mode(const hearth_session *s) {
  return s && s->impl ? hearth::sparse_mode_name(s->impl->mode()) : "none";
}

hearth_status hearth_session_set_threshold(hearth_session *s, int32_t layer, float threshold) {
  return guarded(s, [&] { live_session(s).set_threshold(layer, threshold); });
}

hearth_status hearth_session_sparse_stats(const hearth_session *s, hearth_sparse_stats *out) {
  return guarded([&] {
    require(s && s->impl, "session is NULL");
    require(out && out->struct_size >= sizeof(uint32_t), "out is NULL or out->struct_size is not set");
    const hearth::sparse_stats &st = s->impl->stats();
    hearth_sparse_stats r;
    r.struct_size = sizeof r;
    r.mode = (int32_t)s->impl->mode();
    r.tokens = st.tokens;
    r.active_fraction = st.neurons ? (double)st.active / (double)st.neurons : 0.0;
    r.decode_bytes_per_token = st.decode_tokens ? st.decode_bytes / (double)st.decode_tokens : 0.0;
    r.predictor_ms = st.predictor_ms;
    r.total_ms = st.step_ms;
    r.gpu_neuron_share = st.active ? (double)st.gpu_active / (double)st.active : 0.0;
    r.gpu_bytes_per_token = st.decode_tokens ? st.gpu_decode_bytes / (double)st.decode_tokens : 0.0;
    r.uses_gpu = s->impl->hybrid() ? 1 : 0;
    std::memcpy(out, &r, std::min<size_t>(out->struct_size, sizeof r));
  });
}

hearth_status hearth_session_reset_stats(hearth_session *s) {
  return guarded(s, [&] { live_session(s).reset_stats(); });
}

void hearth_session_cancel(hearth_session *s) {
  if (s && s->impl) s->impl->request_cancel();
}

hearth_status hearth_session_eval(hearth_session *s, const hearth_token *tokens, int32_t n, int32_t all_logits) {
  return guarded(s, [&] {
    hearth::session &ss = live_session(s);
    require(tokens && n > 0, "tokens is NULL or n_tokens <= 0");
    ss.eval(tokens, n, all_logits != 0);
  });
}

const float *hearth_session_logits(const hearth_session *s, int32_t i) {
  return s && s->impl ? s->impl->logits(i) : nullptr;
}

void hearth_sampler_params_init(hearth_sampler_params *p) {
  if (!p) return;
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
  const hearth::sampler_config d;
  p->temperature = d.temperature;
  p->top_k = d.top_k;
  p->top_p = d.top_p;
  p->min_p = d.min_p;
  p->repeat_penalty = d.repeat_penalty;
  p->repeat_last_n = d.repeat_last_n;
  p->seed = d.seed;
}

hearth_status hearth_session_set_sampler(hearth_session *s, const hearth_sampler_params *params) {
  return guarded(s, [&] {
    hearth::session &ss = live_session(s);
    require(params, "params is NULL");
    const hearth_sampler_params p = read_params(params, hearth_sampler_params_init);
    hearth::sampler_config c;
    c.temperature = p.temperature;
    c.top_k = p.top_k;
    c.top_p = p.top_p;
    c.min_p = p.min_p;
    c.repeat_penalty = p.repeat_penalty;
    c.repeat_last_n = p.repeat_last_n;
    c.seed = p.seed;
    ss.smp().configure(c);
  });
}

uint64_t hearth_session_seed(const hearth_session *s) {
  return s && s->impl ? s->impl->sampler_seed() : HEARTH_SEED_RANDOM;
}

hearth_status hearth_session_sample(hearth_session *s, hearth_token *out) {
  return guarded(s, [&] {
    hearth::session &ss = live_session(s);
    require(out, "out is NULL");
    *out = ss.sample();
  });
}

void hearth_generate_params_init(hearth_generate_params *p) {
  if (!p) return;
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
  p->n_predict = 128;
  p->add_bos = 1;
  p->stop_at_eog = 1;
}

hearth_status hearth_generate(hearth_session *s, const char *prompt, const hearth_generate_params *params) {
  return guarded(s, [&] {
    hearth::session &ss = live_session(s);
    require(prompt, "prompt is NULL");
    const hearth_generate_params p = read_params(params, hearth_generate_params_init);
    const std::vector<int32_t> toks = tokenize_checked(*s->model, prompt, std::strlen(prompt), p.add_bos ? HEARTH_TOKENIZE_ADD_BOS : 0);
    std::string text;  // NUL-terminated for the callback
    ss.generate(toks, p.n_predict, p.stop_at_eog != 0, [&](int32_t t, std::string_view piece) {
      if (!p.on_token) return true;
      text.assign(piece);
      return p.on_token(t, text.c_str(), text.size(), p.user) == 0;
    });
  });
}

hearth_status hearth_session_perf(const hearth_session *s, hearth_perf *out) {
  return guarded([&] {
    require(s && s->impl, "session is NULL");
    require(out, "out is NULL");
    const hearth::perf_counters &c = const_cast<hearth::session &>(*s->impl).perf();
    hearth_perf p;
    p.struct_size = sizeof p;
    p.n_prompt = c.n_prompt;
    p.n_generated = c.n_generated;
    p.prompt_ms = c.prompt_ms;
    p.generate_ms = c.generate_ms;
    require(out->struct_size >= sizeof(uint32_t), "out->struct_size is not set");
    std::memcpy(out, &p, std::min<size_t>(out->struct_size, sizeof p));
  });
}

hearth_status hearth_session_feed(hearth_session *s, const char *text, size_t len, int32_t flags) {
  return guarded(s, [&] {
    hearth::session &ss = live_session(s);
    ss.feed(tokenize_checked(*s->model, text, len, flags));
  });
}

hearth_status hearth_session_step(hearth_session *s, hearth_token *token) {
  return guarded(s, [&] {
    hearth::session &ss = live_session(s);
    require(token, "token is NULL");
    *token = ss.step();
  });
}

int32_t hearth_gpu_count(void) {
  try {
    return hearth::gpu_device_count();
  } catch (...) {
    return 0;
  }
}

const char *hearth_cpu_isa(void) { return hearth::cpu::kernels().isa; }

size_t hearth_sizeof(const char *name) {
  if (!name) return 0;
  const std::string_view n = name;
  if (n == "hearth_model_params") return sizeof(hearth_model_params);
  if (n == "hearth_session_params") return sizeof(hearth_session_params);
  if (n == "hearth_sampler_params") return sizeof(hearth_sampler_params);
  if (n == "hearth_generate_params") return sizeof(hearth_generate_params);
  if (n == "hearth_sparse_stats") return sizeof(hearth_sparse_stats);
  if (n == "hearth_perf") return sizeof(hearth_perf);
  if (n == "hearth_gpu_info") return sizeof(hearth_gpu_info);
  return 0;
}

}  // extern "C"
