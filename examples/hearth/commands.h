#pragma once
#include <cstdint>
#include <string>

#include "args.h"
#include "dtype_id.h"

namespace hearth::cli {
int cmd_run(const args &a);
int cmd_bench(const args &a);
int cmd_inspect(const args &a);
int cmd_synth(const args &a);
int cmd_calibrate(const args &a);
int cmd_quantize(const args &a);
int cmd_perplexity(const args &a);
int cmd_tokenize(const args &a);
int cmd_import(const args &a);
void log_to_stderr(int verbose);
// The bytes of a text file named on the command line; IO error "cannot read the WHAT 'PATH'" otherwise.
std::string read_text_file(const std::string &path, const char *what);
// --sparse auto|dense|predictor|exact|cats as a HEARTH_SPARSE_* value; throws on anything else.
int parse_sparse_mode(const std::string &name);
// -ctk/-ctv f16|f32|q8_0 (llama.cpp's spellings) as a HEARTH_KV_* value, or as the cache's dtype; throws otherwise.
int parse_kv_type(const std::string &name);
dtype kv_dtype(const std::string &name);
// --gpu auto|none|hybrid|layers as a HEARTH_GPU_* value; throws on anything else.
int parse_gpu_mode(const std::string &name);
// --vram-budget GIB as bytes (0 when absent); throws for a negative or unreadable number.
uint64_t parse_vram_budget(const args &a);
// -ngl N / --n-gpu-layers N, as llama.cpp counts it: whole layers from the first; 0 is the CPU, < 0 all that fit.
struct gpu_layers_option {
  bool given = false;
  bool cpu = false;   // -ngl 0
  int32_t cap = 0;    // hearth_model_params.gpu_n_layers: N when N > 0, else 0 (as many as the budget holds)
};
gpu_layers_option parse_gpu_layers(const args &a);
// --emulate-gpu MIB[,US]: every command's GPU is the emulated device (throws for anything else).
void use_emulated_gpu(const std::string &spec);
}  // namespace hearth::cli
