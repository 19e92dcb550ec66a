#include "jinja.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "error.h"
#include "utf8.h"

namespace hearth::jinja {
namespace {

[[noreturn]] void unsupported(const std::string &what) { fail(HEARTH_ERR_UNSUPPORTED, "chat template: " + what); }
[[noreturn]] void malformed(const std::string &what) { fail(HEARTH_ERR_BAD_FORMAT, "chat template: " + what); }

// ---- values -------------------------------------------------------------------------------------------------

struct value;
using array = std::vector<value>;
using object = std::vector<std::pair<std::string, value>>;  // insertion-ordered, as Python's dict
using function = std::function<value(std::vector<value> &, object &)>;

struct value {
  enum kind { undefined, none, boolean, integer, real, string, list, dict, callable } k = undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<array> a;   // shared: loops and namespaces see one list / dict
  std::shared_ptr<object> d;
  std::shared_ptr<function> fn;
  bool ns = false;  // a namespace(): the one dict `set x.attr = ...` may write

  static value of(bool v) { value r; r.k = boolean; r.b = v; return r; }
  static value of(int64_t v) { value r; r.k = integer; r.i = v; return r; }
  static value of(std::string v) { value r; r.k = string; r.s = std::move(v); return r; }
  static value of_none() { value r; r.k = none; return r; }
  static value of_list(array v = {}) { value r; r.k = list; r.a = std::make_shared<array>(std::move(v)); return r; }
  static value of_dict(object v = {}) { value r; r.k = dict; r.d = std::make_shared<object>(std::move(v)); return r; }

  bool truthy() const {
    switch (k) {
      case undefined: case none: return false;
      case boolean: return b;
      case integer: return i != 0;
      case real: return f != 0;
      case string: return !s.empty();
      case list: return !a->empty();
      case dict: return !d->empty();
      case callable: return true;
    }
    return false;
  }
  const value *get(std::string_view key) const {
    if (k != dict) return nullptr;
    for (const auto &[name, v] : *d)
      if (name == key) return &v;
    return nullptr;
  }
};

const char *kind_name(value::kind k) {
  static const char *names[] = {"undefined", "none", "bool", "int", "float", "string", "list", "dict", "function"};
  return names[k];
}

std::string py_repr(const value &v);

// What {{ v }} prints: Python's str().
std::string to_text(const value &v) {
  switch (v.k) {
    case value::undefined: return "";
    case value::none: return "None";
    case value::boolean: return v.b ? "True" : "False";
    case value::integer: return std::to_string(v.i);
    case value::real: {
      std::string t = fmt::format("{}", v.f);  // Python writes 1.0, not 1
      if (t.find_first_of(".en") == std::string::npos) t += ".0";
      return t;
    }
    case value::string: return v.s;
    default: return py_repr(v);
  }
}

std::string py_quote(const std::string &s) {
  const char q = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out + q;
}

std::string py_repr(const value &v) {
  switch (v.k) {
    case value::string: return py_quote(v.s);
    case value::list: {
      std::string out = "[";
      for (size_t j = 0; j < v.a->size(); ++j) out += (j ? ", " : "") + py_repr((*v.a)[j]);
      return out + "]";
    }
    case value::dict: {
      std::string out = "{";
      for (size_t j = 0; j < v.d->size(); ++j) out += (j ? ", " : "") + py_quote((*v.d)[j].first) + ": " + py_repr((*v.d)[j].second);
      return out + "}";
    }
    case value::callable: return "<function>";
    default: return to_text(v);
  }
}

// Python's json.dumps(ensure_ascii=False, indent=indent): what Hugging Face's tojson filter writes.
void to_json(const value &v, int indent, int depth, std::string &out) {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append((size_t)(indent * d), ' ');
  };
  switch (v.k) {
    case value::undefined: case value::none: out += "null"; return;
    case value::boolean: out += v.b ? "true" : "false"; return;
    case value::integer: out += std::to_string(v.i); return;
    case value::real: out += fmt::format("{}", v.f); return;
    case value::string: {
      out += '"';
      for (unsigned char c : v.s) {
        switch (c) {
          case '"': out += "\\\""; break;
          case '\\': out += "\\\\"; break;
          case '\n': out += "\\n"; break;
          case '\r': out += "\\r"; break;
          case '\t': out += "\\t"; break;
          case '\b': out += "\\b"; break;
          case '\f': out += "\\f"; break;
          default:
            if (c < 0x20) out += fmt::format("\\u{:04x}", c);
            else out += (char)c;
        }
      }
      out += '"';
      return;
    }
    case value::list:
      if (v.a->empty()) { out += "[]"; return; }
      out += '[';
      for (size_t j = 0; j < v.a->size(); ++j) {
        if (j) out += indent < 0 ? ", " : ",";
        newline(depth + 1);
        to_json((*v.a)[j], indent, depth + 1, out);
      }
      newline(depth);
      out += ']';
      return;
    case value::dict:
      if (v.d->empty()) { out += "{}"; return; }
      out += '{';
      for (size_t j = 0; j < v.d->size(); ++j) {
        if (j) out += indent < 0 ? ", " : ",";
        newline(depth + 1);
        to_json(value::of((*v.d)[j].first), indent, depth + 1, out);
        out += ": ";
        to_json((*v.d)[j].second, indent, depth + 1, out);
      }
      newline(depth);
      out += '}';
      return;
    case value::callable: unsupported("tojson of a function");
  }
}

bool equal(const value &x, const value &y) {
  const bool xn = x.k == value::integer || x.k == value::real || x.k == value::boolean;
  const bool yn = y.k == value::integer || y.k == value::real || y.k == value::boolean;
  auto num = [](const value &v) { return v.k == value::real ? v.f : v.k == value::integer ? (double)v.i : (double)v.b; };
  if (xn && yn) return num(x) == num(y);
  if (x.k != y.k) return false;
  switch (x.k) {
    case value::undefined: case value::none: return true;
    case value::string: return x.s == y.s;
    case value::list:
      if (x.a->size() != y.a->size()) return false;
      for (size_t j = 0; j < x.a->size(); ++j)
        if (!equal((*x.a)[j], (*y.a)[j])) return false;
      return true;
    case value::dict: {
      if (x.d->size() != y.d->size()) return false;
      for (const auto &[key, v] : *x.d) {
        const value *o = y.get(key);
        if (!o || !equal(v, *o)) return false;
      }
      return true;
    }
    default: return false;
  }
}

// ---- expressions --------------------------------------------------------------------------------------------

struct token {
  enum kind { name, str, num_int, num_real, op, end } k = end;
  std::string text;
  int64_t i = 0;
  double f = 0;
};

// Python string-literal escapes (Jinja unescapes its literals with Python's unicode-escape).
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t j = 0; j < s.size(); ++j) {
    if (s[j] != '\\' || j + 1 == s.size()) {
      out += s[j];
      continue;
    }
    const char c = s[++j];
    auto hex = [&](size_t n) {
      if (j + n >= s.size()) malformed("a truncated escape in a string");
      uint32_t cp = 0;
      for (size_t k = 1; k <= n; ++k) {
        const char h = s[j + k];
        if (!std::isxdigit((unsigned char)h)) malformed("a bad escape in a string");
        cp = cp * 16 + (uint32_t)(std::isdigit((unsigned char)h) ? h - '0' : (std::tolower((unsigned char)h) - 'a' + 10));
      }
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) malformed("an escape that is not a character");
      j += n;
      utf8_append(out, cp);
    };
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '0': out += '\0'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'x': hex(2); break;
      case 'u': hex(4); break;
      case 'U': hex(8); break;
      case '\n': break;  // a backslash-newline joins lines
      default: out += '\\', out += c;  // Python keeps unknown escapes as they are
    }
  }
  return out;
}

