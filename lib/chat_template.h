// Chat templates: a conversation (role, content) formatted as the prompt text a chat model was trained on. hearth
// does not run Jinja: it recognises a model's tokenizer.chat_template as one of the built-in formats by the
// marks in its text (the rules and formats of llama.cpp's llm_chat_detect_template / llm_chat_apply_template),
// and formats with that. A template it does not recognise is an error that lists the built-in names, never a
// guess.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

struct chat_message {
  std::string_view role;  // "system", "user" or "assistant"
  std::string_view content;
};

// The built-in format a name or a template text stands for (static storage), or nullptr.
const char *chat_template_detect(std::string_view name_or_template);
// Formats messages with that format; add_assistant appends the prefix the model's reply follows. UNSUPPORTED
// (listing the names) for a template hearth does not recognise; INVALID_ARGUMENT for a role it does not know.
std::string chat_template_apply(std::string_view name_or_template, const std::vector<chat_message> &messages,
                                bool add_assistant);
// The built-in names, comma-separated.
const std::string &chat_template_names();

}  // namespace hearth
