// Chat templates: each built-in format renders a fixed conversation (a system message and three user turns) to
// the exact text llama.cpp's own tests expect for it (tests/test-chat-template.cpp in llama.cpp, MIT), the six
// real templates in tests/data/chat-templates are recognised as the right format and rendered by the Jinja subset
// exactly as Python's Jinja2 renders them, and what hearth cannot format is an error that names the built-in
// formats.
#include <doctest/doctest.h>

#include <cstring>

#include "chat_template.h"
#include "error.h"
#include "hearth.h"
#include "jinja.h"
#include "test_util.h"

using namespace hearth;

namespace {

const std::vector<chat_message> k_conversation = {
    {"system", "You are a helpful assistant"}, {"user", "Hello"},          {"assistant", "Hi there"},
    {"user", "Who are you"},                  {"assistant", "   I am an assistant   "}, {"user", "Another question"},
};

}  // namespace

TEST_CASE("each built-in format renders the fixed conversation exactly") {
  const std::pair<const char *, const char *> cases[] = {
      {"chatml",
       "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi "
       "there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   "
       "<|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n"},
      {"llama2",
       "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   "
       "</s>[INST] Another question [/INST]"},
      {"llama2-sys-bos",
       "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are you [/INST]   I am "
       "an assistant   </s><s>[INST] Another question [/INST]"},
      {"llama2-sys-strip",
       "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]I am an "
       "assistant</s>[INST] Another question [/INST]"},
      {"mistral-v1",
       " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   "
       "</s> [INST] Another question [/INST]"},
      {"mistral-v3",
       "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>[INST] "
       "Another question[/INST]"},
      {"mistral-v3-tekken",
       "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   "
       "</s>[INST]Another question[/INST]"},
      {"mistral-v7",
       "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST]  "
       "  I am an assistant   </s>[INST] Another question[/INST]"},
      {"monarch",
       "system\nYou are a helpful assistant</s>\n<s>user\nHello</s>\n<s>assistant\nHi there</s>\n<s>user\nWho are "
       "you</s>\n<s>assistant\n   I am an assistant   </s>\n<s>user\nAnother question</s>\n<s>assistant\n"},
      {"gemma",
       "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi "
       "there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an "
       "assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n"},
      {"orion",
       "Human: You are a helpful assistant\n\nHello\n\nAssistant: </s>Hi there</s>Human: Who are you\n\nAssistant: </s>   I "
       "am an assistant   </s>Human: Another question\n\nAssistant: </s>"},
      {"openchat",
       "You are a helpful assistant<|end_of_turn|>GPT4 Correct User: Hello<|end_of_turn|>GPT4 Correct Assistant: Hi "
       "there<|end_of_turn|>GPT4 Correct User: Who are you<|end_of_turn|>GPT4 Correct Assistant:    I am an assistant   "
       "<|end_of_turn|>GPT4 Correct User: Another question<|end_of_turn|>GPT4 Correct Assistant:"},
      {"deepseek",
       "You are a helpful assistant### Instruction:\nHello\n### Response:\nHi there\n<|EOT|>\n### Instruction:\nWho are "
       "you\n### Response:\n   I am an assistant   \n<|EOT|>\n### Instruction:\nAnother question\n### Response:\n"},
      {"vicuna",
       "You are a helpful assistant\n\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\nASSISTANT:    I am an "
       "assistant   </s>\nUSER: Another question\nASSISTANT:"},
      {"vicuna-orca",
       "SYSTEM: You are a helpful assistant\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\nASSISTANT:    I am an "
       "assistant   </s>\nUSER: Another question\nASSISTANT:"},
      {"command-r",
       "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful "
       "assistant<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|>"
       "<|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who are "
       "you<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>I am an "
       "assistant<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Another "
       "question<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
      {"llama3",
       "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful "
       "assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_"
       "header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are "
       "you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an "
       "assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother "
       "question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
      {"phi3",
       "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi "
       "there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother "
       "question<|end|>\n<|assistant|>\n"},
      {"phi4",
       "<|im_start|>system<|im_sep|>You are a helpful "
       "assistant<|im_end|><|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>Hi "
       "there<|im_end|><|im_start|>user<|im_sep|>Who are you<|im_end|><|im_start|>assistant<|im_sep|>   I am an assistant   "
       "<|im_end|><|im_start|>user<|im_sep|>Another question<|im_end|><|im_start|>assistant<|im_sep|>"},
      {"chatglm3",
       "[gMASK]sop<|system|>\n You are a helpful assistant<|user|>\n Hello<|assistant|>\n Hi there<|user|>\n Who are "
       "you<|assistant|>\n    I am an assistant   <|user|>\n Another question<|assistant|>"},
      {"chatglm4",
       "[gMASK]<sop><|system|>\nYou are a helpful assistant<|user|>\nHello<|assistant|>\nHi there<|user|>\nWho are "
       "you<|assistant|>\n   I am an assistant   <|user|>\nAnother question<|assistant|>\n"},
      {"glmedge",
       "<|system|>\nYou are a helpful assistant<|user|>\nHello<|assistant|>\nHi there<|user|>\nWho are you<|assistant|>\n   I "
       "am an assistant   <|user|>\nAnother question<|assistant|>"},
      {"minicpm",
       "You are a helpful assistant<\xe7\x94\xa8\xe6\x88\xb7>Hello<AI>Hi there<\xe7\x94\xa8\xe6\x88\xb7>Who are you<AI>I am an "
       "assistant<\xe7\x94\xa8\xe6\x88\xb7>Another question<AI>"},
      {"deepseek2",
       "You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>User: Who "
       "are you\n\nAssistant:    I am an assistant   <\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>User: Another "
       "question\n\nAssistant:"},
      {"granite",
       "<|start_of_role|>system<|end_of_role|>You are a helpful "
       "assistant<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Hello<|end_of_text|>\n<|start_of_role|>assistant<|end_"
       "of_role|>Hi there<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Who are "
       "you<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>   I am an assistant   "
       "<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Another "
       "question<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>"},
      {"megrez",
       "<|role_start|>system<|role_end|>You are a helpful assistant<|turn_end|><|role_start|>user<|role_end|>Hello<|turn_end|>"
       "<|role_start|>assistant<|role_end|>Hi there<|turn_end|><|role_start|>user<|role_end|>Who are "
       "you<|turn_end|><|role_start|>assistant<|role_end|>   I am an assistant   "
       "<|turn_end|><|role_start|>user<|role_end|>Another question<|turn_end|><|role_start|>assistant<|role_end|>"},
  };
  for (const auto &[name, want] : cases) {
    CAPTURE(name);
    CHECK(chat_template_apply(name, k_conversation, true) == want);
  }
}

TEST_CASE("formats written from their definitions: zephyr, falcon3, deepseek3, llama2-sys, llama4, and three more") {
  // Written here from each format's definition (the model card's template), for the formats llama.cpp's test
  // file has no case for in the same conversation.
  const std::vector<chat_message> c = {{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};
  CHECK(chat_template_apply("zephyr", c, true) ==
        "<|system|>\nS<|endoftext|>\n<|user|>\nU1<|endoftext|>\n<|assistant|>\nA1<|endoftext|>\n<|user|>\nU2<|endoftext|>\n<|assistant|>\n");
  CHECK(chat_template_apply("falcon3", c, true) == "<|system|>\nS\n<|user|>\nU1\n<|assistant|>\nA1\n<|user|>\nU2\n<|assistant|>\n");
  CHECK(chat_template_apply("deepseek3", c, true) ==
        "S\n\n<\xef\xbd\x9cUser\xef\xbd\x9c>U1<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>A1<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c><\xef\xbd\x9cUser\xef\xbd\x9c>U2<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>");
  CHECK(chat_template_apply("llama2-sys", c, true) == "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST]A1</s>[INST] U2 [/INST]");
  CHECK(chat_template_apply("llama4", c, true) ==
        "<|header_start|>system<|header_end|>\n\nS<|eot|><|header_start|>user<|header_end|>\n\nU1<|eot|><|header_start|>"
        "assistant<|header_end|>\n\nA1<|eot|><|header_start|>user<|header_end|>\n\nU2<|eot|><|header_start|>assistant<|header_end|>\n\n");
  CHECK(chat_template_apply("mistral-v7-tekken", c, true) == "[SYSTEM_PROMPT]S[/SYSTEM_PROMPT][INST]U1[/INST]A1</s>[INST]U2[/INST]");
  CHECK(chat_template_apply("exaone3", c, true) == "[|system|]S[|endofturn|]\n[|user|]U1\n[|assistant|]A1[|endofturn|]\n[|user|]U2\n[|assistant|]");
  CHECK(chat_template_apply("smolvlm", c, true) ==
        "<|im_start|>S\n\nUser: U1<end_of_utterance>\nAssistant: A1<end_of_utterance>\nUser: U2<end_of_utterance>\nAssistant:");
  // Without the assistant prefix the text ends with the last turn.
  CHECK(chat_template_apply("chatml", {{"user", "U"}}, false) == "<|im_start|>user\nU<|im_end|>\n");
}

TEST_CASE("the six real templates are recognised as their formats") {
  const std::pair<const char *, const char *> files[] = {
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3"},
      {"Qwen-Qwen2.5-7B-Instruct.jinja", "chatml"},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral-v3-tekken"},
      {"google-gemma-2-2b-it.jinja", "gemma"},
      {"microsoft-Phi-3.5-mini-instruct.jinja", "phi3"},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek3"},
  };
  for (const auto &[file, family] : files) {
    CAPTURE(file);
    const std::string text = test::read_text(std::string(HEARTH_TEST_DATA) + "/chat-templates/" + file);
    REQUIRE(text.size() > 100);
    const char *got = chat_template_detect(text);
    REQUIRE(got != nullptr);
    CHECK(std::string(got) == family);
  }
}

TEST_CASE("the Jinja subset renders the six real templates exactly as Python's Jinja2 does") {
  // tests/data/chat-templates/NAME.expect: what Jinja2 rendered under Hugging Face's settings for four
  // conversations (tools/chat-vectors/make.py), "ERROR: ..." where the template refuses one.
  const std::vector<std::pair<std::vector<jinja::message>, bool>> cases = {
      {{{"system", "You are a helpful assistant"}, {"user", "Hello"}, {"assistant", "Hi there"}, {"user", "Who are you"},
        {"assistant", "   I am an assistant   "}, {"user", "Another question"}},
       true},
      {{{"user", "Hello"}, {"assistant", "Hi there"}, {"user", "Who are you"}, {"assistant", "   I am an assistant   "},
        {"user", "Another question"}},
       true},
      {{{"user", "Hello"}, {"assistant", "Hi there"}, {"user", "Who are you"}, {"assistant", "   I am an assistant   "}}, false},
      {{{"user", "Say \"hi\" in <b>bold</b> \xe2\x80\x94 and 'quote' me\n\ttwice"}}, true},
  };
  const char *files[] = {"meta-llama-Llama-3.1-8B-Instruct", "Qwen-Qwen2.5-7B-Instruct", "mistralai-Mistral-Nemo-Instruct-2407",
                         "google-gemma-2-2b-it", "microsoft-Phi-3.5-mini-instruct", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B"};
  const std::string sep = "\n__hearth_chat_case__\n";
  for (const char *file : files) {
    CAPTURE(file);
    const std::string dir = std::string(HEARTH_TEST_DATA) + "/chat-templates/";
    const jinja::template_text tmpl(test::read_text(dir + file + ".jinja"));
    const std::string expect = test::read_text(dir + file + ".expect");
    std::vector<std::string> want;
    for (size_t pos = 0;;) {
      const size_t next = expect.find(sep, pos);
      want.push_back(expect.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
      if (next == std::string::npos) break;
      pos = next + sep.size();
    }
    REQUIRE(want.size() == cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      CAPTURE(i);
      jinja::inputs in;
      in.messages = cases[i].first;
      in.add_generation_prompt = cases[i].second;
      in.bos_token = "<BOS>";
      in.eos_token = "<EOS>";
      if (want[i].rfind("ERROR: ", 0) == 0) {
        const std::string message = want[i].substr(7);
        CHECK_THROWS_WITH_AS(tmpl.render(in), doctest::Contains(message.c_str()), hearth::error);
      } else {
        CHECK(tmpl.render(in) == want[i]);
      }
    }
  }
}

TEST_CASE("the Jinja subset: whitespace control, scoping, filters, tests, and errors for what it lacks") {
  auto render = [](const std::string &t, std::vector<jinja::message> ms = {}) {
    jinja::inputs in;
    in.messages = std::move(ms);
    in.bos_token = "<s>";
    return jinja::template_text(t).render(in);
  };
  // trim_blocks and lstrip_blocks as Hugging Face sets them; '-' strips; comments vanish
  CHECK(render("a\n  {% if true %}\n  b\n  {% endif %}\nc") == "a\n  b\nc");
  CHECK(render("a  {{- ' b ' -}}  c{# note #}") == "a b c");
  // set inside a loop stays in the loop; a namespace carries state out
  CHECK(render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = i %}{% endfor %}{{ x }}") == "1");
  CHECK(render("{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}") == "6");
  // loop variables, a loop filter, else
  CHECK(render("{% for i in [5, 6, 7] if i != 6 %}{{ loop.index0 }}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}") == "05,17");
  CHECK(render("{% for i in [] %}x{% else %}empty{% endfor %}") == "empty");
  // operators and precedence: filters bind tighter than +, `not x is defined` is `not (x is defined)`
  CHECK(render("{{ '  a ' | trim + 'b' }}|{{ not y is defined }}|{{ 7 // 2 }}{{ -7 % 3 }}|{{ 'ab' ~ 1 }}") == "ab|True|32|ab1");
  CHECK(render("{{ [1, 2, 3][1:] }}{{ 'hello'[::-1] }}{{ 'a,b'.split(',')[-1] }}") == "[2, 3]ollehb");
  CHECK(render("{{ {'k': 'v', 'n': [1, none, true]} | tojson }}") == "{\"k\": \"v\", \"n\": [1, null, true]}");
  CHECK(render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('+') }}",
               {{"user", "a"}, {"assistant", "b"}, {"user", "c"}}) == "a+c");
  CHECK(render("{{ 'x' if messages | length > 1 else 'y' }}", {{"user", "a"}}) == "y");
  // raise_exception is the template refusing the conversation
  CHECK_THROWS_WITH_AS(render("{{ raise_exception('no system') }}"), doctest::Contains("no system"), hearth::error);
  // what the subset lacks is UNSUPPORTED, named; malformed text is BAD_FORMAT
  try {
    render("{% macro m() %}x{% endmacro %}");
    CHECK(false);
  } catch (const hearth::error &e) {
    CHECK(e.status() == HEARTH_ERR_UNSUPPORTED);
    CHECK(std::string(e.what()).find("macro") != std::string::npos);
  }
  try {
    render("{% if x %}no end");
    CHECK(false);
  } catch (const hearth::error &e) {
    CHECK(e.status() == HEARTH_ERR_BAD_FORMAT);
  }
}

TEST_CASE("a model's template is rendered as written, BOS dropped, the built-in format where Jinja cannot") {
  const std::string llama31 = test::read_text(std::string(HEARTH_TEST_DATA) + "/chat-templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
  const std::string out = chat_template_apply(llama31, {{"user", "Hi"}}, true, {"<|begin_of_text|>", "<|eot_id|>"});
  CHECK(out ==
        "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul "
        "2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_"
        "header_id|>\n\n");
  // a template with a construct the subset lacks, but llama.cpp's marks: the built-in format
  const std::string odd = "{% macro turn(m) %}{% endmacro %}<|im_start|>";
  CHECK(chat_template_apply(odd, {{"user", "Hi"}}, true) == chat_template_apply("chatml", {{"user", "Hi"}}, true));
  // the template's own refusal is the caller's error, not a fallback
  const std::string gemma = test::read_text(std::string(HEARTH_TEST_DATA) + "/chat-templates/google-gemma-2-2b-it.jinja");
  CHECK_THROWS_WITH_AS(chat_template_apply(gemma, k_conversation, true), doctest::Contains("System role not supported"), hearth::error);
}

TEST_CASE("what hearth cannot format is an error that says what it can") {
  const char *macro = "{% macro m() %}{% endmacro %}{{ m() }}";  // outside the Jinja subset, and no known marks
  CHECK(chat_template_detect(macro) == nullptr);
  CHECK_THROWS_WITH_AS(chat_template_apply(macro, k_conversation, true), doctest::Contains("chatml, llama2"), hearth::error);
  CHECK_THROWS_WITH_AS(chat_template_apply("no-such-name", k_conversation, true), doctest::Contains("neither a built-in"),
                       hearth::error);
  // recognised, but not a format hearth writes
  CHECK(std::string(chat_template_detect("rwkv-world")) == "rwkv-world");
  CHECK_THROWS_WITH_AS(chat_template_apply("rwkv-world", k_conversation, true), doctest::Contains("does not format"), hearth::error);
  // a role the formats do not define
  CHECK_THROWS_WITH_AS(chat_template_apply("chatml", {{"tool", "x"}}, true), doctest::Contains("role 'tool'"), hearth::error);
}

TEST_CASE("C API: hearth_chat_apply_template, buffer sizes, the model's own template, errors") {
  const hearth_chat_message msgs[] = {{"system", "S"}, {"user", "Hi"}};
  size_t n = 0;
  CHECK(hearth_chat_apply_template(nullptr, "chatml", msgs, 2, 1, nullptr, 0, &n) == HEARTH_OK);
  const std::string want = "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
  CHECK(n == want.size());
  std::vector<char> buf(n + 1);
  CHECK(hearth_chat_apply_template(nullptr, "chatml", msgs, 2, 1, buf.data(), 4, &n) == HEARTH_ERR_BUFFER_TOO_SMALL);
  CHECK(hearth_chat_apply_template(nullptr, "chatml", msgs, 2, 1, buf.data(), buf.size(), &n) == HEARTH_OK);
  CHECK(std::string(buf.data()) == want);
  // the names, and detection through the C API
  CHECK(std::string(hearth_chat_builtin_templates()).find("llama3") != std::string::npos);
  CHECK(std::string(hearth_chat_detect_template("{% for m in messages %}<|im_start|>{% endfor %}")) == "chatml");
  CHECK(hearth_chat_detect_template("plain") == nullptr);
  CHECK(hearth_chat_detect_template(nullptr) == nullptr);
  // errors: unknown template, unknown role, NULL content, invalid UTF-8, no model and no template
  CHECK(hearth_chat_apply_template(nullptr, "???", msgs, 2, 1, nullptr, 0, &n) == HEARTH_ERR_UNSUPPORTED);
  CHECK(std::string(hearth_last_error()).find("chatml") != std::string::npos);
  // a template text is rendered by the Jinja subset
  const char *tmpl = "{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}";
  char small[64];
  CHECK(hearth_chat_apply_template(nullptr, tmpl, msgs, 2, 1, small, sizeof small, &n) == HEARTH_OK);
  CHECK(std::string(small) == "[system:S][user:Hi]>");
  CHECK(hearth_chat_apply_template(nullptr, "{{ raise_exception('nope') }}", msgs, 2, 1, nullptr, 0, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_last_error()).find("nope") != std::string::npos);
  CHECK(hearth_chat_apply_template(nullptr, "{% if %}", msgs, 2, 1, nullptr, 0, &n) != HEARTH_OK);
  CHECK(std::string(hearth_last_error()).find("chatml") != std::string::npos);
  const hearth_chat_message bad_role[] = {{"narrator", "x"}};
  CHECK(hearth_chat_apply_template(nullptr, "chatml", bad_role, 1, 1, nullptr, 0, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  const hearth_chat_message null_content[] = {{"user", nullptr}};
  CHECK(hearth_chat_apply_template(nullptr, "chatml", null_content, 1, 1, nullptr, 0, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  const hearth_chat_message bad_utf8[] = {{"user", "a\xff"}};
  CHECK(hearth_chat_apply_template(nullptr, "chatml", bad_utf8, 1, 1, nullptr, 0, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_last_error()).find("byte 1") != std::string::npos);
  CHECK(hearth_chat_apply_template(nullptr, nullptr, msgs, 2, 1, nullptr, 0, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  // a vocabulary without tokenizer.chat_template: the model has none to offer
  hearth_model_params p;
  hearth_model_params_init(&p);
  p.vocab_only = 1;
  hearth_model *m = nullptr;
  REQUIRE(hearth_model_load(HEARTH_TEST_DATA "/ggml-vocab-gpt-2.gguf", &p, &m) == HEARTH_OK);
  CHECK(hearth_chat_apply_template(m, nullptr, msgs, 2, 1, nullptr, 0, &n) == HEARTH_ERR_INVALID_ARGUMENT);
  CHECK(std::string(hearth_last_error()).find("no chat template") != std::string::npos);
  CHECK(hearth_chat_apply_template(m, "zephyr", msgs, 2, 1, nullptr, 0, &n) == HEARTH_OK);
  hearth_model_free(m);
}