std::vector<token> lex_expression(std::string_view s) {
  std::vector<token> out;
  size_t j = 0;
  while (j < s.size()) {
    const char c = s[j];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { ++j; continue; }
    token t;
    if (std::isalpha((unsigned char)c) || c == '_') {
      size_t e = j;
      while (e < s.size() && (std::isalnum((unsigned char)s[e]) || s[e] == '_')) ++e;
      t.k = token::name;
      t.text = std::string(s.substr(j, e - j));
      j = e;
    } else if (std::isdigit((unsigned char)c)) {
      size_t e = j;
      while (e < s.size() && (std::isdigit((unsigned char)s[e]) || s[e] == '_')) ++e;
      bool real = false;
      if (e + 1 < s.size() && s[e] == '.' && std::isdigit((unsigned char)s[e + 1])) {
        real = true;
        ++e;
        while (e < s.size() && std::isdigit((unsigned char)s[e])) ++e;
      }
      std::string digits;
      for (char d : s.substr(j, e - j))
        if (d != '_') digits += d;
      if (digits.size() > 18) malformed("a number too large");
      if (real) t.k = token::num_real, t.f = std::strtod(digits.c_str(), nullptr);
      else t.k = token::num_int, t.i = std::strtoll(digits.c_str(), nullptr, 10);
      j = e;
    } else if (c == '\'' || c == '"') {
      size_t e = j + 1;
      while (e < s.size() && s[e] != c) e += s[e] == '\\' ? 2 : 1;
      if (e >= s.size()) malformed("an unterminated string");
      t.k = token::str;
      t.text = unescape(s.substr(j + 1, e - j - 1));
      j = e + 1;
    } else {
      static const char *const two[] = {"//", "**", "==", "!=", "<=", ">="};
      t.k = token::op;
      for (const char *o : two)
        if (s.substr(j, 2) == o) t.text = o;
      if (t.text.empty()) {
        if (std::string_view("+-*/%~<>=.,:|()[]{}").find(c) == std::string_view::npos)
          malformed(fmt::format("unexpected character '{}'", c));
        t.text = std::string(1, c);
      }
      j += t.text.size();
    }
    out.push_back(std::move(t));
  }
  out.push_back({});
  // A bound on one tag's length keeps expression trees (and their evaluation's recursion) shallow.
  if (out.size() > 1000) unsupported("an expression of more than 1000 tokens");
  return out;
}

struct expr;
using expr_ptr = std::unique_ptr<expr>;

struct expr {
  enum kind { literal, name, attr, index, slice, call, filter, test, not_, neg, binary, cond, list_lit, dict_lit } k;
  value lit;            // literal
  std::string text;     // name, attribute, filter, test, or binary operator
  expr_ptr a, b, c;     // operands (slice: start, stop; cond: then, test, else)
  std::vector<expr_ptr> args;                       // call / filter / test arguments, list items, dict values
  std::vector<std::pair<std::string, expr_ptr>> kwargs;  // keyword arguments
  std::vector<expr_ptr> keys;                       // dict keys
  bool negated = false;                              // `is not`, `not in`
};

expr_ptr make(expr::kind k) {
  auto e = std::make_unique<expr>();
  e->k = k;
  return e;
}

class expr_parser {
 public:
  explicit expr_parser(std::vector<token> t) : t_(std::move(t)) {}
  expr_ptr parse() { return conditional(); }
  // A for loop's iterable: below the conditional, so that `for x in xs if cond` keeps `if cond` as its filter.
  expr_ptr parse_iterable() { return or_(); }
  bool at_end() const { return t_[p_].k == token::end; }
  const token &peek() const { return t_[p_]; }
  bool is_name(const char *n) const { return t_[p_].k == token::name && t_[p_].text == n; }
  bool is_op(const char *o) const { return t_[p_].k == token::op && t_[p_].text == o; }
  token next() { return t_[p_].k == token::end ? t_[p_] : t_[p_++]; }
  void expect_op(const char *o) {
    if (!is_op(o)) malformed(fmt::format("expected '{}'", o));
    ++p_;
  }
  std::string expect_name() {
    if (t_[p_].k != token::name) malformed("expected a name");
    return t_[p_++].text;
  }

  expr_ptr conditional() {
    expr_ptr then = or_();
    if (is_name("if")) {
      ++p_;
      auto e = make(expr::cond);
      e->a = std::move(then);
      e->b = or_();
      if (is_name("else")) {
        ++p_;
        e->c = conditional();
      }
      return e;
    }
    return then;
  }

