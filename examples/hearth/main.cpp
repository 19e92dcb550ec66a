// The hearth command-line tool: run, bench, inspect, synth, quantize, calibrate.
#include <cstdio>
#include <cstring>
#include <exception>

#include "commands.h"
#include "hearth.h"

namespace {
void usage() {
  std::fprintf(stderr,
               "hearth %s: fast local LLM inference\n"
               "usage:\n"
               "  hearth run -m MODEL (-p PROMPT | -f FILE) [-n N] [-t THREADS] [-c CTX] [--temp T] [--top-k K] [--top-p P]\n"
               "             [--min-p P] [--repeat-penalty R] [--seed S] [--sparse auto|dense|predictor|exact|cats]\n"
               "             [--cats-sparsity F] [--gpu auto|none|hybrid|layers|attention] [--vram-budget GIB] [--gpuidx F] [-v]\n"
               "             [-ctk f16|f32|q8_0] [-ctv f16|f32|q8_0]   (the KV cache's key and value types; default f16)\n"
               "             [--chat|-cnv [-sys SYSTEM] [--chat-template NAME]]   (--chat: multi-turn over stdin, one\n"
               "             line per user turn, formatted with the model's chat template or the named built-in one)\n"
               "  hearth bench -m MODEL [-t THREADS] [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-r REPS] [--sparse MODE]\n"
               "             [--agreement N] [--vram-budget GIB [--gpuidx F]]   (with a budget: CPU, -ngl-style\n"
               "             layer offload and hybrid side by side) [--ctx N]   (prompt and generation measured after N\n"
               "             tokens already in the context, as llama-bench -d) [-ctk T] [-ctv T] [-o text|md|csv|json]\n"
               "  hearth inspect MODEL [--report DIR] [--gpuidx OUT.gpuidx [-c CTX]] [--vram-budget GIB]\n"
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
               "             [--layout powerinfer|llama]   (without --sparsity: powerinfer stores ffn_down_t, no predictors)\n"
               "  hearth quantize IN.gguf OUT.gguf TYPE [--pure] [--allow-requantize] [--output-tensor-type T]\n"
               "             [--token-embedding-type T]   (TYPE: Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, ... as llama-quantize)\n"
               "  hearth calibrate -m DENSE.gguf [--text CORPUS.txt] -o OUT.gguf [--type T] [--down-type T]\n"
               "             [--predictor-type q8_0] [--recall 0.99] [--samples 4096] [--rank R] [--epochs 60] [--seed S]\n"
               "             [-c CTX] [-b BATCH] [-t THREADS] [--report DIR] [--gpuidx OUT.gpuidx] [--vram-budget GIB]\n"
               "  hearth perplexity -m MODEL -f TEXT [-c WINDOW] [--sparse MODE] [-t N] [-ctk T] [-ctv T]   (consecutive windows, each from\n"
               "             an empty context)\n"
               "  hearth tokenize -m MODEL (-p TEXT | -f FILE) [--bos]   (the ids, space-separated, on stdout)\n"
               "  hearth import -t TEMPLATE.gguf -w WEIGHTS.safetensors -o OUT.gguf [--type T] [--meta-f32 KEY=V,...]\n"
               "             (trained weights, by GGUF tensor name, under the template's metadata and vocabulary)\n"
               "options of every command: -v (info logging), --emulate-gpu MIB[,US] (no GPU: run the hybrid paths on an\n"
               "             emulated device of MIB MiB, optionally US microseconds before each operator; for testing)\n",
               hearth_version_string());
}
}  // namespace

int main(int argc, char **argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  try {
    const hearth::cli::args a(argc, argv, 2);
    hearth::cli::log_to_stderr(a.has("-v", "--verbose") ? 2 : 1);
    if (a.has("--emulate-gpu")) hearth::cli::use_emulated_gpu(a.str("--emulate-gpu", "", ""));
    const char *cmd = argv[1];
    if (!std::strcmp(cmd, "run")) return hearth::cli::cmd_run(a);
    if (!std::strcmp(cmd, "bench")) return hearth::cli::cmd_bench(a);
    if (!std::strcmp(cmd, "inspect")) return hearth::cli::cmd_inspect(a);
    if (!std::strcmp(cmd, "synth")) return hearth::cli::cmd_synth(a);
    if (!std::strcmp(cmd, "calibrate")) return hearth::cli::cmd_calibrate(a);
    if (!std::strcmp(cmd, "quantize")) return hearth::cli::cmd_quantize(a);
    if (!std::strcmp(cmd, "perplexity")) return hearth::cli::cmd_perplexity(a);
    if (!std::strcmp(cmd, "tokenize")) return hearth::cli::cmd_tokenize(a);
    if (!std::strcmp(cmd, "import")) return hearth::cli::cmd_import(a);
    std::fprintf(stderr, "hearth: unknown command '%s'\n", cmd);
    usage();
    return 2;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "hearth: %s\n", e.what());
    return 1;
  }
}
