#pragma once
#include "args.h"

namespace hearth::cli {
int cmd_run(const args &a);
int cmd_bench(const args &a);
int cmd_inspect(const args &a);
int cmd_synth(const args &a);
void log_to_stderr(int verbose);
}  // namespace hearth::cli