 private:
  expr_ptr binary(const std::string &op, expr_ptr l, expr_ptr r) {
    auto e = make(expr::binary);
    e->text = op;
    e->a = std::move(l);
    e->b = std::move(r);
    return e;
  }
  expr_ptr or_() {
    expr_ptr l = and_();
    while (is_name("or")) ++p_, l = binary("or", std::move(l), and_());
    return l;
  }
  expr_ptr and_() {
    expr_ptr l = not_();
    while (is_name("and")) ++p_, l = binary("and", std::move(l), not_());
    return l;
  }
  expr_ptr not_() {
    if (is_name("not")) {
      ++p_;
      auto e = make(expr::not_);
      e->a = not_();
      return e;
    }
    return compare();
  }
  expr_ptr compare() {
    expr_ptr l = math1();
    while (true) {
      if (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">=")) {
        const std::string op = next().text;
        l = binary(op, std::move(l), math1());
      } else if (is_name("in")) {
        ++p_;
        l = binary("in", std::move(l), math1());
      } else if (is_name("not") && t_[p_ + 1].k == token::name && t_[p_ + 1].text == "in") {
        p_ += 2;
        l = binary("in", std::move(l), math1());
        l->negated = true;
      } else {
        return l;
      }
    }
  }
  expr_ptr math1() {
    expr_ptr l = concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = next().text;
      l = binary(op, std::move(l), concat());
    }
    return l;
  }
  expr_ptr concat() {
    expr_ptr l = math2();
    while (is_op("~")) ++p_, l = binary("~", std::move(l), math2());
    return l;
  }
  expr_ptr math2() {
    expr_ptr l = unary();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = next().text;
      l = binary(op, std::move(l), unary());
    }
    return l;
  }
  expr_ptr unary() {
    // Nesting is bounded so that hostile text cannot exhaust the stack (each level is a few frames).
    struct depth_guard {
      int &d;
      explicit depth_guard(int &x) : d(x) {
        if (++d > 200) malformed("expressions nested too deeply");
      }
      ~depth_guard() { --d; }
    } guard(depth_);
    if (is_op("-")) {
      ++p_;
      auto e = make(expr::neg);
      e->a = unary();
      return e;
    }
    if (is_op("+")) ++p_;
    expr_ptr e = postfix(primary());
    // filters and tests bind tighter than any operator (Jinja's parse_filter_expr)
    while (true) {
      if (is_op("|")) {
        ++p_;
        auto f = make(expr::filter);
        f->text = expect_name();
        f->a = std::move(e);
        if (is_op("(")) call_args(*f);
        e = postfix(std::move(f));
      } else if (is_name("is")) {
        ++p_;
        auto t = make(expr::test);
        if (is_name("not")) ++p_, t->negated = true;
        t->text = expect_name();
        t->a = std::move(e);
        if (is_op("(")) call_args(*t);
        else if (peek().k == token::str || peek().k == token::num_int || (peek().k == token::name && !is_name("and") &&
                                                                           !is_name("or") && !is_name("else") &&
                                                                           !is_name("if") && !is_name("in") && !is_name("not")))
          t->args.push_back(postfix(primary()));  // a test's single argument without parentheses
        e = std::move(t);
      } else {
        return e;
      }
    }
  }
  void call_args(expr &e) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().k == token::name && t_[p_ + 1].k == token::op && t_[p_ + 1].text == "=") {
        std::string key = next().text;
        ++p_;
        e.kwargs.emplace_back(std::move(key), conditional());
      } else {
        e.args.push_back(conditional());
      }
      if (!is_op(")")) expect_op(",");
    }
    ++p_;
  }
  expr_ptr postfix(expr_ptr e) {
    while (true) {
      if (is_op(".")) {
        ++p_;
        auto a = make(expr::attr);
        a->text = peek().k == token::num_int ? std::to_string(next().i) : expect_name();
        a->a = std::move(e);
        e = std::move(a);
      } else if (is_op("[")) {
        ++p_;
        expr_ptr start, stop;
        if (!is_op(":")) start = conditional();
        if (is_op(":")) {
          ++p_;
          auto s = make(expr::slice);
          s->a = std::move(e);
          s->b = std::move(start);
          if (!is_op("]") && !is_op(":")) s->c = conditional();
          if (is_op(":")) {
            ++p_;
            if (!is_op("]")) s->args.push_back(conditional());  // step
          }
          expect_op("]");
          e = std::move(s);
        } else {
          expect_op("]");
          auto ix = make(expr::index);
          ix->a = std::move(e);
          ix->b = std::move(start);
          e = std::move(ix);
        }
      } else if (is_op("(")) {
        auto c = make(expr::call);
        c->a = std::move(e);
        call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }
  expr_ptr primary() {
    const token t = next();
    auto lit = [](value v) {
      auto e = make(expr::literal);
      e->lit = std::move(v);
      return e;
    };
    switch (t.k) {
      case token::str: {
        std::string s = t.text;
        while (peek().k == token::str) s += next().text;  // adjacent literals join
        return lit(value::of(std::move(s)));
      }
      case token::num_int: return lit(value::of(t.i));
      case token::num_real: {
        value v;
        v.k = value::real;
        v.f = t.f;
        return lit(v);
      }
      case token::name: {
        if (t.text == "true" || t.text == "True") return lit(value::of(true));
        if (t.text == "false" || t.text == "False") return lit(value::of(false));
        if (t.text == "none" || t.text == "None") return lit(value::of_none());
        auto e = make(expr::name);
        e->text = t.text;
        return e;
      }
      case token::op:
        if (t.text == "(") {
          expr_ptr inner = conditional();
          if (is_op(",")) unsupported("tuples");
          expect_op(")");
          return inner;
        }
        if (t.text == "[") {
          auto e = make(expr::list_lit);
          while (!is_op("]")) {
            e->args.push_back(conditional());
            if (!is_op("]")) expect_op(",");
          }
          ++p_;
          return e;
        }
        if (t.text == "{") {
          auto e = make(expr::dict_lit);
          while (!is_op("}")) {
            e->keys.push_back(conditional());
            expect_op(":");
            e->args.push_back(conditional());
            if (!is_op("}")) expect_op(",");
          }
          ++p_;
          return e;
        }
        malformed(fmt::format("unexpected '{}'", t.text));
      case token::end: malformed("an expression ends early");
    }
    malformed("bad expression");
  }

  std::vector<token> t_;
  size_t p_ = 0;
  int depth_ = 0;
};

// ---- statements ---------------------------------------------------------------------------------------------

struct node;
using body = std::vector<std::unique_ptr<node>>;

struct node {
  enum kind { text, output, if_, for_, set } k;
  std::string s;                                  // text; set: the variable
  std::string attr;                               // set: ns.attr
  expr_ptr e;                                     // output, set value, for iterable
  std::vector<std::pair<expr_ptr, body>> branches;  // if: conditions and bodies (a null condition: else)
  std::vector<std::string> vars;                  // for targets
  expr_ptr filter;                                // for ... if cond
  body inner, otherwise;                          // for body and else
};

// One piece of the template source: text, an expression ({{ }}) or a statement ({% %}).
struct piece {
  enum kind { text, expression, statement } k;
  std::string s;
  size_t at;  // offset in the source, for messages
};

// Splits the source into pieces, applying whitespace control and Hugging Face's trim_blocks and lstrip_blocks
// exactly as Jinja2's lexer does.
std::vector<piece> split_source(std::string src) {
  // Jinja normalises newlines and drops one trailing newline (keep_trailing_newline is off).
  std::string norm;
  for (size_t j = 0; j < src.size(); ++j) {
    if (src[j] == '\r') {
      norm += '\n';
      if (j + 1 < src.size() && src[j + 1] == '\n') ++j;
    } else {
      norm += src[j];
    }
  }
  if (!norm.empty() && norm.back() == '\n') norm.pop_back();
  std::vector<piece> out;
  size_t pos = 0;
  bool line_starting = true;  // what was consumed last ended a line (lstrip_blocks' rule)
  bool strip_next = false;    // the previous tag ended with '-'
  while (pos <= norm.size()) {
    size_t open = std::string::npos;
    for (const char *o : {"{{", "{%", "{#"}) open = std::min(open, norm.find(o, pos));
    std::string text = norm.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (strip_next) {
      size_t k = 0;
      while (k < text.size() && std::isspace((unsigned char)text[k])) ++k;
      text.erase(0, k);
    }
    if (open == std::string::npos) {
      if (!text.empty()) out.push_back({piece::text, text, pos});
      break;
    }
    const char type = norm[open + 1];
    const char *close = type == '{' ? "}}" : type == '%' ? "%}" : "#}";
    size_t body_at = open + 2;
    const char sign = body_at < norm.size() && (norm[body_at] == '-' || norm[body_at] == '+') ? norm[body_at] : 0;
    if (sign) ++body_at;
    // the tag's end, skipping string literals (a template may print "}}")
    size_t e = body_at;
    size_t end = std::string::npos;
    while (e < norm.size()) {
      const char c = norm[e];
      if (type != '#' && (c == '\'' || c == '"')) {
        size_t q = e + 1;
        while (q < norm.size() && norm[q] != c) q += norm[q] == '\\' ? 2 : 1;
        e = q + 1;
        continue;
      }
      if (norm.compare(e, 2, close) == 0) {
        end = e;
        break;
      }
      ++e;
    }
    if (end == std::string::npos) malformed(fmt::format("a tag opened at byte {} is not closed", open));
    const bool trail_minus = end > body_at && norm[end - 1] == '-';
    std::string inner = norm.substr(body_at, (trail_minus ? end - 1 : end) - body_at);
    // whitespace before the tag
    if (sign == '-') {
      while (!text.empty() && std::isspace((unsigned char)text.back())) text.pop_back();
    } else if (sign != '+' && type != '{') {  // lstrip_blocks
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting) {
        bool blank = l_pos < text.size();
        for (size_t k = l_pos; k < text.size(); ++k) blank = blank && std::isspace((unsigned char)text[k]);
        if (blank) text.erase(l_pos);
      }
    }
    if (!text.empty()) out.push_back({piece::text, text, pos});
    if (type != '#') out.push_back({type == '{' ? piece::expression : piece::statement, inner, open});
    pos = end + 2;
    strip_next = trail_minus;
    line_starting = false;
    if (!trail_minus && type != '{' && pos < norm.size() && norm[pos] == '\n') {  // trim_blocks
      ++pos;
      line_starting = true;
    }
    if (trail_minus) {
      // `-%}` consumes the whitespace after it; whether that ended a line matters to lstrip_blocks
      size_t k = pos;
      while (k < norm.size() && std::isspace((unsigned char)norm[k])) ++k;
      line_starting = k > pos && norm[k - 1] == '\n';
      pos = k;
      strip_next = false;
    }
    if (pos == norm.size()) break;
  }
  return out;
}

