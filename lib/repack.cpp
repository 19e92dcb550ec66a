// model::repack_for_decode: which matrices go into row groups at load, and the copy.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <vector>

#include "../kernels/cpu/kernels.h"
#include "log.h"
#include "model.h"
#include "offload.h"
#include "row_groups.h"
#include "sparse_mode.h"
#include "stopwatch.h"

namespace hearth {

namespace {
// The types whose decode measured faster from row groups than from the file's rows, side by side on the same
// model (docs/performance.md): Q4_0 (1.2-1.4x on 7B). Q8_0's row-group kernels measured no faster there (within
// the machine's noise on AVX-512, slower on AVX2), so its matrices stay as the file has them.
bool repack_pays(dtype t) { return t == dtype::q4_0; }
}  // namespace

void model::repack_for_decode() {
  const cpu::kernel_table &k = cpu::kernels();
  std::vector<matrix *> todo;
  const auto want = [&](matrix &w) {
    if (w && repack_pays(w.type) && k.of(w.type).gemv_groups && w.cols % 32 == 0) todo.push_back(&w);
  };
  // A CPU session of this model runs its FFNs dense unless asked otherwise: every row of gate, up and down is read
  // for every token, as the attention's are.
  const bool dense_ffn = resolve_sparse_mode(0, *this, false) == sparse_mode::dense;
  for (size_t il = 0; il < layers_.size(); ++il) {
    layer &L = layers_[il];
    const offload_layer *ol = offload_ ? &offload_->layers()[il] : nullptr;
    if (!(ol && ol->attention))
      for (matrix *w : {&L.wq, &L.wk, &L.wv, &L.wo}) want(*w);
    if (dense_ffn && !L.moe && !(ol && ol->n_hot > 0))
      for (matrix *w : {&L.gate, &L.up, &L.down}) want(*w);
  }
  if (!(offload_ && offload_->output_on_gpu())) want(output_);
  if (todo.empty()) return;

  const auto t0 = clock_type::now();
  // One matrix at a time, its groups spread over every core, and its file pages handed back as soon as its copy
  // is made, so the process holds about one copy of the weights at any time during the load. A tied output
  // matrix is the token embedding, whose rows embedding still reads: its pages stay.
  for (matrix *w : todo) {
    os_buffer buf(row_groups_bytes(w->type, w->rows, w->cols));
    if (!buf.data()) {  // the rest stay as the file has them: slower, not wrong
      log(HEARTH_LOG_WARN, "cannot allocate {} bytes of row groups: the remaining matrices keep the file's layout",
          row_groups_bytes(w->type, w->rows, w->cols));
      break;
    }
    const int64_t ngroups = (w->rows + cpu::k_group_rows - 1) / cpu::k_group_rows;
    const size_t gb = row_group_bytes(w->type, w->cols);
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, ngroups, 16), [&](const tbb::blocked_range<int64_t> &r) {
      for (int64_t g = r.begin(); g < r.end(); ++g) {
        const int64_t row0 = g * cpu::k_group_rows;
        const int nrows = (int)std::min<int64_t>(cpu::k_group_rows, w->rows - row0);
        pack_row_group(w->type, w->row(row0), w->row_size, nrows, w->cols, buf.data() + g * gb);
      }
    });
    w->groups = buf.data();
    groups_.push_back(std::move(buf));
    repacked_bytes_ += w->bytes();
    if (!(tok_embd_ && w->data < tok_embd_.data + tok_embd_.bytes() && tok_embd_.data < w->data + w->bytes()))
      file_->map().release(w->data, w->bytes());
  }
  log(HEARTH_LOG_INFO, "repacked {} matrices ({:.1f} MiB) into row groups for the {} tier in {:.0f} ms", groups_.size(),
      repacked_bytes_ / 1048576.0, k.isa, ms_since(t0));
}

}  // namespace hearth
