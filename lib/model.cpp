#include "model.h"

#include <fmt/format.h>

#include "error.h"
#include "log.h"
#include "offload.h"

namespace hearth {

const char *ffn_kind_name(ffn_kind k) {
  switch (k) {
    case ffn_kind::silu_gated: return "silu-gated";
    case ffn_kind::relu_gated: return "relu-gated";
    case ffn_kind::drelu: return "drelu";
    case ffn_kind::relu: return "relu";
  }
  return "?";
}

model::~model() = default;

void model::set_offload(std::unique_ptr<offload> o) { offload_ = std::move(o); }

std::unique_ptr<model> model::load(const std::string &path, bool vocab_only, bool prefault,
                                   int32_t (*progress)(float, void *), void *progress_user) {
  std::unique_ptr<model> m(new model());
  m->file_ = gguf_file::open(path);
  m->vocab_only_ = vocab_only;
  m->vocab_.load(*m->file_);
  if (!vocab_only) {
    m->load_hparams();
    m->load_weights();
  }
  if (progress && !progress(prefault ? 0.05f : 1.0f, progress_user)) fail(HEARTH_ERR_CANCELLED, "loading was cancelled");
  if (prefault && !vocab_only) {
    const bool done = m->file_->map().touch([&](float f) { return !progress || progress(0.05f + 0.95f * f, progress_user) != 0; });
    if (!done) fail(HEARTH_ERR_CANCELLED, "loading was cancelled");
  }
  log(HEARTH_LOG_INFO, "loaded {}: {}", path, m->describe());
  return m;
}

void model::load_hparams() {
  const gguf_file &f = *file_;
  hp_.arch = f.get_string("general.architecture", "");
  if (hp_.arch != "llama" && hp_.arch != "bamboo")
    fail(HEARTH_ERR_UNSUPPORTED, hp_.arch.empty() ? "general.architecture is missing"
                                                  : "architecture '" + hp_.arch + "' is not supported (llama, bamboo)");
  const std::string a = hp_.arch + ".";
  auto need = [&](const std::string &key, uint64_t lo, uint64_t hi) -> int32_t {
    if (!f.find(key)) fail(HEARTH_ERR_BAD_FORMAT, "metadata '" + key + "' is missing");
    const uint64_t v = f.get_uint(key, 0);
    if (v < lo || v > hi) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("metadata '{}' = {} is outside [{}, {}]", key, v, lo, hi));
    return (int32_t)v;
  };
  hp_.n_embd = need(a + "embedding_length", 1, 1 << 16);
  hp_.n_layer = need(a + "block_count", 1, 4096);
  hp_.n_ff = need(a + "feed_forward_length", 1, 1 << 20);
  hp_.n_head = need(a + "attention.head_count", 1, 4096);
  hp_.n_head_kv = f.find(a + "attention.head_count_kv") ? need(a + "attention.head_count_kv", 1, 4096) : hp_.n_head;
  hp_.n_ctx_train = f.find(a + "context_length") ? need(a + "context_length", 1, 1 << 24) : 2048;
  if (hp_.n_embd % hp_.n_head) fail(HEARTH_ERR_BAD_FORMAT, "embedding_length is not a multiple of head_count");
  if (hp_.n_head % hp_.n_head_kv) fail(HEARTH_ERR_BAD_FORMAT, "head_count is not a multiple of head_count_kv");
  hp_.n_rot = f.find(a + "rope.dimension_count") ? need(a + "rope.dimension_count", 0, (uint64_t)hp_.head_dim()) : hp_.head_dim();
  if (hp_.n_rot % 2) fail(HEARTH_ERR_BAD_FORMAT, "rope.dimension_count must be even");
  hp_.rope_base = (float)f.get_float(a + "rope.freq_base", 10000.0);
  hp_.rms_eps = (float)f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5);
  if (!(hp_.rope_base > 0) || !(hp_.rms_eps >= 0)) fail(HEARTH_ERR_BAD_FORMAT, "rope.freq_base or layer_norm_rms_epsilon out of range");
  hp_.n_vocab = vocab_.n_vocab();

  // FFN activation: hearth's own key wins; PowerInfer marks ReLU models by the PWRI magic (llama = ReGLU) and
  // by the bamboo architecture (dReLU); plain llama.cpp llama files are SwiGLU.
  const std::string act = f.get_string("hearth.ffn_activation", "");
  if (act == "silu") hp_.ffn = ffn_kind::silu_gated;
  else if (act == "relu") hp_.ffn = ffn_kind::relu_gated;
  else if (act == "drelu") hp_.ffn = ffn_kind::drelu;
  else if (act == "relu_nogate") hp_.ffn = ffn_kind::relu;
  else if (!act.empty()) fail(HEARTH_ERR_UNSUPPORTED, "hearth.ffn_activation '" + act + "' is unknown");
  else if (hp_.arch == "bamboo") hp_.ffn = ffn_kind::drelu;
  else hp_.ffn = f.pwri() ? ffn_kind::relu_gated : ffn_kind::silu_gated;
}

