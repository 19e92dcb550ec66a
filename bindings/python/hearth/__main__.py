"""python -m hearth: runs a prompt on a model, as `hearth run` does (the same spellings, the library's defaults).

    python -m hearth -m model.gguf -p "Once upon a time" -n 64 --temp 0.8 --seed 1

The prompt and its continuation go to stdout; the model, the seed used (drawn when none is given) and the speeds go
to stderr. Exit status: 0, 1 when the library refuses (its message on stderr), 2 for a bad command line.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _parser(version: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hearth", description="Generate text with a GGUF model (libhearth).")
    p.add_argument("-m", "--model", required=True, help="the GGUF file")
    src = p.add_mutually_exclusive_group()
    src.add_argument("-p", "--prompt", default="", help="the prompt text")
    src.add_argument("-f", "--file", help="read the prompt from this file (UTF-8)")
    p.add_argument("-n", "--n-predict", type=int, default=64, help="tokens to generate (default 64)")
    p.add_argument("-c", "--ctx-size", type=int, default=0, help="context length (0: the model's, capped)")
    p.add_argument("-t", "--threads", type=int, default=0, help="threads (0: every core)")
    p.add_argument("-s", "--seed", type=int, default=-1, help="sampler seed (-1, the default: a fresh one)")
    p.add_argument("--temp", type=float, help="temperature (0: greedy)")
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--min-p", type=float)
    p.add_argument("--repeat-penalty", type=float)
    p.add_argument("--version", action="version", version="hearth " + version)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    import hearth  # (already imported by `python -m`: a missing libhearth is an ImportError saying what to set)
    a = _parser(hearth.version()).parse_args(argv)
    if a.n_predict < 0 or a.ctx_size < 0 or a.threads < 0:
        print("python -m hearth: -n, -c and -t take counts >= 0", file=sys.stderr)
        return 2
    try:
        prompt = a.prompt
        if a.file is not None:
            with open(a.file, encoding="utf-8") as f:
                prompt = f.read()
    except (OSError, UnicodeDecodeError) as e:
        print("python -m hearth: cannot read the prompt file: %s" % e, file=sys.stderr)
        return 1
    try:
        with hearth.Model(a.model) as model, hearth.Session(model, n_ctx=a.ctx_size, n_threads=a.threads) as s:
            s.set_sampler(temperature=a.temp, top_k=a.top_k, top_p=a.top_p, min_p=a.min_p,
                          repeat_penalty=a.repeat_penalty, seed=None if a.seed < 0 else a.seed)
            print("model: %s\nkernels: %s, FFN mode: %s, seed: %d" % (model.description, hearth.cpu_isa(), s.mode, s.seed),
                  file=sys.stderr)
            out = sys.stdout
            out.write(prompt)

            def piece(text: str) -> None:
                out.write(text)
                out.flush()
            s.generate_text(prompt, max_tokens=a.n_predict, on_piece=piece)
            out.write("\n")
            out.flush()
            perf = s.perf()
            for what, n, ms in (("prompt", perf["n_prompt"], perf["prompt_ms"]),
                                ("generation", perf["n_generated"], perf["generate_ms"])):
                print("%-11s %4d tokens in %8.1f ms, %8.2f tokens/s" % (what + ":", n, ms, n * 1000.0 / ms if ms > 0 else 0.0),
                      file=sys.stderr)
    except hearth.HearthError as e:
        print("python -m hearth: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
