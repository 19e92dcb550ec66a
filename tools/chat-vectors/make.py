#!/usr/bin/env python3
"""Renders the chat templates in tests/data/chat-templates with Python's Jinja2 the way Hugging Face's
apply_chat_template does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, tojson without ASCII escaping,
raise_exception), for fixed conversations, and writes what they render to tests/data/chat-templates/NAME.expect:
the cases in order, separated by the line __hearth_chat_case__; a case the template refuses is "ERROR: message".
hearth's Jinja subset (lib/jinja.cpp) must reproduce every case byte for byte (tests/test_chat.cpp).

  python3 tools/chat-vectors/make.py      (Debian: python3-jinja2; run from the repository root)
"""
import glob
import json
import os

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

BOS, EOS = "<BOS>", "<EOS>"
SYSTEM = {"role": "system", "content": "You are a helpful assistant"}
TURNS = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you"},
    {"role": "assistant", "content": "   I am an assistant   "},
    {"role": "user", "content": "Another question"},
]
# (messages, add_generation_prompt)
CASES = [
    ([SYSTEM] + TURNS, True),
    (TURNS, True),
    (TURNS[:4], False),
    ([{"role": "user", "content": "Say \"hi\" in <b>bold</b> \u2014 and 'quote' me\n\ttwice"}], True),
]
SEP = "\n__hearth_chat_case__\n"


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    for path in sorted(glob.glob("tests/data/chat-templates/*.jinja")):
        template = env.from_string(open(path, encoding="utf-8").read())
        out = []
        for messages, add in CASES:
            try:
                out.append(template.render(messages=messages, add_generation_prompt=add, bos_token=BOS, eos_token=EOS))
            except TemplateError as e:
                out.append("ERROR: " + str(e))
        with open(os.path.splitext(path)[0] + ".expect", "w", encoding="utf-8") as f:
            f.write(SEP.join(out))
        print(path)


if __name__ == "__main__":
    main()
