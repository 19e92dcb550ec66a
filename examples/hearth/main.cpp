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
  std::vector<std::string> options;
};

const std::vector<command> &commands() {
  static const std::vector<command> table = {
    {"run", cmd_run,
     "  hearth run -m MODEL (-p PROMPT | -f FILE) [-n N] [-t THREADS] [-c CTX] [--temp T] [--top-k K] [--top-p P]\n"
     "             [--min-p P] [--repeat-penalty R] [--seed S] [--sparse auto|dense|predictor|exact|cats]\n"
     "             [--cats-sparsity F] [--gpu auto|none|hybrid|layers|attention] [--vram-budget GIB] [--gpuidx F] [-v]\n"
     "             [-ctk f16|f32|q8_0] [-ctv f16|f32|q8_0]   (the KV cache's key and value types; default f16)\n"
     "             [--chat|-cnv [-sys SYSTEM] [--chat-template NAME]]   (--chat: multi-turn over stdin, one\n"
     "             line per user turn, formatted with the model's chat template or the named built-in one)\n",
     {"--cache-type-k", "--cache-type-v", "--cats-sparsity", "--chat", "--chat-template", "--conversation", "--ctx", "--file", "--gpu", "--gpuidx", "--min-p", "--model", "--n-predict", "--prompt", "--repeat-penalty", "--seed", "--sparse", "--system-prompt", "--temp", "--threads", "--top-k", "--top-p", "--vram-budget", "-c", "-cnv", "-ctk", "-ctv", "-f", "-m", "-n", "-p", "-s", "-sys", "-t",}},
    {"bench", cmd_bench,
     "  hearth bench -m MODEL [-t THREADS] [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-r REPS] [--sparse MODE]\n"
     "             [--agreement N] [--vram-budget GIB [--gpuidx F]]   (with a budget: CPU, -ngl-style\n"
     "             layer offload and hybrid side by side) [--ctx N]   (prompt and generation measured after N\n"
     "             tokens already in the context, as llama-bench -d) [-ctk T] [-ctv T] [-o text|md|csv|json]\n",
     {"--agreement", "--cache-type-k", "--cache-type-v", "--ctx", "--gen-tokens", "--gpuidx", "--model", "--output", "--prompt-tokens", "--reps", "--sparse", "--threads", "--vram-budget", "-ctk", "-ctv", "-m", "-n", "-o", "-p", "-r", "-t",}},
    {"inspect", cmd_inspect,
     "  hearth inspect MODEL [--report DIR] [--gpuidx OUT.gpuidx [-c CTX]] [--vram-budget GIB]\n",
     {"--ctx", "--gpuidx", "--report", "--vram-budget", "-c",}},
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
     {"--arch", "--corpus", "--coverage", "--ctx", "--embd", "--expert-skew", "--experts", "--experts-used", "--falcon-norm2", "--ff", "--ffn", "--head-dim", "--heads", "--hot", "--kv-heads", "--layers", "--layout", "--no-frequency-record", "--output", "--pre", "--predictor-rank", "--predictor-type", "--preset", "--profile", "--seed", "--sparsity", "--tied", "--tokenizer", "--type", "--vocab", "-o",}},
    {"quantize", cmd_quantize,
     "  hearth quantize IN.gguf OUT.gguf TYPE [--pure] [--allow-requantize] [--output-tensor-type T]\n"
     "             [--token-embedding-type T]   (TYPE: Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, ... as llama-quantize)\n",
     {"--allow-requantize", "--output-tensor-type", "--pure", "--token-embedding-type",}},
    {"calibrate", cmd_calibrate,
     "  hearth calibrate -m DENSE.gguf [--text CORPUS.txt] -o OUT.gguf [--type T] [--down-type T]\n"
     "             [--predictor-type q8_0] [--recall 0.99] [--samples 4096] [--rank R] [--epochs 60] [--seed S]\n"
     "             [-c CTX] [-b BATCH] [-t THREADS] [--report DIR] [--gpuidx OUT.gpuidx] [--vram-budget GIB]\n",
     {"--batch", "--ctx", "--down-type", "--epochs", "--gpuidx", "--model", "--output", "--predictor-type", "--rank", "--recall", "--report", "--samples", "--seed", "--text", "--threads", "--type", "--vram-budget", "-b", "-c", "-m", "-o", "-t",}},
    {"perplexity", cmd_perplexity,
     "  hearth perplexity -m MODEL -f TEXT [-c WINDOW] [--sparse MODE] [-t N] [-ctk T] [-ctv T]   (consecutive windows, each from\n"
     "             an empty context)\n",
     {"--cache-type-k", "--cache-type-v", "--cats-sparsity", "--ctx", "--file", "--model", "--sparse", "--threads", "-c", "-ctk", "-ctv", "-f", "-m", "-t",}},
    {"tokenize", cmd_tokenize,
     "  hearth tokenize -m MODEL (-p TEXT | -f FILE) [--bos]   (the ids, space-separated, on stdout)\n",
     {"--bos", "--file", "--model", "--prompt", "-f", "-m", "-p",}},
    {"import", cmd_import,
     "  hearth import -t TEMPLATE.gguf -w WEIGHTS.safetensors -o OUT.gguf [--type T] [--meta-f32 KEY=V,...]\n"
     "             (trained weights, by GGUF tensor name, under the template's metadata and vocabulary)\n",
     {"--meta-f32", "--output", "--template", "--type", "--weights", "-o", "-t", "-w",}},
  };
  return table;
}

// Accepted by every command.
const std::vector<std::string> k_common_options = {"-v", "--verbose", "--emulate-gpu", "-h", "--help"};
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
  try {
    args a(argc, argv, 2);
    if (a.has("-h", "--help")) {
      std::fputs(cmd->usage, stdout);
      std::fputs(k_common_usage, stdout);
      return 0;
    }
    std::vector<std::string> known = cmd->options;
    known.insert(known.end(), k_common_options.begin(), k_common_options.end());
    a.accept(known);
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
