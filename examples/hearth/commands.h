#pragma once
#include <string>

#include "args.h"

namespace hearth::cli {
int cmd_run(const args &a);
int cmd_bench(const args &a);
int cmd_inspect(const args &a);
int cmd_synth(const args &a);
int cmd_calibrate(const args &a);
void log_to_stderr(int verbose);
// --sparse auto|dense|predictor|exact|cats as a HEARTH_SPARSE_* value; throws on anything else.
int parse_sparse_mode(const std::string &name);
}  // namespace hearth::cli
