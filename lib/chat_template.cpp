#include "chat_template.h"

#include <fmt/format.h>

#include "error.h"
#include "jinja.h"
#include "log.h"

namespace hearth {
namespace {

using messages = std::vector<chat_message>;

std::string trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

void chatml(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content);
  if (add_ass) o += "<|im_start|>assistant\n";
}

// Llama 2 and its variants: the system message inside the first [INST] (between <<SYS>> marks where supported),
// a turn closed by the assistant's </s>.
void llama2_family(const messages &ms, std::string &o, bool system_marks, bool bos_in_history, bool strip) {
  bool inside = true;  // the first [INST] is written before the loop (the tokenizer adds BOS)
  o += "[INST] ";
  for (const chat_message &m : ms) {
    const std::string content = strip ? trim(m.content) : std::string(m.content);
    if (!inside) {
      inside = true;
      o += bos_in_history ? "<s>[INST] " : "[INST] ";
    }
    if (m.role == "system") o += system_marks ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
    else if (m.role == "user") o += content + " [/INST]";
    else {
      o += content + "</s>";
      inside = false;
    }
  }
}
void llama2(const messages &ms, bool, std::string &o) { llama2_family(ms, o, false, false, false); }
void llama2_sys(const messages &ms, bool, std::string &o) { llama2_family(ms, o, true, false, false); }
void llama2_sys_bos(const messages &ms, bool, std::string &o) { llama2_family(ms, o, true, true, false); }
void llama2_sys_strip(const messages &ms, bool, std::string &o) { llama2_family(ms, o, true, false, true); }

// Mistral's v1, v3 and v3-tekken (mistralai/cookbook, concept-deep-dive/tokenization): they differ in the
// spaces around [INST] and whether the assistant's text is trimmed.
void mistral_family(const messages &ms, std::string &o, const char *lead, const char *trail, bool trim_assistant) {
  bool inside = false;
  for (const chat_message &m : ms) {
    if (!inside) {
      o += fmt::format("{}[INST]{}", lead, trail);
      inside = true;
    }
    if (m.role == "system") o += fmt::format("{}\n\n", m.content);
    else if (m.role == "user") o += fmt::format("{}{}[/INST]", m.content, lead);
    else {
      o += fmt::format("{}{}</s>", trail, trim_assistant ? trim(m.content) : std::string(m.content));
      inside = false;
    }
  }
}
void mistral_v1(const messages &ms, bool, std::string &o) { mistral_family(ms, o, " ", " ", false); }
void mistral_v3(const messages &ms, bool, std::string &o) { mistral_family(ms, o, "", " ", true); }
void mistral_v3_tekken(const messages &ms, bool, std::string &o) { mistral_family(ms, o, "", "", false); }

void mistral_v7_family(const messages &ms, std::string &o, const char *sp) {
  for (const chat_message &m : ms) {
    if (m.role == "system") o += fmt::format("[SYSTEM_PROMPT]{}{}[/SYSTEM_PROMPT]", sp, m.content);
    else if (m.role == "user") o += fmt::format("[INST]{}{}[/INST]", sp, m.content);
    else o += fmt::format("{}{}</s>", sp, m.content);
  }
}
void mistral_v7(const messages &ms, bool, std::string &o) { mistral_v7_family(ms, o, " "); }
void mistral_v7_tekken(const messages &ms, bool, std::string &o) { mistral_v7_family(ms, o, ""); }

void phi3(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|{}|>\n{}<|end|>\n", m.role, m.content);
  if (add_ass) o += "<|assistant|>\n";
}

void phi4(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|im_start|>{}<|im_sep|>{}<|im_end|>", m.role, m.content);
  if (add_ass) o += "<|im_start|>assistant<|im_sep|>";
}

void falcon3(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|{}|>\n{}\n", m.role, m.content);
  if (add_ass) o += "<|assistant|>\n";
}

void zephyr(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|{}|>\n{}<|endoftext|>\n", m.role, m.content);
  if (add_ass) o += "<|assistant|>\n";
}

void monarch(const messages &ms, bool add_ass, std::string &o) {
  for (size_t i = 0; i < ms.size(); ++i) o += fmt::format("{}{}\n{}</s>\n", i == 0 ? "" : "<s>", ms[i].role, ms[i].content);
  if (add_ass) o += "<s>assistant\n";
}

// Gemma has no system role: the system text opens the next user turn. "assistant" is "model".
void gemma(const messages &ms, bool add_ass, std::string &o) {
  std::string system;
  for (const chat_message &m : ms) {
    if (m.role == "system") {
      system = trim(m.content);
      continue;
    }
    const std::string_view role = m.role == "assistant" ? "model" : m.role;
    o += fmt::format("<start_of_turn>{}\n", role);
    if (!system.empty() && role != "model") {
      o += system + "\n\n";
      system.clear();
    }
    o += trim(m.content) + "<end_of_turn>\n";
  }
  if (add_ass) o += "<start_of_turn>model\n";
}

void orion(const messages &ms, bool, std::string &o) {
  std::string system;
  for (const chat_message &m : ms) {
    if (m.role == "system") {
      system = std::string(m.content);
    } else if (m.role == "user") {
      o += "Human: ";
      if (!system.empty()) {
        o += system + "\n\n";
        system.clear();
      }
      o += fmt::format("{}\n\nAssistant: </s>", m.content);
    } else {
      o += fmt::format("{}</s>", m.content);
    }
  }
}

void openchat(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) {
    if (m.role == "system") o += fmt::format("{}<|end_of_turn|>", m.content);
    else o += fmt::format("GPT4 Correct {}: {}<|end_of_turn|>", m.role == "user" ? "User" : "Assistant", m.content);
  }
  if (add_ass) o += "GPT4 Correct Assistant:";
}

