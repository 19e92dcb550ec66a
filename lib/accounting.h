// What a session's FFNs did, from its graph: after each step every node's static bytes, the neurons it computed
// (counted by the node, or by the device) times its bytes per neuron, and its time, summed once for both devices.
#pragma once
#include <cstdint>
#include <vector>

#include "graph.h"

namespace hearth {

class executor;

// Over every evaluated token since the last reset.
struct sparse_stats {
  uint64_t tokens = 0;          // tokens evaluated
  uint64_t decode_tokens = 0;   // of which in one-token steps
  uint64_t active = 0;          // active (token, neuron, layer) triples computed
  uint64_t neurons = 0;         // (token, neuron, layer) triples there were (n_ff x n_layer per token)
  double decode_bytes = 0;      // weight bytes read by one-token steps (everything: attention, FFNs, output)
  uint64_t gpu_active = 0;      // of `active`, those computed on the GPU
  double gpu_decode_bytes = 0;  // of decode_bytes, those the GPU read
  double predictor_ms = 0, step_ms = 0;
  double attention_ms = 0, mask_ms = 0, ffn_ms = 0, output_ms = 0;  // host time in operators of each kind
  double gpu_wait_ms = 0;  // host threads waiting for the GPU (hybrid sessions)
  // With session_config::count_neurons: per layer and neuron, how many tokens computed it (sparse modes) or gave
  // it a nonzero activation (dense), n_layer x n_ff.
  std::vector<uint64_t> fired;
  // With count_neurons, in a mixture of experts: fired is n_layer x n_expert x n_ff (the tokens that chose the
  // expert and fired the neuron), and this n_layer x n_expert (the tokens that chose each expert).
  std::vector<uint64_t> expert_chosen;
};

// Adds one step of n tokens (the graph just ran on ex).
void account_step(const graph &g, const workspace &ws, const executor &ex, int64_t n, sparse_stats &stats);

}  // namespace hearth
