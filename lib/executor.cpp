#include "executor.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "device.h"
#include "error.h"
#include "stopwatch.h"

namespace hearth {

executor::executor(graph &g, device_stream *stream, std::atomic<bool> *cancel)
    : g_(g), stream_(stream), cancel_(cancel), start_(fg_) {
  const size_t n = g.nodes.size();
  // Dependencies from the buffers, in graph order: read-after-write, write-after-write, write-after-read.
  std::vector<std::set<int32_t>> deps(n);
  std::unordered_map<int32_t, int32_t> last_writer;
  std::unordered_map<int32_t, std::vector<int32_t>> readers;
  int32_t last_gpu = -1;
  for (int32_t i = 0; i < (int32_t)n; ++i) {
    const node &nd = g.nodes[(size_t)i];
    for (int32_t b : nd.reads)
      if (auto it = last_writer.find(b); it != last_writer.end()) deps[(size_t)i].insert(it->second);
    for (int32_t b : nd.writes) {
      if (auto it = last_writer.find(b); it != last_writer.end()) deps[(size_t)i].insert(it->second);
      for (int32_t r : readers[b]) deps[(size_t)i].insert(r);
    }
    if (nd.where == place::gpu) {  // one stream: GPU nodes enqueue in graph order
      if (last_gpu >= 0) deps[(size_t)i].insert(last_gpu);
      last_gpu = i;
    }
    deps[(size_t)i].erase(i);
    for (int32_t b : nd.reads) readers[b].push_back(i);
    for (int32_t b : nd.writes) {
      last_writer[b] = i;
      readers[b].clear();
    }
  }
  // Transitive reduction: an edge implied by a longer path is dropped, so chains show as chains. (A CPU node then
  // waits only for its direct GPU predecessors; any GPU node it reaches through another path completed before
  // those: the stream is in order, and every path from a GPU node to a CPU node has a wait on its way.)
  {
    const size_t words = (n + 63) / 64;
    std::vector<std::vector<uint64_t>> reach(n, std::vector<uint64_t>(words, 0));  // ancestors of each node
    for (size_t i = 0; i < n; ++i)
      for (int32_t d : deps[i]) {
        for (size_t w = 0; w < words; ++w) reach[i][w] |= reach[(size_t)d][w];
        reach[i][(size_t)d / 64] |= 1ull << (d % 64);
      }
    for (size_t i = 0; i < n; ++i) {
      std::set<int32_t> kept;
      for (int32_t d : deps[i]) {
        bool implied = false;
        for (int32_t e : deps[i])
          if (e != d && (reach[(size_t)e][(size_t)d / 64] >> (d % 64) & 1)) implied = true;
        if (!implied) kept.insert(d);
      }
      deps[i].swap(kept);
    }
  }
  std::vector<int32_t> n_succ(n, 0);
  for (size_t i = 0; i < n; ++i)
    for (int32_t d : deps[i]) ++n_succ[(size_t)d];
  gpu_waits_.assign(n, {});
  records_.assign(n, 0);
  events_.resize(n);
  ms_.assign(n, 0.0);
  wait_ms_.assign(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    if (g.nodes[i].where != place::cpu) continue;
    for (int32_t d : deps[i])
      if (g.nodes[(size_t)d].where == place::gpu) {
        gpu_waits_[i].push_back(d);
        records_[(size_t)d] = 1;
      }
  }
  // Chains: a node whose only predecessor is the last node of a task, which has no other successor, joins it.
  std::vector<int32_t> task_of(n, -1);
  for (int32_t i = 0; i < (int32_t)n; ++i) {
    const auto &d = deps[(size_t)i];
    if (d.size() == 1) {
      const int32_t p = *d.begin();
      task &t = tasks_[(size_t)task_of[(size_t)p]];
      if (t.nodes.back() == p && n_succ[(size_t)p] == 1) {
        t.nodes.push_back(i);
        task_of[(size_t)i] = task_of[(size_t)p];
        continue;
      }
    }
    task_of[(size_t)i] = (int32_t)tasks_.size();
    tasks_.push_back({{i}});
  }
  for (size_t t = 0; t < tasks_.size(); ++t)
    flow_.push_back(std::make_unique<flow_node>(fg_, [this, t](const tbb::flow::continue_msg &) { run_task(tasks_[t]); }));
  for (size_t t = 0; t < tasks_.size(); ++t) {
    std::set<int32_t> pred;
    for (int32_t d : deps[(size_t)tasks_[t].nodes.front()]) pred.insert(task_of[(size_t)d]);
    if (pred.empty()) tbb::flow::make_edge(start_, *flow_[t]);
    for (int32_t p : pred) tbb::flow::make_edge(*flow_[(size_t)p], *flow_[t]);
  }
}

executor::~executor() {
  if (stream_) try {
      stream_->sync();  // nothing may still use the session's buffers
    } catch (...) {
    }
}

void executor::fail_with(std::exception_ptr e) {
  {
    std::lock_guard<std::mutex> g(error_mu_);
    if (!error_) error_ = e;  // the first error is the one reported
  }
  failed_.store(true);
  fg_.cancel();  // no further node starts
}

void executor::run_task(const task &t) {
  if (failed_.load()) return;
  try {
    if (cancel_ && cancel_->exchange(false)) fail(HEARTH_ERR_CANCELLED, "cancelled");
    for (int32_t i : t.nodes) {
      if (failed_.load()) return;
      node &nd = g_.nodes[(size_t)i];
      if (!gpu_waits_[(size_t)i].empty()) {
        const auto t0 = clock_type::now();
        for (int32_t d : gpu_waits_[(size_t)i]) stream_->wait(*events_[(size_t)d]);
        wait_ms_[(size_t)i] += ms_since(t0);
      }
      const auto t0 = clock_type::now();
      nd.run(nd);
      if (records_[(size_t)i]) events_[(size_t)i] = stream_->record();
      ms_[(size_t)i] += ms_since(t0);
    }
  } catch (...) {
    fail_with(std::current_exception());
  }
}

void executor::run() {
  error_ = nullptr;
  failed_.store(false);
  std::fill(ms_.begin(), ms_.end(), 0.0);
  std::fill(wait_ms_.begin(), wait_ms_.end(), 0.0);
  for (node &nd : g_.nodes) nd.active = 0;
  start_.try_put(tbb::flow::continue_msg());
  fg_.wait_for_all();
  if (failed_.load()) fg_.reset();  // clears the cancellation and the nodes' counts for the next run
  if (stream_) {
    // The stream drains either way: nothing of this step may run on into the next. Its own failure is reported
    // if no node failed first.
    try {
      stream_->sync();
    } catch (...) {
      if (!error_) error_ = std::current_exception();
    }
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace hearth
