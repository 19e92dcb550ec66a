// Runs a graph (graph.h) as a oneTBB flow graph, built once per session inside its task_arena and re-run for
// every batch. The order comes from the buffers: a node follows the last writer of what it reads and writes, and
// every reader since of what it writes. GPU nodes only enqueue, in graph order, on the session's stream; a CPU
// node that follows a GPU node waits for that node's event (recorded after it, never a device-wide sync).
// Independent nodes run at the same time (the predictor beside the FFN norm; a layer's GPU and CPU FFN halves),
// each operator parallelising inside the same arena; chains of nodes with one predecessor and one successor run
// as one flow-graph node.
//
// Errors: the first exception any node raises is kept (under a lock: concurrent nodes may fail together), the
// flow graph is cancelled so no further node starts, and run() rethrows it after the stream has drained.
// Cancellation (the session's flag) is checked before each flow-graph node.
#pragma once
#include <tbb/flow_graph.h>

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "graph.h"

namespace hearth {

class device_stream;
class device_event;

class executor {
 public:
  // stream: the session's stream when the graph has GPU nodes; cancel: checked (and consumed) before each task.
  // Call inside the session's arena.
  executor(graph &g, device_stream *stream, std::atomic<bool> *cancel);
  ~executor();
  // Runs one step; rethrows the first exception a node raised (no node starts after it).
  void run();
  size_t node_count() const { return g_.nodes.size(); }
  size_t task_count() const { return tasks_.size(); }
  // Per node, this step: milliseconds in its body on the host, and waiting for the GPU.
  const std::vector<double> &node_ms() const { return ms_; }
  const std::vector<double> &wait_ms() const { return wait_ms_; }

 private:
  using flow_node = tbb::flow::continue_node<tbb::flow::continue_msg>;
  struct task {
    std::vector<int32_t> nodes;  // graph nodes, run in order
  };
  void run_task(const task &t);
  void fail_with(std::exception_ptr e);

  graph &g_;
  device_stream *stream_;
  std::atomic<bool> *cancel_;
  std::vector<std::vector<int32_t>> gpu_waits_;  // per node: the GPU nodes whose events it waits for
  std::vector<uint8_t> records_;                 // per node: a CPU node waits for this GPU node's event
  std::vector<std::unique_ptr<device_event>> events_;
  std::vector<double> ms_, wait_ms_;
  std::vector<task> tasks_;
  tbb::flow::graph fg_;
  tbb::flow::broadcast_node<tbb::flow::continue_msg> start_;
  std::vector<std::unique_ptr<flow_node>> flow_;
  std::atomic<bool> failed_{false};
  std::mutex error_mu_;
  std::exception_ptr error_;
};

}  // namespace hearth
