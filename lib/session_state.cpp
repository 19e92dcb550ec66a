// A session's state as bytes (hearth_session_state_*): what it takes to continue a conversation later, or in another
// session of the same model, exactly where it stopped.
//
// Layout (little-endian fields as the host writes them; a state moves between processes, not between byte orders):
//   "HRST", u32 version, u64 size of the whole state, u64 model fingerprint,
//   i32 KV cache pairs (one per layer), i32 n_vocab, i32 n_ctx of the saving session, i32 n_past,
//   per layer: u8 place, u8 type_k, u8 type_v, u8 0, u64 k_row bytes, u64 v_row bytes,
//   sampler: u64 seed, u64 generator[4], u32 history length, i32 history[],
//   input: i32 unevaluated token (-1 none), u32 queued count, i32 queued[],
//   logits: i32 tokens of the last eval, i32 rows kept (0: none), f32 rows[n_vocab],
//   per layer: n_past K rows, then n_past V rows,
//   u64 checksum of everything before it.
// Only positions below n_past are written, so a state costs what the context holds, not n_ctx.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "device.h"
#include "error.h"
#include "session.h"
#include "session_state.h"

namespace hearth {

// Word-at-a-time FNV-style mixing: one multiply per 8 bytes, so checking a state of a long context costs a small
// fraction of writing it. It detects truncation and corruption; it is not a cryptographic signature.
uint64_t state_checksum(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 32);
}

namespace {

constexpr char k_magic[4] = {'H', 'R', 'S', 'T'};
constexpr uint32_t k_version = 1;

// The model a state belongs to, as far as cheap facts tell: its shape and size, the first and last layers' attention
// norm weights and three rows of the token embedding (which differ between two trainings or quantizations of one
// architecture). A few kilobytes, read once per save or load.
uint64_t fingerprint(const model &m) {
  const hparams &hp = m.hp();
  std::vector<uint8_t> facts;
  auto put = [&facts](const void *p, size_t n) { facts.insert(facts.end(), (const uint8_t *)p, (const uint8_t *)p + n); };
  const int64_t shape[6] = {hp.n_layer, hp.n_embd, hp.n_vocab, hp.n_embd_kv(), (int64_t)m.n_params(), (int64_t)m.weight_bytes()};
  put(shape, sizeof shape);
  for (const layer *L : {&m.layers().front(), &m.layers().back()}) put(L->attn_norm.w.data(), L->attn_norm.w.size() * sizeof(float));
  const matrix &E = m.tok_embd();
  for (int64_t r : {(int64_t)0, E.rows / 2, E.rows - 1}) put(E.row(r), E.row_size);
  return state_checksum(facts.data(), facts.size());
}

class writer {
 public:
  explicit writer(uint8_t *p) : p_(p) {}
  template <class T>
  void put(const T &v) {
    bytes(&v, sizeof(T));
  }
  void bytes(const void *src, size_t n) {
    if (p_ && n) std::memcpy(p_ + n_, src, n);
    n_ += n;
  }
  uint8_t *reserve(size_t n) {  // n bytes the caller fills (a device download)
    uint8_t *at = p_ ? p_ + n_ : nullptr;
    n_ += n;
    return at;
  }
  size_t size() const { return n_; }

 private:
  uint8_t *p_;
  size_t n_ = 0;
};

class reader {
 public:
  reader(const uint8_t *p, size_t n) : p_(p), n_(n) {}
  template <class T>
  T get(const char *what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  const uint8_t *take(size_t n, const char *what) {
    if (n > n_ - at_) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("the session state ends inside its {}", what));
    const uint8_t *p = p_ + at_;
    at_ += n;
    return p;
  }
  // A count, then that many int32 tokens.
  std::vector<int32_t> tokens(const char *what) {
    const uint32_t n = get<uint32_t>(what);
    if (n > (n_ - at_) / 4) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("the session state ends inside its {}", what));
    std::vector<int32_t> out(n);
    if (n) std::memcpy(out.data(), take((size_t)n * 4, what), (size_t)n * 4);
    return out;
  }
  size_t offset() const { return at_; }

 private:
  const uint8_t *p_;
  size_t n_, at_ = 0;
};

// A cache pair's two halves as the state stores them, K then V: each one's workspace id and bytes per position.
std::array<std::pair<int32_t, size_t>, 2> halves(const kv_cache_ref &kv) { return {{{kv.k, kv.k_row}, {kv.v, kv.v_row}}}; }

}  // namespace

