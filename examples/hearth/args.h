// The hearth CLI's command lines, parsed by CLI11 against each command's option table (main.cpp).
#pragma once
#include <string>
#include <vector>

#include <stdexcept>

namespace hearth::cli {

// A command line the command cannot run: an unknown option, a missing value, or a value of the wrong kind. main
// exits 2 on it.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One option of a command: its names ("-c,--ctx,--ctx-size": every spelling, llama.cpp's among them; a
// single-dash name of several letters such as -ctk is accepted as llama.cpp writes it), the name of its value
// ("" for a flag) and one line of help.
struct option_spec {
  std::string names;
  std::string value;
  std::string help;
};

class args {
 public:
  // Parses argv[first..] against specs: `--name value`, `--name=value`, `-x value`, `-xVALUE`; flags take no value;
  // an option may be repeated (the last one counts); anything else that starts with '-' and is not a number is a
  // usage_error naming it, as is an option without its value.
  args(int argc, char **argv, int first, const std::vector<option_spec> &specs);

  // Each looks the option up by any of its names (a or b); reading an option the table does not declare is a
  // bug in the command (std::logic_error), never a silent default.
  bool has(const std::string &a, const std::string &b = "") const;
  std::string str(const std::string &a, const std::string &b, const std::string &def) const;
  long num(const std::string &a, const std::string &b, long def) const;
  double real(const std::string &a, const std::string &b, double def) const;
  const std::vector<std::string> &positional() const { return positional_; }

 private:
  int index(const std::string &a, const std::string &b) const;  // the spec a or b names
  std::vector<option_spec> specs_;
  std::vector<std::vector<std::string>> names_;  // per spec, its names split
  std::vector<bool> given_;
  std::vector<std::string> values_;
  std::vector<std::string> positional_;
};

// The option list `hearth CMD --help` prints under the command's synopsis.
std::string format_options(const std::vector<option_spec> &specs);

}  // namespace hearth::cli
