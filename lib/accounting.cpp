#include "accounting.h"

#include "executor.h"

namespace hearth {

void account_step(const graph &g, const workspace &ws, const executor &ex, int64_t n, sparse_stats &s) {
  const std::vector<double> &ms = ex.node_ms(), &wait = ex.wait_ms();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const node &nd = g.nodes[i];
    uint64_t active = nd.active;
    if (nd.counts_res >= 0) {
      const int32_t *c = ws.at<int32_t>(nd.counts_res) + nd.counts_offset;
      active = 0;
      for (int64_t t = 0; t < n; ++t) active += (uint64_t)c[t];
    }
    s.active += active;
    s.neurons += (uint64_t)nd.n_neurons * (uint64_t)n;
    const bool gpu = nd.where == place::gpu;
    if (gpu) s.gpu_active += active;
    if (n == 1) {
      const double bytes = (double)nd.weight_bytes + (double)active * (double)nd.neuron_bytes + (double)nd.read_bytes;
      s.decode_bytes += bytes;
      if (gpu) s.gpu_decode_bytes += bytes;
    }
    s.gpu_wait_ms += wait[i];
    switch (nd.kind) {
      case node_kind::attention: s.attention_ms += ms[i]; break;
      case node_kind::predictor: s.predictor_ms += ms[i], s.mask_ms += ms[i]; break;
      case node_kind::mask: s.mask_ms += ms[i]; break;
      case node_kind::ffn: case node_kind::merge: s.ffn_ms += ms[i]; break;
      case node_kind::output: s.output_ms += ms[i]; break;
      default: break;
    }
  }
  s.tokens += (uint64_t)n;
  if (n == 1) ++s.decode_tokens;
}

}  // namespace hearth
