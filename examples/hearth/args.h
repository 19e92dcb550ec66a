// Minimal option parsing for the hearth CLI: "-x VALUE" / "--long VALUE" pairs and flags.
#pragma once
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace hearth::cli {

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
  bool has(const std::string &a, const std::string &b = "") const { return opts_.count(a) || (!b.empty() && opts_.count(b)); }
  std::string str(const std::string &a, const std::string &b, const std::string &def) const {
    if (auto it = opts_.find(a); it != opts_.end()) return it->second;
    if (auto it = opts_.find(b); it != opts_.end()) return it->second;
    return def;
  }
  long num(const std::string &a, const std::string &b, long def) const {
    const std::string s = str(a, b, "");
    if (s.empty()) return def;
    char *end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (*end) throw std::runtime_error("option " + a + " needs an integer, got '" + s + "'");
    return v;
  }
  double real(const std::string &a, const std::string &b, double def) const {
    const std::string s = str(a, b, "");
    if (s.empty()) return def;
    char *end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (*end) throw std::runtime_error("option " + a + " needs a number, got '" + s + "'");
    return v;
  }
  const std::vector<std::string> &positional() const { return positional_; }

 private:
  std::map<std::string, std::string> opts_;
  std::vector<std::string> positional_;
};

}  // namespace hearth::cli