class stmt_parser {
 public:
  explicit stmt_parser(std::vector<piece> p) : p_(std::move(p)) {}

  body parse_all() {
    body b = parse_until({});
    if (i_ < p_.size()) malformed(fmt::format("unexpected '{}' at byte {}", first_word(p_[i_].s), p_[i_].at));
    return b;
  }

 private:
  static std::string first_word(const std::string &s) {
    size_t a = 0;
    while (a < s.size() && std::isspace((unsigned char)s[a])) ++a;
    size_t e = a;
    while (e < s.size() && (std::isalnum((unsigned char)s[e]) || s[e] == '_')) ++e;
    return s.substr(a, e - a);
  }

  // Parses until a statement whose first word is in `stops` (left unconsumed) or the end.
  body parse_until(const std::vector<std::string> &stops) {
    if (++depth_ > 100) malformed("statements nested too deeply");
    struct undepth {
      int &d;
      ~undepth() { --d; }
    } undo{depth_};
    body out;
    while (i_ < p_.size()) {
      const piece &pc = p_[i_];
      if (pc.k == piece::text) {
        auto n = std::make_unique<node>();
        n->k = node::text;
        n->s = pc.s;
        out.push_back(std::move(n));
        ++i_;
        continue;
      }
      if (pc.k == piece::expression) {
        auto n = std::make_unique<node>();
        n->k = node::output;
        expr_parser ep(lex_expression(pc.s));
        n->e = ep.parse();
        if (!ep.at_end()) malformed(fmt::format("unexpected text in the expression at byte {}", pc.at));
        out.push_back(std::move(n));
        ++i_;
        continue;
      }
      const std::string word = first_word(pc.s);
      if (std::find(stops.begin(), stops.end(), word) != stops.end()) return out;
      ++i_;
      expr_parser ep(lex_expression(pc.s));
      ep.next();  // the keyword
      if (word == "if") {
        auto n = std::make_unique<node>();
        n->k = node::if_;
        expr_ptr cond = ep.parse();
        while (true) {
          body b = parse_until({"elif", "else", "endif"});
          n->branches.emplace_back(std::move(cond), std::move(b));
          if (i_ >= p_.size()) malformed("an if without endif");
          const std::string w = first_word(p_[i_].s);
          expr_parser cp(lex_expression(p_[i_++].s));
          cp.next();
          if (w == "elif") {
            cond = cp.parse();
          } else if (w == "else") {
            body e = parse_until({"endif"});
            n->branches.emplace_back(nullptr, std::move(e));
            if (i_ >= p_.size()) malformed("an if without endif");
            ++i_;
            break;
          } else {
            break;
          }
        }
        out.push_back(std::move(n));
      } else if (word == "for") {
        auto n = std::make_unique<node>();
        n->k = node::for_;
        n->vars.push_back(ep.expect_name());
        while (ep.is_op(",")) ep.next(), n->vars.push_back(ep.expect_name());
        if (!ep.is_name("in")) malformed("expected 'in' in a for");
        ep.next();
        // the iterable stops before a trailing `if` (the loop filter), so parse it below the conditional
        n->e = ep.parse_iterable();
        if (ep.is_name("if")) {
          ep.next();
          n->filter = ep.parse();
        }
        if (ep.is_name("recursive")) unsupported("recursive loops");
        n->inner = parse_until({"else", "endfor"});
        if (i_ >= p_.size()) malformed("a for without endfor");
        if (first_word(p_[i_].s) == "else") {
          ++i_;
          n->otherwise = parse_until({"endfor"});
          if (i_ >= p_.size()) malformed("a for without endfor");
        }
        ++i_;
        out.push_back(std::move(n));
      } else if (word == "set") {
        auto n = std::make_unique<node>();
        n->k = node::set;
        n->s = ep.expect_name();
        if (ep.is_op(".")) {
          ep.next();
          n->attr = ep.expect_name();
        }
        if (ep.is_op(",")) unsupported("set with several targets");
        if (!ep.is_op("=")) unsupported("block set (set without '=')");
        ep.next();
        n->e = ep.parse();
        out.push_back(std::move(n));
      } else {
        unsupported(fmt::format("the '{}' statement (at byte {})", word, pc.at));
      }
    }
    if (!stops.empty()) malformed(fmt::format("missing '{}'", stops.back()));
    return out;
  }

