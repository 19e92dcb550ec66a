// The executor on hand-made graphs: the order it derives from the buffers, chains fused into tasks, and its error
// handling when nodes fail at the same time (the first error is kept, no node starts after it, the graph runs again).
#include <doctest/doctest.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "error.h"
#include "executor.h"
#include "graph.h"

using namespace hearth;

namespace {

node make_node(std::string name, std::vector<int32_t> reads, std::vector<int32_t> writes, std::function<void(node &)> run) {
  node n;
  n.name = std::move(name);
  n.reads = std::move(reads);
  n.writes = std::move(writes);
  n.run = std::move(run);
  return n;
}

}  // namespace

TEST_CASE("executor: read-after-write, write-after-read and write-after-write order the nodes, chains fuse") {
  std::mutex mu;
  std::vector<std::string> order;
  auto log = [&](const char *what) {
    return [&, what](node &) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::lock_guard<std::mutex> g(mu);
      order.push_back(what);
    };
  };
  graph g;
  // buffers 0..3: a writes 0; b and c read 0 (they may run together); d writes 0 again (after both readers);
  // e reads 0 and writes 1; f writes 2 alone.
  g.nodes.push_back(make_node("a", {}, {0}, log("a")));
  g.nodes.push_back(make_node("b", {0}, {3}, log("b")));
  g.nodes.push_back(make_node("c", {0}, {}, log("c")));
  g.nodes.push_back(make_node("d", {}, {0}, log("d")));
  g.nodes.push_back(make_node("e", {0}, {1}, log("e")));
  g.nodes.push_back(make_node("f", {}, {2}, log("f")));
  tbb::task_arena arena(4);
  std::unique_ptr<executor> ex;
  arena.execute([&] { ex = std::make_unique<executor>(g, nullptr, nullptr); });
  for (int run = 0; run < 20; ++run) {
    order.clear();
    arena.execute([&] { ex->run(); });
    REQUIRE(order.size() == 6);
    auto at = [&](const char *x) { return std::find(order.begin(), order.end(), std::string(x)) - order.begin(); };
    CHECK(at("a") < at("b"));
    CHECK(at("a") < at("c"));
    CHECK(at("b") < at("d"));  // write after read
    CHECK(at("c") < at("d"));
    CHECK(at("d") < at("e"));
  }
  // a linear chain is one task
  graph chain;
  for (int i = 0; i < 10; ++i) chain.nodes.push_back(make_node("n", {i}, {i + 1}, [](node &) {}));
  std::unique_ptr<executor> cx;
  arena.execute([&] { cx = std::make_unique<executor>(chain, nullptr, nullptr); });
  CHECK(cx->task_count() == 1);
  arena.execute([&] {
    ex.reset();
    cx.reset();
  });
}

// Regression: every failing node wrote the one exception_ptr without synchronisation (a data race that could
// corrupt it when two failed together).
TEST_CASE("executor: concurrent failures keep the first error, start no node after it, and the graph runs again") {
  const int width = 64;
  std::atomic<int> ran{0};
  std::atomic<bool> fail{true};
  graph g;
  for (int i = 0; i < width; ++i)
    g.nodes.push_back(make_node("fails", {}, {i}, [&, i](node &) {
      ++ran;
      if (fail.load()) hearth::fail(HEARTH_ERR_INTERNAL, "node " + std::to_string(i));
    }));
  // a node after all of them never runs when one failed
  std::vector<int32_t> all;
  for (int i = 0; i < width; ++i) all.push_back(i);
  std::atomic<int> after{0};
  g.nodes.push_back(make_node("after", all, {width}, [&](node &) { ++after; }));
  tbb::task_arena arena(8);
  std::unique_ptr<executor> ex;
  arena.execute([&] { ex = std::make_unique<executor>(g, nullptr, nullptr); });
  for (int rep = 0; rep < 200; ++rep) {
    ran = 0;
    std::string what;
    hearth_status st = HEARTH_OK;
    try {
      arena.execute([&] { ex->run(); });
    } catch (const hearth::error &e) {
      st = e.status();
      what = e.what();
    }
    REQUIRE(st == HEARTH_ERR_INTERNAL);
    CHECK(what.rfind("node ", 0) == 0);
    CHECK(ran.load() >= 1);
    CHECK(after.load() == 0);
  }
  fail = false;  // the same graph, nothing failing: everything runs
  ran = 0;
  arena.execute([&] { ex->run(); });
  CHECK(ran.load() == width);
  CHECK(after.load() == 1);
  arena.execute([&] { ex.reset(); });
}

TEST_CASE("executor: a cancel request fails the run with CANCELLED and is consumed") {
  graph g;
  std::atomic<int> ran{0};
  for (int i = 0; i < 4; ++i) g.nodes.push_back(make_node("n", {i}, {i + 1}, [&](node &) { ++ran; }));
  std::atomic<bool> cancel{true};
  tbb::task_arena arena(2);
  std::unique_ptr<executor> ex;
  arena.execute([&] { ex = std::make_unique<executor>(g, nullptr, &cancel); });
  hearth_status st = HEARTH_OK;
  try {
    arena.execute([&] { ex->run(); });
  } catch (const hearth::error &e) {
    st = e.status();
  }
  CHECK(st == HEARTH_ERR_CANCELLED);
  CHECK(ran.load() == 0);
  CHECK(!cancel.load());
  arena.execute([&] { ex->run(); });
  CHECK(ran.load() == 4);
  arena.execute([&] { ex.reset(); });
}
