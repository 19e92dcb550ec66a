// hearth perplexity -m MODEL -f TEXT [-c WINDOW] [--sparse MODE]: perplexity over consecutive windows
// (tools/perplexity.h), with the FFN share a sparse mode computed; hearth tokenize -m MODEL (-p TEXT | -f FILE):
// the token ids, one line, space-separated (what a training script reads).
#include <fmt/format.h>

#include <cstdio>

#include "commands.h"
#include "error.h"
#include "model.h"
#include "perplexity.h"

namespace hearth::cli {

int cmd_perplexity(const args &a) {
  const std::string path = a.str("-m", "--model", ""), text = a.str("-f", "--file", "");
  if (path.empty() || text.empty()) {
    std::fprintf(stderr, "hearth perplexity: -m MODEL and -f TEXT are required [-c WINDOW (default 128)] [--sparse MODE] [-t N]\n");
    return 2;
  }
  try {
    const auto m = model::load(path);
    std::vector<int32_t> toks;
    m->tok().encode(read_text_file(text, "text"), false, false, toks);
    session_config sc;
    sc.n_ctx = (int32_t)a.num("-c", "--ctx", 128);
    sc.n_threads = (int32_t)a.num("-t", "--threads", 0);
    sc.sparse_mode = parse_sparse_mode(a.str("--sparse", "", "dense"));
    sc.cats_sparsity = (float)a.real("--cats-sparsity", "", sc.cats_sparsity);
    sc.type_k = kv_dtype(a.str("-ctk", "--cache-type-k", "f16"));
    sc.type_v = kv_dtype(a.str("-ctv", "--cache-type-v", "f16"));
    const perplexity_result r = perplexity(*m, toks, sc);
    fmt::print("perplexity {:.6f} ({:.6f} nats/token) over {} tokens in {} windows of {}; {:.1f}% of FFN neurons computed\n",
               r.perplexity, r.nll, r.scored, r.windows, sc.n_ctx, 100 * r.neuron_share);
  } catch (const error &e) {
    std::fprintf(stderr, "hearth perplexity: %s\n", e.what());
    return 1;
  }
  return 0;
}

int cmd_tokenize(const args &a) {
  const std::string path = a.str("-m", "--model", "");
  if (path.empty() || (!a.has("-p", "--prompt") && !a.has("-f", "--file"))) {
    std::fprintf(stderr, "hearth tokenize: -m MODEL and -p TEXT or -f FILE are required [--bos]\n");
    return 2;
  }
  try {
    model_config mc;
    mc.vocab_only = true;
    const auto m = model::load(path, mc);
    const std::string text = a.has("-f", "--file") ? read_text_file(a.str("-f", "--file", ""), "text") : a.str("-p", "--prompt", "");
    std::vector<int32_t> toks;
    m->tok().encode(text, a.has("--bos"), false, toks);
    std::string line;
    for (int32_t t : toks) {
      if (!line.empty()) line += ' ';
      line += std::to_string(t);
    }
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  } catch (const error &e) {
    std::fprintf(stderr, "hearth tokenize: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace hearth::cli