matrix model::get_matrix(const std::string &name, int64_t cols, int64_t rows, bool required) {
  const gguf_tensor *t = file_->tensor(name);
  if (!t) {
    if (required) fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + name + "' is missing");
    return {};
  }
  if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {}, expected [{}, {}]", name, t->shape(), cols, rows));
  if (!traits(t->type).computable)
    fail(HEARTH_ERR_UNSUPPORTED, fmt::format("tensor '{}' has type {}, which hearth cannot compute yet (F32, F16, BF16, Q8_0, Q4_0)",
                                             name, type_name(t->type)));
  matrix m;
  m.t = t;
  m.type = t->type;
  m.rows = rows;
  m.cols = cols;
  m.data = t->data;
  m.row_size = row_bytes(t->type, cols);
  n_params_ += (uint64_t)(rows * cols);
  weight_bytes_ += t->size;
  return m;
}

std::vector<float> model::get_vector(const std::string &name, int64_t n) {
  const gguf_tensor *t = file_->tensor(name);
  if (!t) fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + name + "' is missing");
  if (t->n_elements() != n || t->ne[0] != n)
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {}, expected [{}]", name, t->shape(), n));
  if (!traits(t->type).computable) fail(HEARTH_ERR_UNSUPPORTED, fmt::format("tensor '{}' has unsupported type {}", name, type_name(t->type)));
  std::vector<float> v((size_t)n);  // norms are tiny; a float copy keeps every kernel on one type
  dequantize_row(t->type, t->data, v.data(), n);
  n_params_ += (uint64_t)n;
  weight_bytes_ += t->size;
  return v;
}

