#include "args.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdlib>
#include <map>

namespace hearth::cli {
namespace {

std::vector<std::string> split_names(const std::string &names) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= names.size()) {
    const size_t comma = names.find(',', start);
    const std::string n = names.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!n.empty()) out.push_back(n);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// CLI11 takes one-letter short names only; llama.cpp's -ctk, -ngl, -sys and the like are rewritten to a long
// name of the same option before parsing.
bool is_multi_letter_short(const std::string &n) { return n.size() > 2 && n[0] == '-' && n[1] != '-'; }

bool looks_like_number(const std::string &s) {
  if (s.size() < 2 || s[0] != '-') return false;
  char *end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

}  // namespace

args::args(int argc, char **argv, int first, const std::vector<option_spec> &specs)
    : specs_(specs), given_(specs.size(), false), values_(specs.size()) {
  CLI::App app;
  app.set_help_flag();  // -h/--help is a row of the table: main prints the command's own help
  app.allow_extras();   // unknown options are collected and reported together, in hearth's words
  std::map<std::string, std::string> rewrite;  // -ctk -> the long name it stands for
  std::vector<CLI::Option *> opts(specs.size(), nullptr);
  for (size_t i = 0; i < specs.size(); ++i) {
    names_.push_back(split_names(specs[i].names));
    std::string cli_names, canonical;
    for (const std::string &n : names_[i])
      if (!is_multi_letter_short(n)) {
        cli_names += (cli_names.empty() ? "" : ",") + n;
        if (canonical.empty() && n.rfind("--", 0) == 0) canonical = n;
      }
    if (canonical.empty()) {  // only llama.cpp-style names: give the option a long one of its own
      canonical = "-" + names_[i][0];
      cli_names += (cli_names.empty() ? "" : ",") + canonical;
    }
    for (const std::string &n : names_[i])
      if (is_multi_letter_short(n)) rewrite[n] = canonical;
    if (specs[i].value.empty())
      opts[i] = app.add_flag(cli_names);
    else
      opts[i] = app.add_option(cli_names, values_[i])->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  // CLI11 reads "/name" as an option on Windows; hearth's options are the same everywhere, and "/" starts paths.
  app.allow_windows_style_options(false);
  app.add_option("positional", positional_);

  std::vector<std::string> argl;  // CLI11 wants them in reverse order
  for (int k = argc - 1; k >= first; --k) {
    std::string s = argv[k];
    const size_t eq = s.find('=');
    const std::string head = s.substr(0, eq);
    if (auto it = rewrite.find(head); it != rewrite.end()) s = it->second + (eq == std::string::npos ? "" : s.substr(eq));
    argl.push_back(s);
  }
  try {
    app.parse(argl);
  } catch (const CLI::ArgumentMismatch &e) {  // "--model: 1 required TEXT missing"
    const std::string what = e.what();
    throw usage_error("option " + what.substr(0, what.find(':')) + " needs a value");
  } catch (const CLI::ParseError &e) {
    throw usage_error(e.what());
  }
  std::string unknown;
  for (const std::string &r : app.remaining())
    if (r.size() > 1 && r[0] == '-' && !looks_like_number(r)) unknown += (unknown.empty() ? "'" : ", '") + r + "'";
    else positional_.push_back(r);
  if (!unknown.empty()) throw usage_error("unknown option " + unknown);
  for (size_t i = 0; i < specs.size(); ++i) given_[i] = opts[i]->count() > 0;
}

int args::index(const std::string &a, const std::string &b) const {
  for (size_t i = 0; i < names_.size(); ++i)
    for (const std::string &n : names_[i])
      if (n == a || (!b.empty() && n == b)) return (int)i;
  throw std::logic_error("the command reads option " + a + ", which its table row in main.cpp does not list");
}

bool args::has(const std::string &a, const std::string &b) const { return given_[(size_t)index(a, b)]; }

std::string args::str(const std::string &a, const std::string &b, const std::string &def) const {
  const int i = index(a, b);
  return given_[(size_t)i] ? values_[(size_t)i] : def;
}

long args::num(const std::string &a, const std::string &b, long def) const {
  const std::string s = str(a, b, "");
  if (s.empty()) return def;
  char *end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (*end) throw usage_error("option " + a + " needs an integer, got '" + s + "'");
  return v;
}

double args::real(const std::string &a, const std::string &b, double def) const {
  const std::string s = str(a, b, "");
  if (s.empty()) return def;
  char *end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end) throw usage_error("option " + a + " needs a number, got '" + s + "'");
  return v;
}

std::string format_options(const std::vector<option_spec> &specs) {
  std::vector<std::string> heads;
  size_t width = 0;
  for (const option_spec &s : specs) {
    std::string h;
    for (const std::string &n : split_names(s.names)) h += (h.empty() ? "" : ", ") + n;
    if (!s.value.empty()) h += " " + s.value;
    width = std::max(width, h.size());
    heads.push_back(h);
  }
  width = std::min<size_t>(width, 40);
  std::string out = "options:\n";
  for (size_t i = 0; i < specs.size(); ++i) {
    out += "  " + heads[i];
    out += heads[i].size() <= width ? std::string(width - heads[i].size(), ' ') : "\n  " + std::string(width, ' ');
    out += "  " + specs[i].help + "\n";
  }
  return out;
}

}  // namespace hearth::cli