  std::vector<piece> p_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

// The parsed template.
class program {
 public:
  body root;
};

namespace {

// ---- evaluation ---------------------------------------------------------------------------------------------

class renderer {
 public:
  explicit renderer(const inputs &in) {
    object globals;
    array msgs;
    for (const message &m : in.messages)
      msgs.push_back(value::of_dict({{"role", value::of(m.role)}, {"content", value::of(m.content)}}));
    globals.emplace_back("messages", value::of_list(std::move(msgs)));
    globals.emplace_back("add_generation_prompt", value::of(in.add_generation_prompt));
    globals.emplace_back("bos_token", value::of(in.bos_token));
    globals.emplace_back("eos_token", value::of(in.eos_token));
    value raise;
    raise.k = value::callable;
    raise.fn = std::make_shared<function>([](std::vector<value> &args, object &) -> value {
      fail(HEARTH_ERR_INVALID_ARGUMENT, "the chat template refuses the conversation: " + (args.empty() ? std::string() : to_text(args[0])));
    });
    globals.emplace_back("raise_exception", raise);
    value ns;
    ns.k = value::callable;
    ns.fn = std::make_shared<function>([](std::vector<value> &, object &kw) {
      value v = value::of_dict(kw);
      v.ns = true;
      return v;
    });
    globals.emplace_back("namespace", ns);
    scopes_.push_back(std::move(globals));
  }

  void run(const body &b) {
    for (const auto &n : b) exec(*n);
  }
  std::string out;

 private:
  std::vector<object> scopes_;

  value *lookup(const std::string &name) {
    for (auto s = scopes_.rbegin(); s != scopes_.rend(); ++s)
      for (auto &[k, v] : *s)
        if (k == name) return &v;
    return nullptr;
  }
  void assign(const std::string &name, value v) {
    for (auto &[k, old] : scopes_.back())
      if (k == name) {
        old = std::move(v);
        return;
      }
    scopes_.back().emplace_back(name, std::move(v));
  }

  // Limits that keep a hostile template from hanging or exhausting memory: steps (statements and expressions
  // evaluated) and output bytes. Real chat templates use a few thousand steps.
  static constexpr int64_t k_max_steps = 10'000'000;
  static constexpr size_t k_max_output = 64u << 20;
  int64_t steps_ = 0;
  void tick() {
    if (++steps_ > k_max_steps) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: rendering takes too many steps");
    if (out.size() > k_max_output) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: the rendered text is too long");
  }

  void exec(const node &n) {
    tick();
    switch (n.k) {
      case node::text: out += n.s; return;
      case node::output: out += to_text(eval(*n.e)); return;
      case node::if_:
        for (const auto &[cond, b] : n.branches)
          if (!cond || eval(*cond).truthy()) {
            run(b);
            return;
          }
        return;
      case node::set: {
        value v = eval(*n.e);
        if (n.attr.empty()) {
          assign(n.s, std::move(v));
          return;
        }
        value *target = lookup(n.s);
        if (!target || target->k != value::dict || !target->ns)
          fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: set " + n.s + "." + n.attr + " on something that is not a namespace");
        for (auto &[k, old] : *target->d)
          if (k == n.attr) {
            old = std::move(v);
            return;
          }
        target->d->emplace_back(n.attr, std::move(v));
        return;
      }
      case node::for_: {
        array items = as_items(eval(*n.e));  // a dict loops over its keys, a string over its characters
        auto bind = [&](const value &item) {
          if (n.vars.size() == 1) {
            assign(n.vars[0], item);
          } else {
            if (item.k != value::list || item.a->size() != n.vars.size())
              fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: cannot unpack a loop item");
            for (size_t v = 0; v < n.vars.size(); ++v) assign(n.vars[v], (*item.a)[v]);
          }
        };
        if (n.filter) {  // the filter sees each item; loop.* counts only the kept ones
          array kept;
          for (const value &item : items) {
            scopes_.emplace_back();
            bind(item);
            const bool keep = eval(*n.filter).truthy();
            scopes_.pop_back();
            if (keep) kept.push_back(item);
          }
          items.swap(kept);
        }
        if (items.empty()) {
          run(n.otherwise);
          return;
        }
        for (size_t j = 0; j < items.size(); ++j) {
          scopes_.emplace_back();
          const int64_t len = (int64_t)items.size(), idx = (int64_t)j;
          object loop = {{"index", value::of(idx + 1)},      {"index0", value::of(idx)},
                         {"revindex", value::of(len - idx)},  {"revindex0", value::of(len - idx - 1)},
                         {"first", value::of(j == 0)},        {"last", value::of(j + 1 == items.size())},
                         {"length", value::of(len)},
                         {"previtem", j > 0 ? items[j - 1] : value()},
                         {"nextitem", j + 1 < items.size() ? items[j + 1] : value()}};
          assign("loop", value::of_dict(std::move(loop)));
          bind(items[j]);
          run(n.inner);
          scopes_.pop_back();
        }
        return;
      }
    }
  }

  static int64_t as_int(const value &v, const char *what) {
    if (v.k == value::integer) return v.i;
    if (v.k == value::boolean) return v.b;
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("chat template: {} needs an integer, not a {}", what, kind_name(v.k)));
  }

