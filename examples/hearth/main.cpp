// The hearth command-line tool: run, bench, inspect, synth, quantize, calibrate, perplexity, tokenize, import.
#include <cstdio>
#include <cstring>
#include <exception>

#include "commands.h"
#include "hearth.h"

namespace {
using namespace hearth::cli;

// One row per command: its usage lines (what `hearth` and `hearth CMD --help` print) and every option it reads.
// An option not in the list is a usage error (exit 2) before the command runs, so a misspelt flag never runs
// with a default; reading an undeclared option is a bug, which args reports (see args::accept).
struct command {
  const char *name;
  int (*run)(const args &);
  const char *usage;
  std::vector<option_spec> options;
  bool positional = false;  // takes arguments besides its options (inspect's MODEL, quantize's IN OUT TYPE)
};

// Options several commands share, spelt once.
const option_spec o_model{"-m,--model", "FILE", "the GGUF model file"};
const option_spec o_threads{"-t,--threads", "N", "threads (default: every core)"};
const option_spec o_ctk{"-ctk,--cache-type-k", "TYPE", "the KV cache's key type: f16 (default), f32, q8_0"};
const option_spec o_ctv{"-ctv,--cache-type-v", "TYPE", "the KV cache's value type: f16 (default), f32, q8_0"};
const option_spec o_sparse{"--sparse", "MODE", "the FFN mode: auto, dense, predictor, exact, cats"};
const option_spec o_cats{"--cats-sparsity", "F", "CATS: the fraction of neurons each layer skips (default 0.5)"};
const option_spec o_vram{"--vram-budget", "GIB", "the GPU memory the placement may use, in GiB"};
const option_spec o_gpuidx{"--gpuidx", "FILE", "a PowerInfer .gpuidx (the hot neurons)"};
const option_spec o_output{"-o,--output", "FILE", "the file to write"};
const option_spec o_seed{"--seed", "S", "the random seed"};
const option_spec o_no_repack{"--no-repack", "", "keep the weights as the file has them (no row groups for decode: less load time, slower tokens)"};

const std::vector<command> &commands() {
  static const std::vector<command> table = {
    {"run", cmd_run,
     "  hearth run -m MODEL (-p PROMPT | -f FILE) [-n N] [-t THREADS] [-c CTX] [--temp T] [--top-k K] [--top-p P]\n"
     "             [--min-p P] [--repeat-penalty R] [--seed S] [--sparse auto|dense|predictor|exact|cats]\n"
     "             [--cats-sparsity F] [--gpu auto|none|hybrid|layers|attention] [-ngl N] [--vram-budget GIB] [--gpuidx F]\n"
     "             [-v] [--no-repack]\n"
     "             [-ctk f16|f32|q8_0] [-ctv f16|f32|q8_0]   (the KV cache's key and value types; default f16)\n"
     "             [--chat|-cnv [-sys SYSTEM] [--chat-template NAME]]   (--chat: multi-turn over stdin, one\n"
     "             line per user turn, formatted with the model's chat template or the named built-in one)\n",
     {o_model,
      {"-p,--prompt", "TEXT", "the prompt (with --chat: the system prompt)"},
      {"-f,--file", "FILE", "read the prompt from FILE"},
      {"-n,--n-predict", "N", "tokens to generate (default 64; 512 per turn with --chat)"},
      o_threads,
      {"-c,--ctx,--ctx-size", "N", "context length (default: the model's, at most 4096)"},
      {"--temp", "T", "temperature; 0 is greedy"},
      {"--top-k", "K", "keep the K likeliest tokens; 0 is off"},
      {"--top-p", "P", "keep the likeliest tokens up to probability P; 1 is off"},
      {"--min-p", "P", "drop tokens below P times the likeliest; 0 is off"},
      {"--repeat-penalty", "R", "penalty on recently generated tokens; 1 is off"},
      {"-s,--seed", "S", "sampler seed; -1 (default) draws a fresh one, shown on stderr"},
      o_sparse, o_cats,
      {"--gpu", "MODE", "GPU offload: auto, none, hybrid, layers, attention"},
      {"-ngl,--n-gpu-layers,--gpu-layers", "N", "whole layers from the first on the GPU, the output too past the last (0: CPU)"},
      o_vram, o_gpuidx, o_ctk, o_ctv,
      {"--chat,-cnv,--conversation", "", "multi-turn chat over stdin, one line per user turn"},
      {"-sys,--system-prompt", "TEXT", "the system prompt of a chat"},
      {"--chat-template", "NAME", "a built-in chat template instead of the model's"}, o_no_repack}},
    {"bench", cmd_bench,
     "  hearth bench -m MODEL [-t THREADS] [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-r REPS] [--sparse MODE]\n"
     "             [--agreement N] [--vram-budget GIB [--gpuidx F]] [-ngl N]   (with a budget or -ngl: CPU,\n"
     "             layer offload (at most N layers) and hybrid side by side) [--ctx N]   (prompt and generation after N\n"
     "             tokens already in the context, as llama-bench -d) [-ctk T] [-ctv T] [-o text|md|csv|json]\n"
     "             [--no-repack]\n",
     {o_model, o_threads,
      {"-p,--prompt-tokens", "N", "prompt tokens per measurement"},
      {"-n,--gen-tokens", "N", "generated tokens per measurement"},
      {"-r,--reps", "N", "repetitions"},
      o_sparse,
      {"--agreement", "N", "tokens over which sparse and dense greedy output are compared"},
      o_vram, o_gpuidx,
      {"-ngl,--n-gpu-layers,--gpu-layers", "N", "the layer-offload column: at most N layers from the first (0: no such column; < 0: all that fit)"},
      {"--ctx", "N", "tokens already in the context before measuring (llama-bench's depth)"},
      o_ctk, o_ctv,
      {"-o,--output", "FORMAT", "text, md, csv or json"}, o_no_repack}},
    {"inspect", cmd_inspect,
     "  hearth inspect MODEL [--report DIR] [--gpuidx OUT.gpuidx [-c CTX]] [--vram-budget GIB]\n",
     {{"--report", "DIR", "write the model's report (placement, sizes) to DIR"},
      {"--gpuidx", "FILE", "write the placement solver's neuron split as a PowerInfer .gpuidx"},
      {"-c,--ctx,--ctx-size", "N", "the context the GPU budget is sized for"},
      o_vram},
     true},
    {"synth", cmd_synth,
     "  hearth synth -o OUT.gguf [--preset tiny|small|1b|7b|13b|qwen3-8b|relufalcon-40b] [--type T]   (T: any type hearth computes)\n"
     "             [--ffn silu|relu|drelu|relu_nogate] [--vocab N] [--embd N] [--layers N] [--ff N]\n"
     "             [--heads N] [--kv-heads N] [--head-dim N] [--ctx N] [--seed S] [--tied]\n"
     "             [--arch llama|bamboo|qwen2|qwen3|falcon|phi3|gemma2|gemma3|opt|qwen3moe [--falcon-norm2]]\n"
     "             [--experts N [--experts-used 2] [--expert-skew 1.0]]   (a mixture in every layer, experts of\n"
     "             --ff neurons; the router planted so a few experts are chosen most)\n"
     "             [--tokenizer spm|bpe [--pre NAME]] [--corpus TEXT.txt]   (bpe: byte-level, pre-tokenizer NAME,\n"
     "             default llama-bpe; the vocabulary is trained on TEXT.txt instead of the shipped text)\n"
     "             [--sparsity 0.9 [--hot 0.2 --coverage 0.8] [--predictor-rank 64] [--predictor-type q8_0]]\n"
     "             [--profile CALIBRATED.gguf]   (plant the per-neuron frequencies a calibration measured)\n"
     "             [--layout powerinfer|llama]   (without --sparsity: powerinfer stores ffn_down_t, no predictors)\n",
     {o_output,
      {"--preset", "NAME", "a model shape: tiny, small, 1b, 7b, 13b, qwen3-8b, relufalcon-40b"},
      {"--type", "TYPE", "the weights' type (any type hearth computes; default Q4_0)"},
      {"--ffn", "KIND", "silu, relu, drelu or relu_nogate"},
      {"--vocab", "N", "vocabulary size"}, {"--embd", "N", "embedding width"}, {"--layers", "N", "layers"},
      {"--ff", "N", "FFN width"}, {"--heads", "N", "attention heads"}, {"--kv-heads", "N", "key/value heads"},
      {"--head-dim", "N", "head width"}, {"--ctx", "N", "the training context written to the file"},
      o_seed, {"--tied", "", "the output matrix is the token embedding"},
      {"--arch", "ARCH", "llama, bamboo, qwen2, qwen3, falcon, phi3, gemma2, gemma3, opt, qwen3moe"},
      {"--falcon-norm2", "", "falcon: two layer norms (40B style)"},
      {"--experts", "N", "a mixture of N experts in every layer"},
      {"--experts-used", "K", "experts each token uses (default 2)"},
      {"--expert-skew", "F", "how strongly the router prefers a few experts (default 1.0)"},
      {"--tokenizer", "KIND", "spm or bpe"}, {"--pre", "NAME", "bpe: the pre-tokenizer (default llama-bpe)"},
      {"--corpus", "FILE", "train the vocabulary on FILE instead of the shipped text"},
      {"--sparsity", "F", "plant this fraction of inactive FFN neurons"},
      {"--hot", "F", "the share of neurons that are hot"}, {"--coverage", "F", "the activations the hot ones cover"},
      {"--predictor-rank", "R", "rank of the planted predictors"},
      {"--predictor-type", "TYPE", "the predictors' type (default q8_0)"},
      {"--profile", "FILE", "plant the per-neuron frequencies a calibrated file measured"},
      {"--layout", "KIND", "powerinfer (ffn_down_t) or llama"},
      {"--no-frequency-record", "", "leave out the planted-frequency record"}}},
    {"quantize", cmd_quantize,
     "  hearth quantize IN.gguf OUT.gguf TYPE [--pure] [--allow-requantize] [--output-tensor-type T]\n"
     "             [--token-embedding-type T]   (TYPE: Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, ... as llama-quantize)\n",
     {{"--pure", "", "every matrix in TYPE (no mixture)"},
      {"--allow-requantize", "", "accept already quantized input"},
      {"--output-tensor-type", "TYPE", "the output matrix's type"},
      {"--token-embedding-type", "TYPE", "the token embedding's type"}},
     true},
    {"calibrate", cmd_calibrate,
     "  hearth calibrate -m DENSE.gguf [--text CORPUS.txt] -o OUT.gguf [--type T] [--down-type T]\n"
     "             [--predictor-type q8_0] [--recall 0.99] [--samples 4096] [--rank R] [--epochs 60] [--seed S]\n"
     "             [-c CTX] [-b BATCH] [-t THREADS] [--report DIR] [--gpuidx OUT.gpuidx] [--vram-budget GIB]\n",
     {o_model, {"--text", "FILE", "the calibration text (default: the shipped text)"}, o_output,
      {"--type", "TYPE", "convert the weights to TYPE"}, {"--down-type", "TYPE", "the down projection's type"},
      {"--predictor-type", "TYPE", "the predictors' type (default q8_0)"},
      {"--recall", "F", "the recall each predictor is trained to (default 0.99)"},
      {"--samples", "N", "tokens sampled per layer for training (default 4096)"},
      {"--rank", "R", "a fixed predictor rank (no search)"}, {"--epochs", "N", "training epochs at most"}, o_seed,
      {"-c,--ctx,--ctx-size", "N", "the profiling context (default 512)"},
      {"-b,--batch", "N", "the profiling batch (default 64)"}, o_threads,
      {"--report", "DIR", "write the calibration report to DIR"},
      {"--gpuidx", "FILE", "write the neuron split for the budget as a PowerInfer .gpuidx"}, o_vram}},
    {"perplexity", cmd_perplexity,
     "  hearth perplexity -m MODEL -f TEXT [-c WINDOW] [--sparse MODE] [-t N] [-ctk T] [-ctv T]   (consecutive windows, each from\n"
     "             an empty context)\n",
     {o_model, {"-f,--file", "FILE", "the text"}, {"-c,--ctx,--ctx-size", "N", "the window (default 128)"}, o_sparse,
      o_cats, o_threads, o_ctk, o_ctv}},
    {"tokenize", cmd_tokenize,
     "  hearth tokenize -m MODEL (-p TEXT | -f FILE) [--bos]   (the ids, space-separated, on stdout)\n",
     {o_model, {"-p,--prompt", "TEXT", "the text"}, {"-f,--file", "FILE", "read the text from FILE"},
      {"--bos", "", "put the model's BOS first"}}},
    {"import", cmd_import,
     "  hearth import -t TEMPLATE.gguf -w WEIGHTS.safetensors -o OUT.gguf [--type T] [--meta-f32 KEY=V,...]\n"
     "             (trained weights, by GGUF tensor name, under the template's metadata and vocabulary)\n",
     {{"-t,--template", "FILE", "the GGUF whose metadata and vocabulary the output keeps"},
      {"-w,--weights", "FILE", "the trained weights (safetensors)"}, o_output,
      {"--type", "TYPE", "the matrices' type"}, {"--meta-f32", "KEY=V,...", "float metadata to set"}}},
  };
  return table;
}

// Accepted by every command.
const std::vector<option_spec> k_common_options = {
  {"-v,--verbose", "", "info logging on stderr"},
  {"--emulate-gpu", "MIB[,US]", "no GPU: run the hybrid paths on an emulated device (testing)"},
  {"-h,--help", "", "this help"}};
const char *const k_common_usage =
    "options of every command: -v (info logging), --emulate-gpu MIB[,US] (no GPU: run the hybrid paths on an\n"
    "             emulated device of MIB MiB, optionally US microseconds before each operator; for testing)\n";

void usage(FILE *to) {
  std::fprintf(to, "hearth %s: fast local LLM inference\nusage:\n", hearth_version_string());
  for (const command &c : commands()) std::fputs(c.usage, to);
  std::fputs(k_common_usage, to);
}
}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    usage(stdout);
    return 0;
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "-V")) {
    std::printf("hearth %s\n", hearth_version_string());
    return 0;
  }
  const command *cmd = nullptr;
  for (const command &c : commands())
    if (!std::strcmp(argv[1], c.name)) cmd = &c;
  if (!cmd) {
    std::fprintf(stderr, "hearth: unknown command '%s' (hearth --help lists them)\n", argv[1]);
    return 2;
  }
  std::vector<option_spec> specs = cmd->options;
  specs.insert(specs.end(), k_common_options.begin(), k_common_options.end());
  try {
    args a(argc, argv, 2, specs);
    if (a.has("-h", "--help")) {
      std::fputs(cmd->usage, stdout);
      std::fputs(format_options(specs).c_str(), stdout);
      return 0;
    }
    if (!cmd->positional && !a.positional().empty())
      throw usage_error("unexpected argument '" + a.positional()[0] + "' (every input of this command is an option)");
    log_to_stderr(a.has("-v", "--verbose") ? 2 : 1);
    if (a.has("--emulate-gpu")) use_emulated_gpu(a.str("--emulate-gpu", "", ""));
    return cmd->run(a);
  } catch (const usage_error &e) {
    std::fprintf(stderr, "hearth %s: %s (hearth %s --help lists its options)\n", cmd->name, e.what(), cmd->name);
    return 2;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "hearth: %s\n", e.what());
    return 1;
  }
}