void session::truncate(int32_t n_keep) {
  if (n_keep < 0 || n_keep > n_past_)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("cannot keep {} tokens of a context that holds {}", n_keep, n_past_));
  drop_pending();
  unevaluated_ = -1;
  if (n_keep == n_past_) return;
  // The cache rows past n_keep are simply written over by the next eval: attention reads positions below n_past.
  n_past_ = n_keep;
  has_logits_ = false;
}

size_t session::state_bytes() const { return write_state(nullptr); }

void session::save_state(uint8_t *out, size_t cap) {
  const size_t total = state_bytes();
  if (!out || cap < total)
    fail(HEARTH_ERR_BUFFER_TOO_SMALL, fmt::format("the session state needs {} bytes, the buffer holds {}", total, cap));
  const size_t written = write_state(out);
  if (written != total) fail(HEARTH_ERR_INTERNAL, fmt::format("session state wrote {} bytes of {}", written, total));
}

// One pass over the layout both measures (out == nullptr) and writes the state, so the two cannot disagree.
size_t session::write_state(uint8_t *out) const {
  const hparams &hp = model_.hp();
  writer w(out);
  w.bytes(k_magic, 4);
  w.put(k_version);
  uint8_t *total_at = w.reserve(8);
  w.put(out ? fingerprint(model_) : 0);
  w.put((int32_t)graph_.kv.size());
  w.put((int32_t)hp.n_vocab);
  w.put((int32_t)n_ctx_);
  w.put((int32_t)n_past_);
  for (const kv_cache_ref &kv : graph_.kv) {
    const uint8_t rec[4] = {(uint8_t)kv.where, (uint8_t)kv.type_k, (uint8_t)kv.type_v, 0};
    w.bytes(rec, 4);
    w.put((uint64_t)kv.k_row);
    w.put((uint64_t)kv.v_row);
  }
  const sampler::state smp = sampler_.save();
  w.put(smp.seed);
  w.bytes(smp.s, sizeof smp.s);
  w.put((uint32_t)smp.history.size());
  w.bytes(smp.history.data(), smp.history.size() * sizeof(int32_t));
  w.put((int32_t)unevaluated_);
  w.put((uint32_t)(pending_.size() - pending_pos_));
  w.bytes(pending_.data() + pending_pos_, (pending_.size() - pending_pos_) * sizeof(int32_t));
  w.put((int32_t)(has_logits_ ? n_evaluated_ : 0));
  w.put((int32_t)(has_logits_ ? n_logits_ : 0));
  if (has_logits_) w.bytes(logits_.data(), (size_t)n_logits_ * (size_t)hp.n_vocab * sizeof(float));
  for (const kv_cache_ref &kv : graph_.kv) {
    for (const auto &[id, row] : halves(kv)) {
      const size_t bytes = (size_t)n_past_ * row;
      uint8_t *dst = w.reserve(bytes);
      if (!dst || !bytes) continue;
      if (kv.where == place::cpu) std::memcpy(dst, ws_->at<uint8_t>(id), bytes);
      else stream_->download(dst, ws_->at<uint8_t>(id), bytes);
    }
  }
  if (!out) return w.size() + 8;
  if (stream_) stream_->sync();
  const uint64_t total = w.size() + 8;
  std::memcpy(total_at, &total, 8);
  w.put(state_checksum(out, w.size()));
  return w.size();
}

