// A session's GPU state for a model with a GPU part: its stream, device activations and KV cache of the layers
// whose attention is on the GPU, pinned staging, and where the residual stream x is current (host, device or
// both). x lives where its next consumer is: a layer on the GPU merges the FFN halves on the device, so
// consecutive GPU layers never bring x back to the host except for the CPU's FFN half.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "device.h"

namespace hearth {

struct session_gpu {
  explicit session_gpu(device &d) : dev(d) {}
  ~session_gpu() {  // the stream may still use the buffers below: drain it first
    if (st) try {
        st->sync();
      } catch (...) {
      }
    st.reset();
  }
  device &dev;
  std::unique_ptr<device_stream> st;
  // xout = [x: n x d floats | cold counts: n | hot counts: n | cold lists: n x n_ff] for the current batch of n,
  // so one download brings back x and the CPU's index lists together.
  device_buffer xout, xn, q, k, v, att, tmp, hidden, logits, a, gtmp, ygpu, ycpu, scratch, out_logits, hot_counts, kv;
  pinned_buffer pin_in, pin_out, pin_y, pin_logits, pin_counts;
  std::vector<uint8_t *> kc, vc;  // per layer (layers whose attention is on the GPU), else null; device KV type
  std::unique_ptr<device_event> ev_down, ev_in, ev_y;
  bool x_host = true, x_dev = false;
  std::vector<uint8_t> counted;  // per layer: its hot counts went to hot_counts in this step

  float *x() const { return xout.get<float>(); }
};

}  // namespace hearth
