// Builds a session's graph (graph.h) from the model's block pieces (blocks.cpp) under a placement: which layers'
// attention and which hot neurons are on the GPU (the model's offload part), or none. The builder tracks where
// each value of the step is current (host, device or both) and inserts the transfers a node on the other side
// needs, merging adjacent regions into one copy, so the pieces only say where they run.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "graph.h"
#include "model.h"
#include "sparse_mode.h"

namespace hearth {

class offload;
class device_stream;

// Sees each layer's FFN in dense mode: the FFN's input (before its norm, what a predictor reads) and the
// activations (zero = the neuron did not fire), n tokens of n_embd and n_ff. Used by the calibration profiler.
class ffn_observer {
 public:
  virtual ~ffn_observer() = default;
  virtual void on_ffn(int32_t layer, const float *x, const float *act, int64_t n) = 0;
};

// What the FFN nodes report besides their output (all optional, owned by the session).
struct ffn_taps {
  ffn_observer *observer = nullptr;                     // dense CPU FFNs
  std::vector<uint64_t> *fired = nullptr;               // n_layer x n_ff: tokens that computed (or fired) each neuron
                                                        // (a mixture: n_layer x n_expert x n_ff)
  std::vector<uint64_t> *expert_chosen = nullptr;       // a mixture: n_layer x n_expert, tokens that chose each expert
  std::vector<std::vector<float>> *cats_samples = nullptr;  // per layer, |act(gate)| while step.collect_cats
};

struct build_inputs {
  const model *m = nullptr;
  sparse_mode mode = sparse_mode::dense;
  int32_t n_batch = 0, n_ctx = 0;
  const offload *gpu = nullptr;    // null: a CPU-only graph
  device_stream *stream = nullptr;  // the session's stream (with gpu)
  size_t device_kv_bytes = 4;       // bytes per KV value on the device
  dtype type_k = dtype::f32, type_v = dtype::f32;  // the host KV cache's element types
  workspace *ws = nullptr;
  const step_state *st = nullptr;
  const std::vector<float> *thresholds = nullptr;  // per layer, read at run time (the session may change them)
  ffn_taps taps;
};

// Where a value lives on one device, for a node's body: the buffer and the value's offset (values per token).
struct loc {
  const workspace *ws = nullptr;
  int32_t res = -1;
  int64_t offset = 0;
  float *f(int64_t n) const { return ws->at<float>(res) + offset * n; }
  int32_t *i(int64_t n) const { return (int32_t *)f(n); }
};

// A tensor of the step: `width` values per token (floats, or int32 for index lists), at `offset` values per token
// into its storage (values that share storage are laid out one after another for each batch size n), with a
// copy on the host, the device or both.
struct value {
  std::string name;
  int32_t storage = -1;  // index of its storage in the builder
  int64_t offset = 0, width = 0;
};

class graph_builder {
 public:
  explicit graph_builder(const build_inputs &in);
  const build_inputs &in() const { return in_; }
  const model &m() const { return *in_.m; }
  const hparams &hp() const { return in_.m->hp(); }
  workspace &ws() const { return *in_.ws; }
  const step_state &st() const { return *in_.st; }
  device_stream &stream() const { return *in_.stream; }

  // A new value with its own storage; several values in one storage (one transfer can move them together).
  value make(const std::string &name, int64_t width);
  std::vector<value> make_group(const std::string &name, std::initializer_list<std::pair<const char *, int64_t>> parts);
  // A value that lives within one layer: every layer's value of this role shares one storage (as wide as the
  // widest), so temporaries cost one layer's memory, not n_layer times it. The new value starts unwritten; the
  // executor orders a layer's writes after the previous layer's reads of the same buffer.
  value temporary(const std::string &role, const std::string &name, int64_t width);

  // The value's buffer on a device (declared on first use), for a node's reads and writes.
  int32_t res(const value &v, place p);
  // Makes v current on p, with a transfer node if it is not.
  void need(const value &v, place p);
  // The same for several values: regions of one storage that are adjacent move in one copy.
  void need(std::initializer_list<const value *> vs, place p);
  // v was written on p: the other copy is stale.
  void wrote(const value &v, place p);
  bool current(const value &v, place p) const;

  // The value's buffer and offset on p, for a node's body (declares the buffer on first use).
  loc at(const value &v, place p);

  node &add(node n);
  void add_kv_cache(const kv_cache_ref &kv) { g_.kv.push_back(kv); }
  graph finish();

 private:
  struct storage {
    std::string name;
    int64_t width = 0;  // values per token over all its parts
    int32_t res[2] = {-1, -1};
  };
  uint8_t &cur(const value &v);
  void transfer(int32_t storage, int64_t offset, int64_t width, place to, const std::string &what);
  build_inputs in_;
  std::vector<storage> storage_;
  std::map<std::string, int32_t> temporaries_;  // role -> storage
  std::map<std::pair<int32_t, int64_t>, uint8_t> current_;  // (storage, offset) -> bit per place where it is current
  graph g_;
};

// Builds the standard block of the model's architecture (block_spec) for every layer: embedding, attention, FFN,
// output. The session's graph.
graph build_graph(const build_inputs &in);

}  // namespace hearth