void vicuna_family(const messages &ms, bool add_ass, std::string &o, bool orca) {
  for (const chat_message &m : ms) {
    if (m.role == "system") o += orca ? fmt::format("SYSTEM: {}\n", m.content) : fmt::format("{}\n\n", m.content);
    else if (m.role == "user") o += fmt::format("USER: {}\n", m.content);
    else o += fmt::format("ASSISTANT: {}</s>\n", m.content);
  }
  if (add_ass) o += "ASSISTANT:";
}
void vicuna(const messages &ms, bool a, std::string &o) { vicuna_family(ms, a, o, false); }
void vicuna_orca(const messages &ms, bool a, std::string &o) { vicuna_family(ms, a, o, true); }

void deepseek(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) {
    if (m.role == "system") o += m.content;
    else if (m.role == "user") o += fmt::format("### Instruction:\n{}\n", m.content);
    else o += fmt::format("### Response:\n{}\n<|EOT|>\n", m.content);
  }
  if (add_ass) o += "### Response:\n";
}

const char k_eos_deepseek[] = "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";  // <｜end▁of▁sentence｜>
const char k_user_deepseek[] = "<\xef\xbd\x9cUser\xef\xbd\x9c>";                                       // <｜User｜>
const char k_assistant_deepseek[] = "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>";                          // <｜Assistant｜>

void deepseek2(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) {
    if (m.role == "system") o += fmt::format("{}\n\n", m.content);
    else if (m.role == "user") o += fmt::format("User: {}\n\n", m.content);
    else o += fmt::format("Assistant: {}{}", m.content, k_eos_deepseek);
  }
  if (add_ass) o += "Assistant:";
}

void deepseek3(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) {
    if (m.role == "system") o += fmt::format("{}\n\n", m.content);
    else if (m.role == "user") o += fmt::format("{}{}", k_user_deepseek, m.content);
    else o += fmt::format("{}{}{}", k_assistant_deepseek, m.content, k_eos_deepseek);
  }
  if (add_ass) o += k_assistant_deepseek;
}

void command_r(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) {
    const char *who = m.role == "system" ? "SYSTEM" : m.role == "user" ? "USER" : "CHATBOT";
    o += fmt::format("<|START_OF_TURN_TOKEN|><|{}_TOKEN|>{}<|END_OF_TURN_TOKEN|>", who, trim(m.content));
  }
  if (add_ass) o += "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>";
}

void llama3(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>", m.role, trim(m.content));
  if (add_ass) o += "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

void llama4(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|header_start|>{}<|header_end|>\n\n{}<|eot|>", m.role, trim(m.content));
  if (add_ass) o += "<|header_start|>assistant<|header_end|>\n\n";
}

void chatglm3(const messages &ms, bool add_ass, std::string &o) {
  o += "[gMASK]sop";
  for (const chat_message &m : ms) o += fmt::format("<|{}|>\n {}", m.role, m.content);
  if (add_ass) o += "<|assistant|>";
}

void chatglm4(const messages &ms, bool add_ass, std::string &o) {
  o += "[gMASK]<sop>";
  for (const chat_message &m : ms) o += fmt::format("<|{}|>\n{}", m.role, m.content);
  if (add_ass) o += "<|assistant|>\n";
}

void glmedge(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|{}|>\n{}", m.role, m.content);
  if (add_ass) o += "<|assistant|>";
}

void minicpm(const messages &ms, bool, std::string &o) {
  for (const chat_message &m : ms) {
    if (m.role == "user") o += "<\xe7\x94\xa8\xe6\x88\xb7>" + trim(m.content) + "<AI>";  // <用户>
    else o += trim(m.content);
  }
}

void exaone3(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) {
    if (m.role == "system") o += fmt::format("[|system|]{}[|endofturn|]\n", trim(m.content));
    else if (m.role == "user") o += fmt::format("[|user|]{}\n", trim(m.content));
    else o += fmt::format("[|assistant|]{}[|endofturn|]\n", trim(m.content));
  }
  if (add_ass) o += "[|assistant|]";
}

