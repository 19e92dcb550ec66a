// A small Jinja interpreter for chat templates: what the templates models carry in tokenizer.chat_template use
// (text, {{ }}, {% if/elif/else %}, {% for %} with loop.*, {% set %} with namespace(), comments, whitespace
// control, Hugging Face's trim_blocks and lstrip_blocks; literals, attribute and item access, slices, the usual
// operators, tests such as `is defined`, the filters and string/dict methods chat templates call, and
// raise_exception). It renders as Python's Jinja2 does under Hugging Face's apply_chat_template, checked byte for
// byte on real templates (tools/chat-vectors). Anything outside the subset (macros, call blocks, filters it does
// not know) is an UNSUPPORTED error naming it, so the caller can fall back to a built-in format; never a guess.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::jinja {

struct message {
  std::string role, content;
};

struct inputs {
  std::vector<message> messages;
  bool add_generation_prompt = true;
  std::string bos_token, eos_token;
};

class program;

// A parsed template (thread-safe to render). parse() throws hearth::error: UNSUPPORTED for constructs outside
// the subset, BAD_FORMAT for malformed template text, naming where.
class template_text {
 public:
  explicit template_text(std::string_view source);
  ~template_text();
  template_text(template_text &&) noexcept;
  // Throws hearth::error: INVALID_ARGUMENT carrying the template's own message for raise_exception(), UNSUPPORTED
  // for what the subset does not do.
  std::string render(const inputs &in) const;

 private:
  std::unique_ptr<program> prog_;
};

}  // namespace hearth::jinja
