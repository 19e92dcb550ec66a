// hearth quantize IN OUT TYPE: requantize a model file as llama-quantize does (tools/quantize.h).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "commands.h"
#include "progress_bar.h"
#include "error.h"
#include "quantize.h"

namespace hearth::cli {

int cmd_quantize(const args &a) {
  const auto &pos = a.positional();
  if (pos.size() != 3) {
    std::fprintf(stderr,
                 "usage: hearth quantize IN.gguf OUT.gguf TYPE [--pure] [--allow-requantize]\n"
                 "                       [--output-tensor-type T] [--token-embedding-type T]\n"
                 "TYPE: %s\n",
                 quant_target_names().c_str());
    return 2;
  }
  const quant_target *target = find_quant_target(pos[2]);
  if (!target) {
    std::fprintf(stderr, "hearth quantize: unknown type '%s' (%s)\n", pos[2].c_str(), quant_target_names().c_str());
    return 2;
  }
  quantize_options opt;
  opt.pure = a.has("--pure");
  opt.allow_requantize = a.has("--allow-requantize");
  for (const auto &[flag, set, type] : {std::tuple{"--output-tensor-type", &opt.output_type_set, &opt.output_type},
                                        std::tuple{"--token-embedding-type", &opt.embd_type_set, &opt.embd_type}}) {
    if (!a.has(flag)) continue;
    if (!parse_type(a.str(flag, "", ""), type)) {
      std::fprintf(stderr, "hearth quantize: %s must be one of %s\n", flag, computable_type_names().c_str());
      return 2;
    }
    *set = true;
  }
  progress_bar bar;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<quantized_tensor> report;
  try {
    report = quantize_model(pos[0], pos[1], *target, opt, [&](size_t done, size_t total, const std::string &) {
      bar.update("tensors", (int64_t)done, (int64_t)total);
      return true;
    });
  } catch (const error &e) {
    bar.finish();
    std::fprintf(stderr, "hearth quantize: %s\n", e.what());
    return 1;
  }
  bar.finish();
  // Per target type: tensors and bytes, as inspect reports them.
  std::map<std::string, std::pair<int, size_t>> by_type;
  size_t before = 0, after = 0;
  int fallbacks = 0;
  for (const quantized_tensor &t : report) {
    auto &e = by_type[type_name(t.to)];
    e.first++, e.second += t.bytes_after;
    before += t.bytes_before, after += t.bytes_after;
    fallbacks += t.fallback;
  }
  std::string types;
  for (const auto &[name, e] : by_type) types += fmt::format("{}{} x{} ({:.1f} MiB)", types.empty() ? "" : ", ", name, e.first, e.second / 1048576.0);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "wrote %s as %s: %.1f MiB -> %.1f MiB (%s)%s, %.1f s\n", pos[1].c_str(), target->name, before / 1048576.0,
               after / 1048576.0, types.c_str(),
               fallbacks ? fmt::format("; {} tensors in a fallback type (rows not a multiple of the block)", fallbacks).c_str() : "",
               s);
  return 0;
}

}  // namespace hearth::cli
