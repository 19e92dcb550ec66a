// One forward step as a oneTBB flow graph: nodes are operators, edges their prerequisites. The graph is built
// once per session (its shape follows the model and the sparse mode) inside the session's task_arena and re-run
// for every evaluated batch; operators read the current batch from the session. Independent operators (the
// predictor and the FFN norm) run at the same time, and each operator parallelises internally in the same arena.
#pragma once
#include <tbb/flow_graph.h>

#include <exception>
#include <memory>
#include <vector>

namespace hearth {

class session;

class executor {
 public:
  explicit executor(session &s);  // call inside the session's arena
  // Runs one step; rethrows the first exception an operator raised (later operators are skipped).
  void run();
  size_t node_count() const { return nodes_.size(); }

 private:
  using node = tbb::flow::continue_node<tbb::flow::continue_msg>;
  template <class F>
  node &add(F &&body);

  session &s_;
  tbb::flow::graph g_;
  tbb::flow::broadcast_node<tbb::flow::continue_msg> start_;
  std::vector<std::unique_ptr<node>> nodes_;
  std::exception_ptr error_;
};

}  // namespace hearth