  static value item_of(const value &v, const value &key) {
    if (v.k == value::dict) {
      if (key.k != value::string) return {};
      const value *x = v.get(key.s);
      return x ? *x : value();
    }
    if (v.k == value::list || v.k == value::string) {
      if (key.k != value::integer) return {};
      const int64_t n = v.k == value::list ? (int64_t)v.a->size() : (int64_t)v.s.size();
      int64_t j = key.i < 0 ? key.i + n : key.i;
      if (j < 0 || j >= n) return {};
      return v.k == value::list ? (*v.a)[(size_t)j] : value::of(v.s.substr((size_t)j, 1));
    }
    return {};
  }

  value attr_of(const value &v, const std::string &name) {
    if (v.k == value::dict) {
      if (const value *x = v.get(name)) return *x;
    }
    if (v.k == value::string || v.k == value::dict || v.k == value::list) return method(v, name);
    return {};
  }

  // Python's str / dict methods that chat templates call, as bound functions.
  static value method(const value &self, const std::string &name) {
    value f;
    f.k = value::callable;
    auto bind = [&](std::function<value(std::vector<value> &)> g) {
      f.fn = std::make_shared<function>([g](std::vector<value> &args, object &) { return g(args); });
      return f;
    };
    if (self.k == value::string) {
      const std::string s = self.s;
      auto strip = [s](std::vector<value> &args, bool left, bool right) {
        const std::string chars = args.empty() || args[0].k != value::string ? std::string(" \t\n\r\v\f") : args[0].s;
        size_t a = 0, e = s.size();
        while (left && a < e && chars.find(s[a]) != std::string::npos) ++a;
        while (right && e > a && chars.find(s[e - 1]) != std::string::npos) --e;
        return value::of(s.substr(a, e - a));
      };
      if (name == "strip") return bind([strip](std::vector<value> &a) { return strip(a, true, true); });
      if (name == "lstrip") return bind([strip](std::vector<value> &a) { return strip(a, true, false); });
      if (name == "rstrip") return bind([strip](std::vector<value> &a) { return strip(a, false, true); });
      if (name == "upper" || name == "lower")
        return bind([s, name](std::vector<value> &) {
          std::string r = s;
          for (char &c : r) c = (char)(name == "upper" ? std::toupper((unsigned char)c) : std::tolower((unsigned char)c));
          return value::of(r);
        });
      if (name == "startswith" || name == "endswith")
        return bind([s, name](std::vector<value> &a) {
          if (a.empty() || a[0].k != value::string) return value::of(false);
          const std::string &p = a[0].s;
          const bool hit = p.size() <= s.size() && (name == "startswith" ? s.compare(0, p.size(), p) == 0
                                                                          : s.compare(s.size() - p.size(), p.size(), p) == 0);
          return value::of(hit);
        });
      if (name == "split")
        return bind([s](std::vector<value> &a) {
          array parts;
          if (a.empty() || a[0].k != value::string) {  // split on whitespace runs
            size_t j = 0;
            while (j < s.size()) {
              while (j < s.size() && std::isspace((unsigned char)s[j])) ++j;
              size_t e = j;
              while (e < s.size() && !std::isspace((unsigned char)s[e])) ++e;
              if (e > j) parts.push_back(value::of(s.substr(j, e - j)));
              j = e;
            }
          } else {
            const std::string &sep = a[0].s;
            if (sep.empty()) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: split with an empty separator");
            size_t j = 0;
            for (size_t at; (at = s.find(sep, j)) != std::string::npos; j = at + sep.size()) parts.push_back(value::of(s.substr(j, at - j)));
            parts.push_back(value::of(s.substr(j)));
          }
          return value::of_list(std::move(parts));
        });
      if (name == "replace")
        return bind([s](std::vector<value> &a) {
          if (a.size() < 2 || a[0].k != value::string || a[1].k != value::string || a[0].s.empty()) return value::of(s);
          std::string r;
          size_t j = 0;
          for (size_t at; (at = s.find(a[0].s, j)) != std::string::npos; j = at + a[0].s.size()) r += s.substr(j, at - j) + a[1].s;
          return value::of(r + s.substr(j));
        });
    }
    if (self.k == value::dict) {
      const value d = self;
      if (name == "items")
        return bind([d](std::vector<value> &) {
          array r;
          for (const auto &[k, v] : *d.d) r.push_back(value::of_list({value::of(k), v}));
          return value::of_list(std::move(r));
        });
      if (name == "keys")
        return bind([d](std::vector<value> &) {
          array r;
          for (const auto &kv : *d.d) r.push_back(value::of(kv.first));
          return value::of_list(std::move(r));
        });
      if (name == "values")
        return bind([d](std::vector<value> &) {
          array r;
          for (const auto &kv : *d.d) r.push_back(kv.second);
          return value::of_list(std::move(r));
        });
      if (name == "get")
        return bind([d](std::vector<value> &a) {
          if (!a.empty() && a[0].k == value::string)
            if (const value *x = d.get(a[0].s)) return *x;
          return a.size() > 1 ? a[1] : value::of_none();
        });
    }
    return {};
  }

  bool test(const std::string &name, const value &v, std::vector<value> &args) {
    if (name == "defined") return v.k != value::undefined;
    if (name == "undefined") return v.k == value::undefined;
    if (name == "none") return v.k == value::none;
    if (name == "string") return v.k == value::string;
    if (name == "mapping") return v.k == value::dict;
    if (name == "iterable") return v.k == value::list || v.k == value::dict || v.k == value::string;
    if (name == "sequence") return v.k == value::list || v.k == value::string || v.k == value::dict;
    if (name == "number") return v.k == value::integer || v.k == value::real;
    if (name == "integer") return v.k == value::integer;
    if (name == "boolean") return v.k == value::boolean;
    if (name == "true") return v.k == value::boolean && v.b;
    if (name == "false") return v.k == value::boolean && !v.b;
    if (name == "callable") return v.k == value::callable;
    if (name == "equalto" || name == "eq" || name == "sameas") return !args.empty() && equal(v, args[0]);
    if (name == "ne") return args.empty() || !equal(v, args[0]);
    if (name == "odd" || name == "even") return v.k == value::integer && (v.i % 2 != 0) == (name == "odd");
    if (name == "in") {
      if (args.empty()) return false;
      return contains(args[0], v);
    }
    unsupported("the test '" + name + "'");
  }

  static bool contains(const value &hay, const value &needle) {
    if (hay.k == value::string) return needle.k == value::string && hay.s.find(needle.s) != std::string::npos;
    if (hay.k == value::list) {
      for (const value &x : *hay.a)
        if (equal(x, needle)) return true;
      return false;
    }
    if (hay.k == value::dict) return needle.k == value::string && hay.get(needle.s) != nullptr;
    if (hay.k == value::undefined) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: 'in' an undefined value");
    return false;
  }