void model::load_weights() {
  const int64_t d = hp_.n_embd, dkv = hp_.n_embd_kv(), ff = hp_.n_ff, nv = hp_.n_vocab;
  tok_embd_ = get_matrix("token_embd.weight", d, nv, true);
  output_norm_ = get_vector("output_norm.weight", d);
  output_ = get_matrix("output.weight", d, nv, false);
  if (!output_) output_ = tok_embd_;  // tied embeddings
  layers_.resize((size_t)hp_.n_layer);
  // PowerInfer's one global threshold, and hearth's optional per-layer override.
  const float threshold = (float)file_->get_float("powerinfer.sparse_threshold", 0.0);
  const gguf_value *per_layer = file_->find("hearth.sparse_thresholds");
  if (per_layer && (per_layer->type != gguf_type::array || per_layer->arr_type != gguf_type::f32 ||
                    per_layer->arr_count != (uint64_t)hp_.n_layer))
    fail(HEARTH_ERR_BAD_FORMAT, "hearth.sparse_thresholds must be an f32 array with one value per layer");
  has_predictors_ = neuron_major_ = true;
  for (int32_t il = 0; il < hp_.n_layer; ++il) {
    layer &L = layers_[(size_t)il];
    const std::string p = fmt::format("blk.{}.", il);
    L.attn_norm = get_vector(p + "attn_norm.weight", d);
    L.wq = get_matrix(p + "attn_q.weight", d, d, true);
    L.wk = get_matrix(p + "attn_k.weight", d, dkv, true);
    L.wv = get_matrix(p + "attn_v.weight", d, dkv, true);
    L.wo = get_matrix(p + "attn_output.weight", d, d, true);
    L.ffn_norm = get_vector(p + "ffn_norm.weight", d);
    L.up = get_matrix(p + "ffn_up.weight", d, ff, true);
    L.gate = get_matrix(p + "ffn_gate.weight", d, ff, false);
    L.down = get_matrix(p + "ffn_down.weight", ff, d, false);
    if (!L.down) L.down_t = get_matrix(p + "ffn_down_t.weight", d, ff, false);
    if (!L.down && !L.down_t) fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + p + "ffn_down.weight' is missing");
    neuron_major_ = neuron_major_ && L.down_t;
    // Predictor ranks differ per layer: read fc1's shape, then require fc2 to match it.
    if (const gguf_tensor *fc1 = file_->tensor(p + "fc1.weight")) {
      if (fc1->n_dims != 2 || fc1->ne[1] < 1 || fc1->ne[1] > ff)
        fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}fc1.weight' has shape {}, expected [{}, rank]", p, fc1->shape(), d));
      const int64_t rank = fc1->ne[1];
      L.fc1 = get_matrix(p + "fc1.weight", d, rank, true);
      L.fc2 = get_matrix(p + "fc2.weight", rank, ff, true);
    }
    has_predictors_ = has_predictors_ && L.fc1 && L.down_t;
    L.threshold = per_layer ? per_layer->arr<float>((uint64_t)il) : threshold;
    if (!L.gate) {
      if (hp_.ffn != ffn_kind::relu && hp_.ffn != ffn_kind::relu_gated && hp_.ffn != ffn_kind::drelu)
        fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + p + "ffn_gate.weight' is missing");
      hp_.ffn = ffn_kind::relu;  // a ReLU model without gates is the plain-ReLU FFN
    } else if (hp_.ffn == ffn_kind::relu) {
      fail(HEARTH_ERR_BAD_FORMAT, "hearth.ffn_activation says no gate, but '" + p + "ffn_gate.weight' exists");
    }
  }
}

uint64_t model::bytes_per_token() const {
  uint64_t b = tok_embd_.row_size + output_.bytes();
  for (const layer &L : layers_) {
    b += L.wq.bytes() + L.wk.bytes() + L.wv.bytes() + L.wo.bytes() + L.up.bytes();
    b += (L.gate ? L.gate.bytes() : 0) + (L.down ? L.down.bytes() : L.down_t.bytes());
    b += (L.attn_norm.size() + L.ffn_norm.size()) * sizeof(float);
  }
  return b + output_norm_.size() * sizeof(float);
}

std::string model::describe() const {
  if (vocab_only_) return fmt::format("vocabulary only, {} tokens", vocab_.n_vocab());
  const double p = (double)n_params_;
  const std::string size = p >= 1e9 ? fmt::format("{:.2f}B", p / 1e9) : fmt::format("{:.1f}M", p / 1e6);
  return fmt::format("{} {} params, {} ({:.2f} GiB), {} layers, embd {}, ff {}, heads {}/{}, vocab {}, FFN {}{}{}", hp_.arch,
                     size, type_name(layers_.empty() ? tok_embd_.type : layers_[0].wq.type), weight_bytes_ / 1073741824.0,
                     hp_.n_layer, hp_.n_embd, hp_.n_ff, hp_.n_head, hp_.n_head_kv, hp_.n_vocab, ffn_kind_name(hp_.ffn),
                     file_->pwri() ? ", PowerInfer file" : "", has_predictors_ ? ", predictors" : "") +
         (offload_ ? "; " + offload_->describe() : "");
}

}  // namespace hearth
