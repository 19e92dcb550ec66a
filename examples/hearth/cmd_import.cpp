// hearth import -t TEMPLATE.gguf -w WEIGHTS.safetensors -o OUT.gguf [--type f16] [--meta-f32 KEY=V[,KEY=V...]]:
// trained weights under a template's metadata and vocabulary (tools/import.h).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "commands.h"
#include "error.h"
#include "import.h"

namespace hearth::cli {

int cmd_import(const args &a) {
  const std::string tmpl = a.str("-t", "--template", ""), weights = a.str("-w", "--weights", ""), out = a.str("-o", "--output", "");
  if (tmpl.empty() || weights.empty() || out.empty()) {
    std::fprintf(stderr, "hearth import: -t TEMPLATE.gguf -w WEIGHTS.safetensors -o OUT.gguf are required [--type T] "
                         "[--meta-f32 KEY=V,...]\n");
    return 2;
  }
  try {
    import_options opt;
    if (a.has("--type") && !parse_type(a.str("--type", "", ""), &opt.matrix_type))
      fail(HEARTH_ERR_INVALID_ARGUMENT, "--type must be one of " + computable_type_names());
    const std::string meta = a.str("--meta-f32", "", "");
    for (size_t at = 0; at < meta.size();) {
      const size_t end = std::min(meta.find(',', at), meta.size()), eq = meta.find('=', at);
      if (eq == std::string::npos || eq >= end) fail(HEARTH_ERR_INVALID_ARGUMENT, "--meta-f32 takes KEY=VALUE pairs");
      char *stop = nullptr;
      const std::string v = meta.substr(eq + 1, end - eq - 1);
      const float f = std::strtof(v.c_str(), &stop);
      if (v.empty() || *stop) fail(HEARTH_ERR_INVALID_ARGUMENT, "--meta-f32: '" + v + "' is not a number");
      opt.meta_f32.emplace_back(meta.substr(at, eq - at), f);
      at = end + 1;
    }
    const auto t = gguf_file::open(tmpl);
    const auto w = safetensors_file::open(weights);
    import_weights(*t, *w, opt, out);
    std::fprintf(stderr, "wrote %s: %zu tensors from %s, matrices %s\n", out.c_str(), w->tensors().size(), weights.c_str(),
                 type_name(opt.matrix_type).c_str());
  } catch (const error &e) {
    std::fprintf(stderr, "hearth import: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace hearth::cli