  array as_items(const value &v) {
    if (v.k == value::list) return *v.a;
    if (v.k == value::dict) {
      array r;
      for (const auto &kv : *v.d) r.push_back(value::of(kv.first));
      return r;
    }
    if (v.k == value::string) {
      array r;
      for (size_t j = 0; j < v.s.size();) {
        const size_t len = std::min(utf8_sequence_length((uint8_t)v.s[j]), v.s.size() - j);
        r.push_back(value::of(v.s.substr(j, len)));
        j += len;
      }
      return r;
    }
    if (v.k == value::undefined || v.k == value::none) return {};
    fail(HEARTH_ERR_INVALID_ARGUMENT, std::string("chat template: a ") + kind_name(v.k) + " is not a sequence");
  }

  value filter(const std::string &name, const value &v, std::vector<value> &args, object &kwargs) {
    auto kw = [&](const char *key, size_t pos) -> const value * {
      for (auto &[k, x] : kwargs)
        if (k == key) return &x;
      return pos < args.size() ? &args[pos] : nullptr;
    };
    if (name == "trim") {
      std::vector<value> none;
      return method(value::of(to_text(v)), "strip").fn->operator()(none, kwargs);
    }
    if (name == "length" || name == "count") {
      if (v.k == value::string) {
        int64_t n = 0;
        for (unsigned char c : v.s) n += (c & 0xc0) != 0x80;
        return value::of(n);
      }
      return value::of((int64_t)as_items(v).size());
    }
    if (name == "tojson") {
      const value *ind = kw("indent", 0);
      std::string out;
      to_json(v, ind && ind->k == value::integer ? (int)ind->i : -1, 0, out);
      return value::of(out);
    }
    if (name == "string") return value::of(to_text(v));
    if (name == "safe" || name == "e" || name == "escape") return name == "safe" ? v : value::of(to_text(v));
    if (name == "list") return value::of_list(as_items(v));
    if (name == "items") {
      const value items = method(v, "items");
      return items.fn ? (*items.fn)(args, kwargs) : value::of_list();
    }
    if (name == "upper" || name == "lower") {
      std::vector<value> none;
      return (*method(value::of(to_text(v)), name).fn)(none, kwargs);
    }
    if (name == "capitalize" || name == "title") {
      std::string s = to_text(v);
      bool start = true;
      for (char &c : s) {
        const bool alpha = std::isalpha((unsigned char)c);
        if (name == "capitalize") c = (char)(start ? std::toupper((unsigned char)c) : std::tolower((unsigned char)c)), start = false;
        else c = (char)(start && alpha ? std::toupper((unsigned char)c) : alpha ? std::tolower((unsigned char)c) : c), start = !alpha;
      }
      return value::of(s);
    }
    if (name == "default" || name == "d") {
      const value *def = kw("default_value", 0);
      const value *boolean = kw("boolean", 1);
      const bool use_default = v.k == value::undefined || (boolean && boolean->truthy() && !v.truthy());
      return use_default ? (def ? *def : value::of(std::string())) : v;
    }
    if (name == "first" || name == "last") {
      const array items = as_items(v);
      if (items.empty()) return {};
      return name == "first" ? items.front() : items.back();
    }
    if (name == "join") {
      const value *sep = kw("d", 0);
      std::string out;
      const array items = as_items(v);
      for (size_t j = 0; j < items.size(); ++j) out += (j ? (sep ? to_text(*sep) : "") : "") + to_text(items[j]);
      return value::of(out);
    }
    if (name == "int") {
      if (v.k == value::integer) return v;
      if (v.k == value::string) {
        try {
          return value::of((int64_t)std::stoll(v.s));
        } catch (...) {
          return value::of((int64_t)0);
        }
      }
      return value::of((int64_t)(v.k == value::real ? (int64_t)v.f : v.truthy()));
    }
    if (name == "replace") {
      std::vector<value> a(args.begin(), args.end());
      return (*method(value::of(to_text(v)), "replace").fn)(a, kwargs);
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
      const bool by_attr = name == "selectattr" || name == "rejectattr";
      const bool keep_if = name == "select" || name == "selectattr";
      size_t at = 0;
      std::string attr;
      if (by_attr) {
        if (args.empty() || args[0].k != value::string) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: " + name + " needs an attribute name");
        attr = args[at++].s;
      }
      std::string test_name = at < args.size() && args[at].k == value::string ? args[at++].s : std::string();
      std::vector<value> test_args(args.begin() + (long)std::min(at, args.size()), args.end());
      array out;
      for (const value &item : as_items(v)) {
        const value x = by_attr ? attr_of(item, attr) : item;
        const bool hit = test_name.empty() ? x.truthy() : test(test_name, x, test_args);
        if (hit == keep_if) out.push_back(item);
      }
      return value::of_list(std::move(out));
    }
    if (name == "map") {
      array out;
      const value *attribute = kw("attribute", 99);
      for (const value &item : as_items(v)) {
        if (attribute) {
          out.push_back(attr_of(item, to_text(*attribute)));
        } else if (!args.empty() && args[0].k == value::string) {
          std::vector<value> rest(args.begin() + 1, args.end());
          object none;
          out.push_back(filter(args[0].s, item, rest, none));
        } else {
          out.push_back(item);
        }
      }
      return value::of_list(std::move(out));
    }
    if (name == "abs") return v.k == value::integer ? value::of(v.i < 0 ? -v.i : v.i) : v;
    unsupported("the filter '" + name + "'");
  }

