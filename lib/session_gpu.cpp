// The hybrid executor's operators (see session_gpu.h and executor.cpp). Per layer:
//   attention: on the GPU (norm, QKV, RoPE, KV cache, attention, output projection, residual, then the predictor
//              and the CPU's index lists, downloaded with x in one copy), or on the CPU (then the CPU predictor);
//   FFN, GPU half: enqueued - the hot table's gate/up, skipping inactive rows, and the down axpy;
//   FFN, CPU half: the cold table's neurons with the CPU kernels, at the same time (it waits only for the download
//              event of its input, never for the device);
//   merge: on the device when the next layer's attention is there (y_cpu goes up, one copy), else on the host
//          (y_gpu comes down, one copy).
// So a layer whose attention is on the GPU moves x and the cold index list down and y_cpu up: two copies.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "error.h"
#include "log.h"
#include "offload.h"
#include "session.h"
#include "session_gpu.h"
#include "stopwatch.h"

namespace hearth {

// Allocates the session's device side; on failure leaves gpu_ null (the session then runs on the CPU).
void session::gpu_open() {
  const offload *off = model_.gpu();
  if (!off) return;
  if (mode_ != sparse_mode::dense && mode_ != sparse_mode::predictor) {
    log(HEARTH_LOG_WARN, "the GPU runs dense or predictor FFNs; this session's {} mode runs on the CPU", sparse_mode_name(mode_));
    return;
  }
  const hparams &hp = model_.hp();
  const int64_t nb = n_batch_, d = hp.n_embd, dkv = kv_width_, ff = hp.n_ff;
  const int64_t n_dense = off->n_dense_layers();
  int64_t rank = 0, hot = 0;
  bool rowmajor = false;
  for (const offload_layer &O : off->layers()) {
    rank = std::max(rank, O.fc1.rows);
    hot = std::max<int64_t>(hot, O.n_hot);
    rowmajor = rowmajor || bool(O.down);
  }
  device &dev = off->dev();
  auto g = std::make_unique<session_gpu>(dev);
  const size_t f = sizeof(float);
  const size_t xout_bytes = (size_t)(nb * d + 2 * nb + nb * ff) * f;
  g->xout = device_buffer(dev, xout_bytes);
  g->xn = device_buffer(dev, nb * d * f), g->q = device_buffer(dev, nb * d * f), g->att = device_buffer(dev, nb * d * f);
  g->k = device_buffer(dev, nb * dkv * f), g->v = device_buffer(dev, nb * dkv * f), g->tmp = device_buffer(dev, nb * d * f);
  g->hidden = device_buffer(dev, std::max<int64_t>(1, nb * rank) * f), g->logits = device_buffer(dev, nb * ff * f);
  g->a = device_buffer(dev, nb * (rowmajor ? ff : std::max<int64_t>(hot, 1)) * f);
  g->gtmp = device_buffer(dev, (rowmajor ? nb * ff : 1) * f);
  g->ygpu = device_buffer(dev, nb * d * f), g->ycpu = device_buffer(dev, nb * d * f);
  g->scratch = device_buffer(dev, hot_down_scratch(nb, d) * f);
  g->hot_counts = device_buffer(dev, (size_t)(hp.n_layer * nb) * 4);
  const size_t kvb = dev.kv_bytes();
  g->kv = device_buffer(dev, std::max<size_t>(1, (size_t)(2 * n_dense * n_ctx_ * dkv)) * kvb);
  if (off->output_on_gpu()) g->out_logits = device_buffer(dev, (size_t)(nb * hp.n_vocab) * f);
  g->pin_in = pinned_buffer(dev, (size_t)(nb * (d + ff)) * f), g->pin_out = pinned_buffer(dev, xout_bytes);
  g->pin_y = pinned_buffer(dev, nb * d * f), g->pin_counts = pinned_buffer(dev, (size_t)(hp.n_layer * nb) * 4);
  if (off->output_on_gpu()) g->pin_logits = pinned_buffer(dev, (size_t)(nb * hp.n_vocab) * f);
  const bool ok = g->xout && g->xn && g->q && g->att && g->k && g->v && g->tmp && g->hidden && g->logits && g->a && g->gtmp &&
                  g->ygpu && g->ycpu && g->scratch && g->hot_counts && g->kv && (!off->output_on_gpu() || (g->out_logits && g->pin_logits)) &&
                  g->pin_in && g->pin_out && g->pin_y && g->pin_counts;
  if (!ok) {
    log(HEARTH_LOG_WARN, "could not allocate this session's GPU buffers (a KV cache of {:.0f} MiB for {} layers): it runs on the CPU",
        2.0 * n_dense * n_ctx_ * dkv * kvb / 1048576.0, n_dense);
    return;
  }
  uint8_t *kv = g->kv.get<uint8_t>();
  const size_t cache = (size_t)n_ctx_ * dkv * kvb;
  for (const offload_layer &O : off->layers()) {
    g->kc.push_back(O.dense ? kv : nullptr);
    g->vc.push_back(O.dense ? kv + cache : nullptr);
    if (O.dense) kv += 2 * cache;
  }
  g->counted.assign((size_t)hp.n_layer, 0);
  g->st = dev.make_stream();
  for (int32_t il = 0; il < hp.n_layer; ++il) tables_[(size_t)il] = off->table(il);
  gpu_ = std::move(g);
}

// Host waits on the device, timed: what the CPU spends waiting for the GPU (the two FFN halves never both wait in
// one layer: only the GPU half of a layer without GPU attention waits, and only the CPU half of one with it).
void session::gpu_wait(device_event *e) {
  op_timer timer{stats_.gpu_wait_ms};
  if (e) gpu_->st->wait(*e);
  else gpu_->st->sync();
}

void session::ensure_x_dev() {
  session_gpu &G = *gpu_;
  if (G.x_dev) return;
  if (G.ev_in) gpu_wait(G.ev_in.get());  // the staging buffer's last upload is done
  const size_t bytes = (size_t)(n_ * model_.hp().n_embd) * sizeof(float);
  std::memcpy(G.pin_in.get(), x_.data(), bytes);
  G.st->upload(G.x(), G.pin_in.get(), bytes);
  G.ev_in = G.st->record();
  G.x_dev = true;
}

void session::ensure_x_host() {
  session_gpu &G = *gpu_;
  if (G.x_host) return;
  const size_t bytes = (size_t)(n_ * model_.hp().n_embd) * sizeof(float);
  G.st->download(G.pin_out.get(), G.x(), bytes);
  gpu_wait(G.st->record().get());
  std::memcpy(x_.data(), G.pin_out.get(), bytes);
  G.x_host = true;
}

void session::gpu_attention(int32_t il) {
  session_gpu &G = *gpu_;
  device_stream &st = *G.st;
  const hparams &hp = model_.hp();
  const offload_layer &O = model_.gpu()->layers()[(size_t)il];
  const int64_t n = n_, d = hp.n_embd, dkv = kv_width_, ff = hp.n_ff;
  ensure_x_dev();
  float *x = G.x(), *xn = G.xn.get<float>(), *q = G.q.get<float>(), *k = G.k.get<float>(), *v = G.v.get<float>();
  st.rmsnorm(x, O.attn_norm, n, d, hp.rms_eps, xn);
  st.matmul(O.wq, xn, n, q);
  st.matmul(O.wk, xn, n, k);
  st.matmul(O.wv, xn, n, v);
  st.rope(q, n, hp.n_head, hp.head_dim(), hp.n_rot, hp.rope_base, pos0_);
  st.rope(k, n, hp.n_head_kv, hp.head_dim(), hp.n_rot, hp.rope_base, pos0_);
  st.store_kv(G.kc[(size_t)il], k, n, pos0_, dkv);
  st.store_kv(G.vc[(size_t)il], v, n, pos0_, dkv);
  st.attend(q, G.kc[(size_t)il], G.vc[(size_t)il], n, pos0_, hp.n_head, hp.n_head_kv, hp.head_dim(), G.att.get<float>());
  st.matmul(O.wo, G.att.get<float>(), n, G.tmp.get<float>());
  st.add(x, G.tmp.get<float>(), n * d);
  G.x_host = false;
  const bool predictor = mode_ == sparse_mode::predictor;
  int32_t *counts = (int32_t *)(x + n * d), *lists = counts + 2 * n;
  if (predictor) {
    float *h = G.hidden.get<float>(), *logits = G.logits.get<float>();
    st.matmul(O.fc1, x, n, h);
    st.relu(h, n * O.fc1.rows);
    st.matmul(O.fc2, h, n, logits);
    st.cold_lists(logits, n, (int32_t)ff, thresholds_[(size_t)il], O.row_of, lists, counts);
    st.copy(G.hot_counts.get<int32_t>() + (size_t)il * n_batch_, counts + n, (size_t)n * 4);
    G.counted[(size_t)il] = 1;
  }
  if (!tables_[(size_t)il].cpu.empty()) {  // the CPU's half needs x (and its index lists)
    const size_t bytes = (size_t)(n * d + (predictor ? 2 * n + n * ff : 0)) * sizeof(float);
    st.download(G.pin_out.get(), x, bytes);
    G.ev_down = st.record();
  }
}

void session::op_layer_attention(int32_t il) {
  const offload_layer &O = model_.gpu()->layers()[(size_t)il];
  if (O.dense) {
    check_cancel();
    op_timer timer{stats_.attention_ms};
    gpu_attention(il);
    return;
  }
  ensure_x_host();
  op_attention_in(il);
  op_attend(il);
  op_attention_out(il);
  gpu_->x_dev = false;
  if (mode_ == sparse_mode::predictor) op_ffn_mask(il);
}

// Enqueues the GPU half; takes no stats (the merge does) and touches only what the CPU half does not.
void session::op_ffn_gpu(int32_t il) {
  const offload_layer &O = model_.gpu()->layers()[(size_t)il];
  if (O.n_hot == 0) return;
  session_gpu &G = *gpu_;
  device_stream &st = *G.st;
  const hparams &hp = model_.hp();
  const int64_t n = n_, d = hp.n_embd, ff = hp.n_ff;
  const bool predictor = mode_ == sparse_mode::predictor;
  float *logits = predictor ? G.logits.get<float>() : nullptr;
  if (!O.dense) {  // x and the CPU predictor's logits go up together
    if (G.ev_in) gpu_wait(G.ev_in.get());
    float *in = G.pin_in.get<float>();
    std::memcpy(in, x_.data(), (size_t)(n * d) * sizeof(float));
    st.upload(G.x(), in, (size_t)(n * d) * sizeof(float));
    if (predictor) {
      std::memcpy(in + n * d, plogits_.data(), (size_t)(n * ff) * sizeof(float));
      st.upload(logits, in + n * d, (size_t)(n * ff) * sizeof(float));
    }
    G.ev_in = st.record();
    G.x_dev = true;
  }
  float *xn = G.xn.get<float>(), *a = G.a.get<float>();
  st.rmsnorm(G.x(), O.ffn_norm, n, d, hp.rms_eps, xn);
  if (O.down) {  // a whole row-major FFN
    if (O.gate) st.matmul(O.gate, xn, n, G.gtmp.get<float>());
    st.matmul(O.up, xn, n, a);
    st.activate(hp.ffn, G.gtmp.get<float>(), a, n * ff);
    st.matmul(O.down, a, n, G.ygpu.get<float>());
  } else {
    st.hot_gate_up(O.gate, O.up, hp.ffn, xn, n, logits, (int32_t)ff, O.orig, thresholds_[(size_t)il], a);
    st.hot_down(O.down_t, a, n, G.scratch.get<float>(), G.ygpu.get<float>());
  }
}

void session::op_ffn_cpu(int32_t il) {
  const neuron_table &table = tables_[(size_t)il];
  if (table.cpu.empty()) return;
  op_timer timer{stats_.ffn_ms};
  session_gpu &G = *gpu_;
  const offload_layer &O = model_.gpu()->layers()[(size_t)il];
  const int64_t n = n_, d = model_.hp().n_embd, ff = model_.hp().n_ff;
  if (O.dense) {  // x (and the index lists) come from the GPU's attention
    gpu_wait(G.ev_down.get());
    const float *out = G.pin_out.get<float>();
    std::memcpy(x_.data(), out, (size_t)(n * d) * sizeof(float));
    G.x_host = true;
    if (mode_ == sparse_mode::predictor) {
      const int32_t *counts = (const int32_t *)(out + n * d), *lists = counts + 2 * n;
      masks_.reset(n, (int32_t)ff);
      for (int64_t t = 0; t < n; ++t) {
        if (counts[t] < 0 || counts[t] > ff) fail(HEARTH_ERR_INTERNAL, "the GPU returned a bad index list");
        for (int32_t c = 0; c < counts[t]; ++c) masks_.add(t, lists[t * ff + c]);
      }
      masks_.finish();
    }
  }
  op_ffn_norm(il);
  ffn_compute(il);
}

void session::op_ffn_merge(int32_t il) {
  op_timer timer{stats_.ffn_ms};
  const offload *off = model_.gpu();
  const offload_layer &O = off->layers()[(size_t)il];
  const neuron_table &table = tables_[(size_t)il];
  session_gpu &G = *gpu_;
  device_stream &st = *G.st;
  const hparams &hp = model_.hp();
  const int64_t n = n_, d = hp.n_embd, len = n * d;
  const bool has_gpu = O.n_hot > 0, has_cpu = !table.cpu.empty();
  const bool next_on_gpu = il + 1 < hp.n_layer ? off->layers()[(size_t)il + 1].dense : off->output_on_gpu();
  float *ygpu = G.ygpu.get<float>();
  if (next_on_gpu && G.x_dev) {  // merge on the device
    if (has_gpu) st.add(G.x(), ygpu, len);
    if (has_cpu) {
      if (G.ev_y) gpu_wait(G.ev_y.get());
      std::memcpy(G.pin_y.get(), ffo_.data(), (size_t)len * sizeof(float));
      st.upload(G.ycpu.get(), G.pin_y.get(), (size_t)len * sizeof(float));
      G.ev_y = st.record();
      st.add(G.x(), G.ycpu.get<float>(), len);
    }
    G.x_host = false;
  } else {  // merge on the host
    if (has_gpu) {
      if (!G.x_host) st.add(G.x(), ygpu, len);  // the whole FFN was on the GPU: bring back x itself
      st.download(G.pin_out.get(), G.x_host ? ygpu : G.x(), (size_t)len * sizeof(float));
      gpu_wait(st.record().get());
      const float *y = G.pin_out.get<float>();
      if (G.x_host)
        for (int64_t i = 0; i < len; ++i) x_[(size_t)i] += y[i];
      else
        std::memcpy(x_.data(), y, (size_t)len * sizeof(float));
      G.x_host = true;
    }
    if (has_cpu)
      for (int64_t i = 0; i < len; ++i) x_[(size_t)i] += ffo_[(size_t)i];
    G.x_dev = false;
  }
  // the GPU half's share of the statistics
  const int64_t ff = hp.n_ff;
  stats_.neurons += (uint64_t)(n * ff);
  uint64_t hot = 0;
  if (has_gpu && mode_ == sparse_mode::dense) {
    hot = (uint64_t)(n * O.n_hot);
  } else if (has_gpu && !O.dense) {  // the CPU predictor's masks
    for (const auto &list : masks_.active)
      for (int32_t i : list) hot += table.on_gpu[(size_t)i];
  }  // (with the predictor on the GPU the counts come back at the end of the step)
  count_gpu_neurons(il, hot);
  if (n == 1) {
    const layer &L = model_.layers()[(size_t)il];
    double b = O.down && has_gpu ? (double)L.down.bytes() : 0.0;  // a whole row-major FFN: its down matrix too
    if (O.dense && mode_ == sparse_mode::predictor) b += (double)(L.fc1.bytes() + L.fc2.bytes());
    stats_.decode_bytes += b;
    stats_.gpu_decode_bytes += b;
    if (O.dense) stats_.gpu_decode_bytes += (double)(L.wq.bytes() + L.wk.bytes() + L.wv.bytes() + L.wo.bytes());
  }
}

void session::count_gpu_neurons(int32_t il, uint64_t hot) {
  stats_.gpu_active += hot;
  stats_.active += hot;
  if (n_ == 1) {
    const double b = (double)hot * (double)model_.gpu()->layers()[(size_t)il].neuron_bytes;
    stats_.decode_bytes += b;
    stats_.gpu_decode_bytes += b;
  }
}

void session::op_output_gpu() {
  const offload *off = model_.gpu();
  session_gpu &G = *gpu_;
  device_stream &st = *G.st;
  const hparams &hp = model_.hp();
  // the hot neuron counts of layers whose predictor ran on the GPU
  bool any = false;
  for (uint8_t c : G.counted) any = any || c;
  if (any) st.download(G.pin_counts.get(), G.hot_counts.get(), (size_t)(hp.n_layer * n_batch_) * 4);
  if (logits_out_ && off->output_on_gpu()) {
    op_timer timer{stats_.output_ms};
    ensure_x_dev();
    const int64_t first = all_logits_ ? 0 : n_ - 1, rows = n_ - first;
    st.rmsnorm(G.x() + first * hp.n_embd, off->output_norm(), rows, hp.n_embd, hp.rms_eps, G.xn.get<float>());
    st.matmul(off->output(), G.xn.get<float>(), rows, G.out_logits.get<float>());
    st.download(G.pin_logits.get(), G.out_logits.get(), (size_t)(rows * hp.n_vocab) * sizeof(float));
    gpu_wait(nullptr);
    std::memcpy(logits_out_, G.pin_logits.get(), (size_t)(rows * hp.n_vocab) * sizeof(float));
    if (n_ == 1) stats_.gpu_decode_bytes += (double)off->output().bytes();
  } else {
    gpu_wait(nullptr);
    if (logits_out_) {
      ensure_x_host();
      op_output();
    }
  }
  if (any) {
    const int32_t *c = G.pin_counts.get<int32_t>();
    for (int32_t il = 0; il < hp.n_layer; ++il) {
      if (!G.counted[(size_t)il]) continue;
      uint64_t hot = 0;
      for (int64_t t = 0; t < n_; ++t) hot += (uint64_t)c[(size_t)il * n_batch_ + t];
      count_gpu_neurons(il, hot);
    }
  }
}

}  // namespace hearth
