// The CLI's one way to read a text file given on the command line (prompt, corpus, held-out text).
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "commands.h"
#include "error.h"

namespace hearth::cli {

std::string read_text_file(const std::string &path, const char *what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(HEARTH_ERR_IO, fmt::format("cannot read the {} '{}'", what, path));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace hearth::cli
