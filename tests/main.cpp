// doctest's main, with one addition: a --test-case filter that matches no test case fails. ctest runs each test
// case by name (doctest_discover_tests), and a name ctest cannot pass through whole (a ';' splits it) would
// otherwise select nothing and pass without running.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

namespace {

unsigned g_selected = 0;
bool g_ended = false;

struct selection_counter : doctest::IReporter {
  explicit selection_counter(const doctest::ContextOptions &) {}
  void report_query(const doctest::QueryData &) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats &s) override {
    g_selected = s.numTestCasesPassingFilters;
    g_ended = true;
  }
  void test_case_start(const doctest::TestCaseData &) override {}
  void test_case_reenter(const doctest::TestCaseData &) override {}
  void test_case_end(const doctest::CurrentTestCaseStats &) override {}
  void test_case_exception(const doctest::TestCaseException &) override {}
  void subcase_start(const doctest::SubcaseSignature &) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData &) override {}
  void log_message(const doctest::MessageData &) override {}
  void test_case_skipped(const doctest::TestCaseData &) override {}
};

REGISTER_LISTENER("selection_counter", 1, selection_counter);

}  // namespace

int main(int argc, char **argv) {
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  if (ctx.shouldExit()) return rc;
  bool filtered = false;
  for (int i = 1; i < argc; ++i)
    filtered = filtered || !std::strncmp(argv[i], "--test-case=", 12) || !std::strncmp(argv[i], "-tc=", 4);
  if (rc == 0 && filtered && g_ended && g_selected == 0) {
    std::fprintf(stderr, "no test case matches the --test-case filter (ctest splits a name at ';')\n");
    return 1;
  }
  return rc;
}