void session::load_state(const uint8_t *data, size_t size) {
  if (!data) fail(HEARTH_ERR_INVALID_ARGUMENT, "the session state is NULL");
  const hparams &hp = model_.hp();
  reader r(data, size);
  if (std::memcmp(r.take(4, "header"), k_magic, 4) != 0) fail(HEARTH_ERR_BAD_FORMAT, "not a hearth session state (no HRST magic)");
  const uint32_t version = r.get<uint32_t>("header");
  if (version != k_version)
    fail(HEARTH_ERR_UNSUPPORTED, fmt::format("session state version {} (this library reads version {})", version, k_version));
  const uint64_t total = r.get<uint64_t>("header");
  if (total != size) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("the session state says it is {} bytes, the buffer holds {}", total, size));
  if (size < 8 || state_checksum(data, size - 8) != reader(data + size - 8, 8).get<uint64_t>("checksum"))
    fail(HEARTH_ERR_BAD_FORMAT, "the session state's checksum does not match: it is corrupted or truncated");
  if (r.get<uint64_t>("header") != fingerprint(model_))
    fail(HEARTH_ERR_INVALID_ARGUMENT, "the session state was saved from a different model");
  const int32_t n_kv = r.get<int32_t>("header"), n_vocab = r.get<int32_t>("header");
  const int32_t saved_ctx = r.get<int32_t>("header"), n_past = r.get<int32_t>("header");
  if (n_kv != (int32_t)graph_.kv.size() || n_vocab != hp.n_vocab)
    fail(HEARTH_ERR_INVALID_ARGUMENT, "the session state was saved from a different model");
  if (n_past < 0 || n_past > n_ctx_)
    fail(HEARTH_ERR_CONTEXT_FULL, fmt::format("the session state holds {} tokens of context (saved with n_ctx {}), more than this "
                                              "session's n_ctx {}", n_past, saved_ctx, n_ctx_));
  for (const kv_cache_ref &kv : graph_.kv) {
    const uint8_t *rec = r.take(4, "cache layout");
    const uint64_t k_row = r.get<uint64_t>("cache layout"), v_row = r.get<uint64_t>("cache layout");
    if (rec[0] != (uint8_t)kv.where || rec[1] != (uint8_t)kv.type_k || rec[2] != (uint8_t)kv.type_v || k_row != kv.k_row ||
        v_row != kv.v_row)
      fail(HEARTH_ERR_INVALID_ARGUMENT,
           fmt::format("layer {}'s KV cache was saved as K {} / V {} on the {}; this session keeps it as K {} / V {} on the {} "
                       "(create the session with the same type_k, type_v and placement)",
                       kv.layer, known((dtype)rec[1]) ? type_name((dtype)rec[1]) : "?", known((dtype)rec[2]) ? type_name((dtype)rec[2]) : "?",
                       rec[0] == (uint8_t)place::gpu ? "GPU" : "CPU", type_name(kv.type_k), type_name(kv.type_v), place_name(kv.where)));
  }
  sampler::state smp;
  smp.seed = r.get<uint64_t>("sampler");
  std::memcpy(smp.s, r.take(sizeof smp.s, "sampler"), sizeof smp.s);
  smp.history = r.tokens("sampler");
  const int32_t unevaluated = r.get<int32_t>("queued input");
  std::vector<int32_t> queued = r.tokens("queued input");
  auto in_vocab = [n_vocab](int32_t t) { return t >= 0 && t < n_vocab; };
  if ((unevaluated != -1 && !in_vocab(unevaluated)) || !std::all_of(queued.begin(), queued.end(), in_vocab) ||
      !std::all_of(smp.history.begin(), smp.history.end(), in_vocab))
    fail(HEARTH_ERR_BAD_FORMAT, "the session state holds a token outside the vocabulary");
  const int32_t n_evaluated = r.get<int32_t>("logits"), n_logits = r.get<int32_t>("logits");
  if (n_logits < 0 || n_logits > n_evaluated || n_evaluated > n_past || (n_logits > 0 && n_logits != 1 && n_logits != n_evaluated))
    fail(HEARTH_ERR_BAD_FORMAT, "the session state's logits do not match its context");
  const uint8_t *logits = r.take((size_t)n_logits * (size_t)n_vocab * sizeof(float), "logits");
  std::vector<const uint8_t *> rows;  // where each half's n_past rows are in the state, in graph_.kv's order
  for (const kv_cache_ref &kv : graph_.kv)
    for (const auto &[id, row] : halves(kv)) rows.push_back(r.take((size_t)n_past * row, "KV cache"));
  if (r.offset() + 8 != size) fail(HEARTH_ERR_BAD_FORMAT, "the session state has bytes after its KV cache");

  // Everything checked: from here on nothing fails but a device copy, which leaves the session empty.
  reset();
  const uint8_t *const *src = rows.data();
  for (const kv_cache_ref &kv : graph_.kv)
    for (const auto &[id, row] : halves(kv)) {
      const size_t bytes = (size_t)n_past * row;
      const uint8_t *from = *src++;
      if (!bytes) continue;
      if (kv.where == place::cpu) std::memcpy(ws_->at<uint8_t>(id), from, bytes);
      else stream_->upload(ws_->at<uint8_t>(id), from, bytes);
    }
  if (stream_) stream_->sync();
  n_past_ = n_past;
  sampler_.restore(smp);
  pending_ = std::move(queued);  // (reset() emptied the queue)
  unevaluated_ = unevaluated;
  n_evaluated_ = n_evaluated;
  n_logits_ = n_logits;
  has_logits_ = n_logits > 0;
  logits_.resize((size_t)n_logits * (size_t)n_vocab);
  if (n_logits) std::memcpy(logits_.data(), logits, logits_.size() * sizeof(float));
}

}  // namespace hearth
