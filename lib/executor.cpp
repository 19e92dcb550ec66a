#include "executor.h"

#include "session.h"

namespace hearth {

template <class F>
executor::node &executor::add(F &&body) {
  nodes_.push_back(std::make_unique<node>(g_, [this, body](const tbb::flow::continue_msg &) {
    if (error_) return;  // an earlier operator failed or the step was cancelled: skip the rest
    try {
      body();
    } catch (...) {
      error_ = std::current_exception();
    }
  }));
  return *nodes_.back();
}

executor::executor(session &s) : s_(s), start_(g_) {
  using tbb::flow::make_edge;
  const int32_t n_layer = s.mdl().hp().n_layer;
  const sparse_mode mode = s.mode();
  node *prev = &add([this] { s_.op_embed(); });
  make_edge(start_, *prev);
  if (s.uses_gpu()) {
    // Hybrid: both halves of a layer's FFN follow its attention node and run at the same time; the GPU half
    // only enqueues, the CPU half computes, and the merge joins them.
    for (int32_t il = 0; il < n_layer; ++il) {
      node &attn = add([this, il] { s_.op_layer_attention(il); });
      node &gpu = add([this, il] { s_.op_ffn_gpu(il); });
      node &cpu = add([this, il] { s_.op_ffn_cpu(il); });
      node &merge = add([this, il] { s_.op_ffn_merge(il); });
      make_edge(*prev, attn);
      make_edge(attn, gpu);
      make_edge(attn, cpu);
      make_edge(gpu, merge);
      make_edge(cpu, merge);
      prev = &merge;
    }
    node &out = add([this] { s_.op_output_gpu(); });
    make_edge(*prev, out);
    return;
  }
  for (int32_t il = 0; il < n_layer; ++il) {
    node &attn_in = add([this, il] { s_.op_attention_in(il); });
    node &attend = add([this, il] { s_.op_attend(il); });
    node &attn_out = add([this, il] { s_.op_attention_out(il); });
    node &norm = add([this, il] { s_.op_ffn_norm(il); });
    node &ffn = add([this, il] { s_.op_ffn(il); });
    make_edge(*prev, attn_in);
    make_edge(attn_in, attend);
    make_edge(attend, attn_out);
    make_edge(attn_out, norm);
    if (mode == sparse_mode::predictor) {
      // The predictor reads the residual before the FFN norm, so it runs beside the norm.
      node &mask = add([this, il] { s_.op_ffn_mask(il); });
      make_edge(attn_out, mask);
      make_edge(mask, ffn);
    } else if (mode != sparse_mode::dense) {
      node &mask = add([this, il] { s_.op_ffn_mask(il); });  // from the dense gate: needs the norm
      make_edge(norm, mask);
      make_edge(mask, ffn);
    }
    make_edge(norm, ffn);
    prev = &ffn;
  }
  node &out = add([this] { s_.op_output(); });
  make_edge(*prev, out);
}

void executor::run() {
  error_ = nullptr;
  start_.try_put(tbb::flow::continue_msg());
  g_.wait_for_all();
  if (error_) std::rethrow_exception(error_);
}

}  // namespace hearth