  value eval(const expr &e) {
    tick();
    switch (e.k) {
      case expr::literal: return e.lit;
      case expr::name: {
        const value *v = lookup(e.text);
        return v ? *v : value();
      }
      case expr::attr: return attr_of(eval(*e.a), e.text);
      case expr::index: return item_of(eval(*e.a), eval(*e.b));
      case expr::slice: {
        const value v = eval(*e.a);
        const int64_t n = v.k == value::list ? (int64_t)v.a->size() : v.k == value::string ? (int64_t)v.s.size() : -1;
        if (n < 0) fail(HEARTH_ERR_INVALID_ARGUMENT, std::string("chat template: cannot slice a ") + kind_name(v.k));
        const int64_t step = e.args.empty() ? 1 : as_int(eval(*e.args[0]), "a slice step");
        if (step == 0) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: a slice step of 0");
        auto clamp = [&](const expr_ptr &x, int64_t def) {
          if (!x) return def;
          int64_t j = as_int(eval(*x), "a slice bound");
          if (j < 0) j += n;
          return step > 0 ? std::clamp<int64_t>(j, 0, n) : std::clamp<int64_t>(j, -1, n - 1);
        };
        const int64_t start = clamp(e.b, step > 0 ? 0 : n - 1), stop = clamp(e.c, step > 0 ? n : -1);
        array items;
        std::string s;
        for (int64_t j = start; step > 0 ? j < stop : j > stop; j += step) {
          if (v.k == value::list) items.push_back((*v.a)[(size_t)j]);
          else s += v.s[(size_t)j];
        }
        return v.k == value::list ? value::of_list(std::move(items)) : value::of(s);
      }
      case expr::call: {
        const value f = eval(*e.a);
        std::vector<value> args;
        for (const auto &x : e.args) args.push_back(eval(*x));
        object kwargs;
        for (const auto &[k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
        if (f.k != value::callable || !f.fn) {
          const std::string what = e.a->k == expr::name || e.a->k == expr::attr ? e.a->text : std::string("a value");
          unsupported("calling '" + what + "', which is not a function hearth knows");
        }
        return (*f.fn)(args, kwargs);
      }
      case expr::filter: {
        const value v = eval(*e.a);
        std::vector<value> args;
        for (const auto &x : e.args) args.push_back(eval(*x));
        object kwargs;
        for (const auto &[k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
        return filter(e.text, v, args, kwargs);
      }
      case expr::test: {
        const value v = eval(*e.a);
        std::vector<value> args;
        for (const auto &x : e.args) args.push_back(eval(*x));
        return value::of(test(e.text, v, args) != e.negated);
      }
      case expr::not_: return value::of(!eval(*e.a).truthy());
      case expr::neg: {
        const value v = eval(*e.a);
        if (v.k == value::integer) return value::of(-v.i);
        if (v.k == value::real) {
          value r = v;
          r.f = -v.f;
          return r;
        }
        fail(HEARTH_ERR_INVALID_ARGUMENT, std::string("chat template: cannot negate a ") + kind_name(v.k));
      }
      case expr::cond: {
        if (eval(*e.b).truthy()) return eval(*e.a);
        return e.c ? eval(*e.c) : value();
      }
      case expr::list_lit: {
        array items;
        for (const auto &x : e.args) items.push_back(eval(*x));
        return value::of_list(std::move(items));
      }
      case expr::dict_lit: {
        object d;
        for (size_t j = 0; j < e.keys.size(); ++j) d.emplace_back(to_text(eval(*e.keys[j])), eval(*e.args[j]));
        return value::of_dict(std::move(d));
      }
      case expr::binary: return binary(e);
    }
    return {};
  }

  value binary(const expr &e) {
    const std::string &op = e.text;
    if (op == "and") {
      value l = eval(*e.a);
      return l.truthy() ? eval(*e.b) : l;
    }
    if (op == "or") {
      value l = eval(*e.a);
      return l.truthy() ? l : eval(*e.b);
    }
    const value l = eval(*e.a), r = eval(*e.b);
    if (op == "==") return value::of(equal(l, r));
    if (op == "!=") return value::of(!equal(l, r));
    if (op == "in") return value::of(contains(r, l) != e.negated);
    auto too_long = [](size_t n) {
      if (n > k_max_output) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: a value grows too long");
    };
    if (op == "~") {
      std::string t = to_text(l) + to_text(r);
      too_long(t.size());
      return value::of(std::move(t));
    }
    auto bad = [&]() -> value {
      fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("chat template: '{}' between a {} and a {}", op, kind_name(l.k), kind_name(r.k)));
    };
    if (op == "+") {
      if (l.k == value::string && r.k == value::string) {
        too_long(l.s.size() + r.s.size());
        return value::of(l.s + r.s);
      }
      if (l.k == value::list && r.k == value::list) {
        too_long(l.a->size() + r.a->size());
        array a = *l.a;
        a.insert(a.end(), r.a->begin(), r.a->end());
        return value::of_list(std::move(a));
      }
    }
    const bool ints = (l.k == value::integer || l.k == value::boolean) && (r.k == value::integer || r.k == value::boolean);
    const bool nums = ints || ((l.k == value::integer || l.k == value::real) && (r.k == value::integer || r.k == value::real));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c;
      if (l.k == value::string && r.k == value::string) c = l.s.compare(r.s);
      else if (nums) {
        const double x = l.k == value::real ? l.f : (double)l.i, y = r.k == value::real ? r.f : (double)r.i;
        c = x < y ? -1 : x > y ? 1 : 0;
      } else return bad();
      return value::of(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
    }
    if (op == "*" && l.k == value::string && r.k == value::integer) {
      if (r.i > 0 && l.s.size() * (uint64_t)r.i > k_max_output)
        fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: the rendered text is too long");
      std::string s;
      for (int64_t j = 0; j < r.i; ++j) s += l.s;
      return value::of(s);
    }
    if (!nums) return bad();
    if (ints) {
      const int64_t x = l.k == value::boolean ? l.b : l.i, y = r.k == value::boolean ? r.b : r.i;
      if (op == "+") return value::of(x + y);
      if (op == "-") return value::of(x - y);
      if (op == "*") return value::of(x * y);
      if (op == "//" || op == "%") {
        if (y == 0) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: division by zero");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;  // Python's floor division and modulo
        return value::of(op == "//" ? q : m);
      }
    }
    const double x = l.k == value::real ? l.f : (double)l.i, y = r.k == value::real ? r.f : (double)r.i;
    value out;
    out.k = value::real;
    if (op == "+") out.f = x + y;
    else if (op == "-") out.f = x - y;
    else if (op == "*") out.f = x * y;
    else if (op == "/") {
      if (y == 0) fail(HEARTH_ERR_INVALID_ARGUMENT, "chat template: division by zero");
      out.f = x / y;
    } else if (op == "//") out.f = std::floor(x / y);
    else if (op == "%") out.f = x - std::floor(x / y) * y;
    else return bad();
    return out;
  }
};

}  // namespace

template_text::template_text(std::string_view source) : prog_(std::make_unique<program>()) {
  if (const int64_t bad = utf8_invalid_at(source); bad >= 0)
    malformed(fmt::format("the template is not valid UTF-8 (byte {})", bad));
  prog_->root = stmt_parser(split_source(std::string(source))).parse_all();
}
template_text::~template_text() = default;
template_text::template_text(template_text &&) noexcept = default;

std::string template_text::render(const inputs &in) const {
  renderer r(in);
  r.run(prog_->root);
  return std::move(r.out);
}

}  // namespace hearth::jinja
