// Minimal option parsing for the hearth CLI: "-x VALUE" / "--long VALUE" pairs and flags.
#pragma once
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace hearth::cli {

// A command line the command cannot run: an unknown option, or a value of the wrong kind. main exits 2 on it.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class args {
 public:
  args(int argc, char **argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (std::isdigit((unsigned char)a[1]) || a[1] == '.'))) {
        if (i + 1 < argc && (argv[i + 1][0] != '-' || std::isdigit((unsigned char)argv[i + 1][1]) || argv[i + 1][1] == '\0'))
          opts_[a] = argv[++i];
        else
          opts_[a] = "";
      } else {
        positional_.push_back(a);
      }
    }
  }
  // The options this command accepts. Any other option on the command line is a usage_error; a command that
  // later reads an option missing from the list has a bug (its table row in main.cpp is incomplete), reported as
  // std::logic_error rather than answered with the default.
  void accept(const std::vector<std::string> &known) {
    known_ = std::set<std::string>(known.begin(), known.end());
    std::string unknown;
    for (const auto &[name, value] : opts_)
      if (!known_.count(name)) unknown += (unknown.empty() ? "'" : ", '") + name + "'";
    if (!unknown.empty()) throw usage_error("unknown option " + unknown);
  }
  bool has(const std::string &a, const std::string &b = "") const {
    declared(a), declared(b);
    return opts_.count(a) || (!b.empty() && opts_.count(b));
  }
  std::string str(const std::string &a, const std::string &b, const std::string &def) const {
    declared(a), declared(b);
    if (auto it = opts_.find(a); it != opts_.end()) return it->second;
    if (auto it = opts_.find(b); it != opts_.end()) return it->second;
    return def;
  }
  long num(const std::string &a, const std::string &b, long def) const {
    const std::string s = str(a, b, "");
    if (s.empty()) return def;
    char *end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (*end) throw usage_error("option " + a + " needs an integer, got '" + s + "'");
    return v;
  }
  double real(const std::string &a, const std::string &b, double def) const {
    const std::string s = str(a, b, "");
    if (s.empty()) return def;
    char *end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (*end) throw usage_error("option " + a + " needs a number, got '" + s + "'");
    return v;
  }
  const std::vector<std::string> &positional() const { return positional_; }

 private:
  void declared(const std::string &name) const {
    if (!name.empty() && !known_.empty() && !known_.count(name))
      throw std::logic_error("the command reads option " + name + ", which its table row in main.cpp does not list");
  }
  std::set<std::string> known_;
  std::map<std::string, std::string> opts_;
  std::vector<std::string> positional_;
};

}  // namespace hearth::cli