void granite(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|start_of_role|>{}<|end_of_role|>{}<|end_of_text|>\n", m.role, m.content);
  if (add_ass) o += "<|start_of_role|>assistant<|end_of_role|>";  // no newline: llama.cpp master, as the template
}

void megrez(const messages &ms, bool add_ass, std::string &o) {
  for (const chat_message &m : ms) o += fmt::format("<|role_start|>{}<|role_end|>{}<|turn_end|>", m.role, m.content);
  if (add_ass) o += "<|role_start|>assistant<|role_end|>";
}

void smolvlm(const messages &ms, bool add_ass, std::string &o) {
  o += "<|im_start|>";
  for (const chat_message &m : ms) {
    if (m.role == "system") o += fmt::format("{}\n\n", m.content);
    else if (m.role == "user") o += fmt::format("User: {}<end_of_utterance>\n", m.content);
    else o += fmt::format("Assistant: {}<end_of_utterance>\n", m.content);
  }
  if (add_ass) o += "Assistant:";
}

struct format_row {
  const char *name;
  void (*apply)(const messages &, bool, std::string &);  // nullptr: recognised, not formatted by hearth
};
const format_row k_formats[] = {
    {"chatml", chatml},
    {"llama2", llama2},
    {"llama2-sys", llama2_sys},
    {"llama2-sys-bos", llama2_sys_bos},
    {"llama2-sys-strip", llama2_sys_strip},
    {"mistral-v1", mistral_v1},
    {"mistral-v3", mistral_v3},
    {"mistral-v3-tekken", mistral_v3_tekken},
    {"mistral-v7", mistral_v7},
    {"mistral-v7-tekken", mistral_v7_tekken},
    {"phi3", phi3},
    {"phi4", phi4},
    {"falcon3", falcon3},
    {"zephyr", zephyr},
    {"monarch", monarch},
    {"gemma", gemma},
    {"orion", orion},
    {"openchat", openchat},
    {"vicuna", vicuna},
    {"vicuna-orca", vicuna_orca},
    {"deepseek", deepseek},
    {"deepseek2", deepseek2},
    {"deepseek3", deepseek3},
    {"command-r", command_r},
    {"llama3", llama3},
    {"llama4", llama4},
    {"chatglm3", chatglm3},
    {"chatglm4", chatglm4},
    {"glmedge", glmedge},
    {"minicpm", minicpm},
    {"exaone3", exaone3},
    {"granite", granite},
    {"megrez", megrez},
    {"smolvlm", smolvlm},
    {"rwkv-world", nullptr},
    {"gigachat", nullptr},
    {"yandex", nullptr},
    {"bailing", nullptr},
};

const format_row *find_format(std::string_view name) {
  for (const format_row &r : k_formats)
    if (name == r.name) return &r;
  return nullptr;
}

