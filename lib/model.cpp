#include "model.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "arch.h"
#include "error.h"
#include "log.h"
#include "offload.h"

namespace hearth {

const char *activation_name(activation a) {
  switch (a) {
    case activation::silu: return "silu";
    case activation::gelu: return "gelu";
    case activation::relu: return "relu";
    case activation::relu_sq: return "relu-squared";
  }
  return "?";
}

std::string ffn_form::name() const {
  if (act == activation::relu && gated && act_on_up) return "drelu";
  if (!gated) return activation_name(act);
  return std::string(activation_name(act)) + "-gated";
}

const char *ffn_form::family() const {
  if (act == activation::relu && gated && act_on_up) return "dReLU";
  switch (act) {
    case activation::silu: return gated ? "SwiGLU" : "SiLU";
    case activation::gelu: return gated ? "GeGLU" : "GELU";
    case activation::relu: return gated ? "ReGLU" : "ReLU";
    case activation::relu_sq: return gated ? "ReLU²-GLU" : "ReLU²";
  }
  return "?";
}

namespace {

struct ffn_key_row {
  const char *key;
  ffn_form form;
};
const ffn_key_row k_ffn_keys[] = {
    {"silu", {activation::silu, true, false}},       {"gelu", {activation::gelu, true, false}},
    {"relu", {activation::relu, true, false}},       {"drelu", {activation::relu, true, true}},
    {"relu_nogate", {activation::relu, false, false}}, {"relu_sq", {activation::relu_sq, true, false}},
    {"relu_sq_nogate", {activation::relu_sq, false, false}},
};

}  // namespace

bool ffn_form_from_key(std::string_view key, ffn_form *out) {
  for (const ffn_key_row &r : k_ffn_keys)
    if (key == r.key) {
      *out = r.form;
      return true;
    }
  return false;
}

const char *ffn_form_key(const ffn_form &f) {
  for (const ffn_key_row &r : k_ffn_keys)
    if (r.form == f) return r.key;
  return nullptr;
}

matrix matrix::rows_range(int64_t first, int64_t count) const {
  matrix m = *this;
  m.data = data + first * row_size;
  m.groups = nullptr;  // a view starts anywhere in a group
  m.rows = count;
  return m;
}

uint64_t layer::attention_bytes() const {
  return wq.bytes() + wk.bytes() + wv.bytes() + wo.bytes() + (bq.size() + bk.size() + bv.size() + bo.size()) * sizeof(float) +
         attn_norm.bytes() + q_norm.bytes() + k_norm.bytes() + attn_post_norm.bytes();
}

uint64_t layer::ffn_bytes() const { return ffn_weights::bytes() + ffn_post_norm.bytes(); }

model::~model() = default;

namespace {

// PowerInfer's predictors (fc1/fc2, any architecture) and thresholds: its one global
// powerinfer.sparse_threshold, and hearth's optional per-layer override.
void load_predictors(tensor_loader &l, const gguf_file &f, const hparams &hp, std::vector<layer> &layers) {
  const float threshold = (float)f.get_float(key_name(kv::powerinfer_sparse_threshold), 0.0);
  const std::string per_key = key_name(kv::hearth_sparse_thresholds);
  const gguf_value *per_layer = f.find(per_key);
  if (per_layer && (per_layer->type != gguf_type::array || per_layer->arr_type != gguf_type::f32 ||
                    per_layer->arr_count != (uint64_t)hp.n_layer))
    fail(HEARTH_ERR_BAD_FORMAT, per_key + " must be an f32 array with one value per layer");
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = layers[(size_t)il];
    // Predictor ranks differ per layer: read fc1's shape, then require fc2 to match it.
    const std::string fc1_name = tensor_name(tensor::fc1, il);
    if (const gguf_tensor *fc1 = f.tensor(fc1_name)) {
      if (fc1->n_dims != 2 || fc1->ne[1] < 1 || fc1->ne[1] > hp.n_ff)
        fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {}, expected [{}, rank]", fc1_name, fc1->shape(), hp.n_embd));
      const int64_t rank = fc1->ne[1];
      L.fc1 = l.matrix_of(tensor::fc1, il, hp.n_embd, rank);
      L.fc2 = l.matrix_of(tensor::fc2, il, rank, hp.n_ff);
    }
    L.threshold = per_layer ? per_layer->arr<float>((uint64_t)il) : threshold;
  }
}

}  // namespace

