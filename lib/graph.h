// One forward step as a list of operator nodes. Each node names the buffers it reads and writes (workspace ids),
// the device it runs on, and the weight bytes and neurons it accounts for; its body is an operator bound to its
// data (it never calls back into the session). The executor (executor.h) derives the order from the buffers.
//
// The graph builder composes an architecture's block from parameterised pieces (blocks.cpp) under a placement:
// on the CPU alone every node is a CPU node; with a GPU part, the attention of some layers and the hot half of
// their FFNs become GPU nodes, and the builder inserts the transfers where a value crosses devices. One builder,
// two placements: a block is written once.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "workspace.h"

namespace hearth {

// The batch being evaluated, which every node reads (set by the session before each run).
struct step_state {
  const int32_t *tokens = nullptr;
  int64_t n = 0;
  int32_t pos0 = 0;
  std::vector<int32_t> pos;  // pos0 .. pos0 + n - 1
  bool all_logits = false;
  float *logits = nullptr;   // n_vocab floats per kept row (every token, or the last), or nullptr for none
  bool collect_cats = false; // CATS calibration: gate mask nodes record |act(gate)| samples
  int64_t logit_rows() const { return logits ? (all_logits ? n : 1) : 0; }
};

enum class node_kind : uint8_t { embed, attention, predictor, mask, ffn, merge, output, transfer };

struct node {
  std::string name;  // "blk.3.attn_qkv", for logs and dumps
  node_kind kind = node_kind::attention;
  place where = place::cpu;
  int32_t layer = -1;
  std::vector<int32_t> reads, writes;  // workspace ids (scratch an operator uses counts as written)
  std::function<void(node &self)> run;  // the operator; self: to report what it computed (active)
  // Accounting (accounting.h): bytes of weights a one-token step reads here whatever the masks say, bytes per
  // neuron it computes, and the FFN neurons per token it answers for (set on one node per FFN).
  uint64_t weight_bytes = 0, neuron_bytes = 0;
  int32_t n_neurons = 0;
  // Written by run() in each step: the (token, neuron) pairs it computed; or, for GPU nodes whose counts come
  // back from the device, per-token counts in host memory (workspace buffer, int32 offset; valid after the step).
  uint64_t active = 0;
  uint64_t read_bytes = 0;  // weight bytes a one-token step read beyond the above (the experts an MoE FFN chose)
  int32_t counts_res = -1;
  int64_t counts_offset = 0;
};

// One layer's KV cache pair as the graph declared it (workspace ids, on the host or the device): what a saved session
// state holds, position by position (a row is one position's values, `k_row`/`v_row` bytes in its element type).
struct kv_cache_ref {
  int32_t layer = 0;
  place where = place::cpu;
  int32_t k = -1, v = -1;
  dtype type_k = dtype::f32, type_v = dtype::f32;
  size_t k_row = 0, v_row = 0;
};

struct graph {
  std::vector<node> nodes;
  std::vector<kv_cache_ref> kv;  // in layer order
  std::string dump(const workspace &ws) const;  // one line per node: device, name, reads -> writes
};

}  // namespace hearth
