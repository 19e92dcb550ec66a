// Chat templates: a conversation (role, content) formatted as the prompt text a chat model was trained on. A
// model's tokenizer.chat_template is rendered by hearth's Jinja subset (jinja.h) exactly as Hugging Face renders
// it; a template using what the subset lacks is recognised as one of the built-in formats by the marks in its text
// (the rules and formats of llama.cpp's llm_chat_detect_template / llm_chat_apply_template) and formatted with
// that. A template neither way handles is an error that lists the built-in names, never a guess.
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
// The texts of the model's BOS and EOS tokens, which templates write themselves ("" if none).
struct chat_specials {
  std::string bos, eos;
};
// Formats messages: a built-in name with that format, a template text with the Jinja subset or else the format it
// is recognised as. add_assistant appends the prefix the model's reply follows. A BOS the template writes first is
// dropped (the tokenizer adds it). UNSUPPORTED (listing the names) for a template hearth cannot format;
// INVALID_ARGUMENT for a role it does not know, or a conversation the template itself refuses (raise_exception).
std::string chat_template_apply(std::string_view name_or_template, const std::vector<chat_message> &messages,
                                bool add_assistant, const chat_specials &specials = {});
// The built-in names, comma-separated.
const std::string &chat_template_names();

}  // namespace hearth