std::shared_ptr<const model> model::load(const std::string &path, const model_config &cfg) {
  std::shared_ptr<model> m(new model());
  m->file_ = gguf_file::open(path);
  const gguf_file &f = *m->file_;
  m->vocab_only_ = cfg.vocab_only;
  m->vocab_.load(f);
  m->tok_ = make_tokenizer(m->vocab_);
  if (!cfg.vocab_only) {
    const std::string arch_key = key_name(kv::general_architecture);
    const std::string arch = f.get_string(arch_key, "");
    m->arch_ = find_arch(arch);
    if (!m->arch_)
      fail(HEARTH_ERR_UNSUPPORTED, arch.empty() ? arch_key + " is missing"
                                                : fmt::format("architecture '{}' is not supported (hearth runs {})", arch, arch_names()));
    m->hp_.arch = arch;
    m->hp_.n_vocab = m->vocab_.n_vocab();
    m->arch_->load_hparams(f, m->hp_);
    // The unit chose the rotation's pairing (block.rope) after reading the frequencies; every spec follows it.
    for (rope_spec *r : {&m->hp_.rope, &m->hp_.rope_swa, &m->hp_.rope_long})
      if (!r->freq.empty()) r->kind = m->hp_.block.rope;
    m->layers_.resize((size_t)m->hp_.n_layer);
    tensor_loader l(*m, f);
    m->arch_->load_tensors(l, m->hp_);
    load_predictors(l, f, m->hp_, m->layers_);
    m->has_predictors_ = m->neuron_major_ = true;
    for (const layer &L : m->layers_) {
      if (L.moe) {  // a mixture: its experts' layout and predictors
        for (const ffn_weights &e : L.moe.experts) m->neuron_major_ = m->neuron_major_ && e.down_t;
        m->has_predictors_ = m->has_predictors_ && !L.moe.fc1.empty() && L.moe.experts[0].down_t;
        continue;
      }
      m->neuron_major_ = m->neuron_major_ && L.down_t;
      m->has_predictors_ = m->has_predictors_ && L.fc1 && L.down_t;
    }
  }
  if (cfg.progress && !cfg.progress(cfg.prefault ? 0.05f : 1.0f, cfg.progress_user)) fail(HEARTH_ERR_CANCELLED, "loading was cancelled");
  if (cfg.prefault && !cfg.vocab_only) {
    const bool done = f.map().touch([&](float p) { return !cfg.progress || cfg.progress(0.05f + 0.95f * p, cfg.progress_user) != 0; });
    if (!done) fail(HEARTH_ERR_CANCELLED, "loading was cancelled");
  }
  if (!cfg.vocab_only) m->offload_ = offload::create(*m, cfg.offload);
  if (!cfg.vocab_only && cfg.repack) m->repack_for_decode();
  log(HEARTH_LOG_INFO, "loaded {}: {}", path, m->describe());
  return m;
}

std::vector<std::pair<dtype, uint64_t>> model::dense_bytes_by_type() const {
  std::map<dtype, uint64_t> by;
  auto add = [&](const matrix &m, uint64_t bytes) {
    if (m) by[m.type] += bytes;
  };
  add(tok_embd_, tok_embd_.row_size);
  add(pos_embd_, pos_embd_.row_size);
  add(output_, output_.bytes());
  uint64_t f32 = output_norm_.bytes();
  auto add_ffn = [&](const ffn_weights &w, uint64_t times) {
    for (const matrix *m : {&w.gate, &w.up, w.down ? &w.down : &w.down_t}) add(*m, m->bytes() * times);
  };
  for (const layer &L : layers_) {
    for (const matrix *m : {&L.wq, &L.wk, &L.wv, &L.wo}) add(*m, m->bytes());
    add_ffn(L, 1);
    if (L.moe) {  // the router, n_used experts (all of one size), the shared expert
      add(L.moe.router, L.moe.router.bytes());
      add_ffn(L.moe.experts[0], (uint64_t)hp_.block.moe.n_used);
      add_ffn(L.moe.shared, 1);
      f32 += L.moe.shared_gate.size() * sizeof(float);
    }
    f32 += (L.bq.size() + L.bk.size() + L.bv.size() + L.bo.size() + L.bgate.size() + L.bup.size() + L.bdown.size()) * sizeof(float) +
           L.attn_norm.bytes() + L.q_norm.bytes() + L.k_norm.bytes() + L.ffn_input_norm(hp_.block.parallel).bytes() +
           L.attn_post_norm.bytes() + L.ffn_post_norm.bytes();
  }
  by[dtype::f32] += f32;
  std::vector<std::pair<dtype, uint64_t>> v(by.begin(), by.end());
  std::stable_sort(v.begin(), v.end(), [](const auto &a, const auto &b) { return a.second > b.second; });
  return v;
}

uint64_t model::dense_bytes_per_token() const {
  uint64_t b = 0;
  for (const auto &[t, n] : dense_bytes_by_type()) b += n;
  return b;
}

std::string model::weight_types() const {
  std::string s;
  for (const auto &[t, b] : dense_bytes_by_type())
    if (t != dtype::f32 || layers_.empty() || layers_[0].wq.type == dtype::f32)
      if (b * 50 >= weight_bytes_ || s.empty()) s += (s.empty() ? "" : " + ") + type_name(t);  // types of >= 2% of the bytes
  return s;
}

std::string model::describe() const {
  if (vocab_only_) return fmt::format("vocabulary only, {} tokens ({})", vocab_.n_vocab(), tok_->name());
  const double p = (double)n_params_;
  const std::string size = p >= 1e9 ? fmt::format("{:.2f}B", p / 1e9) : fmt::format("{:.1f}M", p / 1e6);
  const moe_spec &moe = hp_.block.moe;
  const std::string experts =
      moe ? fmt::format(" x {} experts ({} per token{})", moe.n_expert, moe.n_used, hp_.n_ff_shared ? ", a shared one" : "") : "";
  return fmt::format("{} {} params, {} ({:.2f} GiB), {} layers, embd {}, ff {}, heads {}/{}, vocab {}, FFN {}{}{}{}", hp_.arch,
                     size, weight_types(), weight_bytes_ / 1073741824.0,
                     hp_.n_layer, hp_.n_embd, hp_.n_ff, hp_.n_head, hp_.n_head_kv, hp_.n_vocab, hp_.block.ffn.name(), experts,
                     file_->pwri() ? ", PowerInfer file" : "", has_predictors_ ? ", predictors" : "") +
         (offload_ ? "; " + offload_->describe() : "");
}

}  // namespace hearth