// llama.cpp's llm_chat_detect_template, rule for rule and in its order (the first rule that matches wins).
std::string_view detect_text(std::string_view t) {
  auto has = [&](const char *s) { return t.find(s) != std::string_view::npos; };
  if (has("<|im_start|>")) return has("<|im_sep|>") ? "phi4" : has("<end_of_utterance>") ? "smolvlm" : "chatml";
  if (t.substr(0, 7) == "mistral" || has("[INST]")) {
    if (has("[SYSTEM_PROMPT]")) return "mistral-v7";
    if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
      if (has(" [INST]")) return "mistral-v1";
      if (has("\"[INST]\"")) return "mistral-v3-tekken";
      return "mistral-v3";
    }
    if (has("content.strip()")) return "llama2-sys-strip";
    if (has("bos_token + '[INST]")) return "llama2-sys-bos";
    if (has("<<SYS>>")) return "llama2-sys";
    return "llama2";
  }
  if (has("<|assistant|>") && has("<|end|>")) return "phi3";
  if (has("[gMASK]<sop>")) return "chatglm4";
  if (has("<|assistant|>") && has("<|user|>")) return has("</s>") ? "falcon3" : "glmedge";
  if (has("<|{{ item['role'] }}|>") && has("<|begin_of_image|>")) return "glmedge";
  if (has("<|user|>") && has("<|endoftext|>")) return "zephyr";
  if (has("bos_token + message['role']")) return "monarch";
  if (has("<start_of_turn>")) return "gemma";
  if (has("'\\n\\nAssistant: ' + eos_token")) return "orion";
  if (has("GPT4 Correct ")) return "openchat";
  if (has("USER: ") && has("ASSISTANT: ")) return has("SYSTEM: ") ? "vicuna-orca" : "vicuna";
  if (has("### Instruction:") && has("<|EOT|>")) return "deepseek";
  if (has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>")) return "command-r";
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return "llama3";
  if (has("[gMASK]sop")) return "chatglm3";
  if (has("<\xe7\x94\xa8\xe6\x88\xb7>")) return "minicpm";
  if (has("'Assistant: ' + message['content'] + eos_token")) return "deepseek2";
  if (has(k_assistant_deepseek) && has(k_user_deepseek) && has(k_eos_deepseek)) return "deepseek3";
  if (has("[|system|]") && has("[|assistant|]") && has("[|endofturn|]")) return "exaone3";
  if (has("rwkv-world")) return "rwkv-world";
  if (has("<|start_of_role|>")) return "granite";
  if (has("message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]"))
    return "gigachat";
  if (has("<|role_start|>")) return "megrez";
  if (has(" \xd0\x90\xd1\x81\xd1\x81\xd0\xb8\xd1\x81\xd1\x82\xd0\xb5\xd0\xbd\xd1\x82:")) return "yandex";  // " Ассистент:"
  if (has("<role>ASSISTANT</role>") && has("'HUMAN'")) return "bailing";
  if (has("<|header_start|>") && has("<|header_end|>")) return "llama4";
  return "";
}

}  // namespace

const char *chat_template_detect(std::string_view t) {
  if (const format_row *r = find_format(t)) return r->name;
  const format_row *r = find_format(detect_text(t));
  return r ? r->name : nullptr;
}

const std::string &chat_template_names() {
  static const std::string names = [] {
    std::string s;
    for (const format_row &r : k_formats)
      if (r.apply) s += (s.empty() ? "" : ", ") + std::string(r.name);
    return s;
  }();
  return names;
}

std::string chat_template_apply(std::string_view t, const std::vector<chat_message> &ms, bool add_assistant,
                                const chat_specials &specials) {
  const bool markup = t.find("{{") != std::string_view::npos || t.find("{%") != std::string_view::npos;
  if (markup && !find_format(t)) {
    // A template text: rendered as written where the Jinja subset can; else the built-in format it is recognised as.
    try {
      const jinja::template_text tmpl(t);
      jinja::inputs in;
      for (const chat_message &m : ms) in.messages.push_back({std::string(m.role), std::string(m.content)});
      in.add_generation_prompt = add_assistant;
      in.bos_token = specials.bos;
      in.eos_token = specials.eos;
      std::string out = tmpl.render(in);
      if (!specials.bos.empty() && out.compare(0, specials.bos.size(), specials.bos) == 0) out.erase(0, specials.bos.size());
      return out;
    } catch (const error &e) {
      if (e.status() == HEARTH_ERR_INVALID_ARGUMENT) throw;  // the template refuses this conversation
      if (!chat_template_detect(t))
        fail(e.status(), std::string(e.what()) + ", and it is not one of the formats hearth recognises; name a built-in one: " +
                             chat_template_names());
      log_message(HEARTH_LOG_INFO, std::string(e.what()) + "; formatting with the built-in '" + chat_template_detect(t) + "' format");
    }
  }
  const char *detected = chat_template_detect(t);
  if (!detected)
    fail(HEARTH_ERR_UNSUPPORTED, "'" + std::string(t.substr(0, 40)) + "' is neither a built-in chat format nor a template (no {{ or {%); name a built-in one: " +
                                     chat_template_names());
  const format_row *f = find_format(detected);
  if (!f->apply)
    fail(HEARTH_ERR_UNSUPPORTED, "the chat template is '" + std::string(detected) + "', which hearth does not format; name a built-in one: " +
                                     chat_template_names());
  for (size_t i = 0; i < ms.size(); ++i)
    if (ms[i].role != "system" && ms[i].role != "user" && ms[i].role != "assistant")
      fail(HEARTH_ERR_INVALID_ARGUMENT,
           fmt::format("message {}: role '{}' is not one hearth formats (system, user, assistant)", i, ms[i].role));
  std::string out;
  f->apply(ms, add_assistant, out);
  return out;
}

}  // namespace hearth
