#!/usr/bin/python3
"""Trains the two tiny models under tests/data/tiny on the Jargon File (Debian's `jargon` package, public domain):
a llama-architecture ReGLU model and a bamboo dReLU model, about 1.2M parameters each, with a byte-level BPE
vocabulary trained by `hearth synth`, and writes them as F16 GGUF through `hearth import`.

The forward pass below is hearth's llama block (RMSNorm, normal RoPE over pairs (2i, 2i+1), causal multi-head
attention, a gated ReLU FFN, tied output). The held-out perplexity it reports, computed in float64 from the
F16-rounded weights over consecutive windows each scored from an empty context, is written into the file
(hearth.training.heldout_perplexity) for tests/test_tiny_models.cpp to compare with hearth's own.

Usage (Debian's python3-torch with libopenblas0-pthread: Debian's generic BLAS is 25x slower; 2 CPU cores, about
30 minutes in all):
  /usr/bin/python3 tools/tiny-models/train.py --hearth build/hearth --out tests/data/tiny
"""
import argparse
import gzip
import json
import math
import os
import struct
import subprocess
import sys
import time

import torch

D, LAYERS, FF, HEADS, VOCAB, CTX, BASE, EPS = 128, 4, 512, 4, 2048, 128, 10000.0, 1e-5


def corpus(path):
    """The Jargon File's Info nodes as plain text: the index at the end, the separators and headers dropped."""
    text = gzip.open(path, "rt", encoding="utf-8").read()
    cut = text.find("\x1f\nTag Table:")
    if cut > 0:
        text = text[:cut]
    nodes = []
    for node in text.split("\x1f"):
        body = "\n".join(l for l in node.split("\n") if not l.startswith("File: jargon.info")).strip("\n")
        if body.strip():
            nodes.append(body + "\n")
    return nodes


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def tokenize(hearth, model, path):
    out = run([hearth, "tokenize", "-m", model, "-f", path], capture_output=True, text=True).stdout
    return torch.tensor([int(t) for t in out.split()], dtype=torch.long)


def rope(x, pos):  # x: [B, T, H, hd]; llama.cpp's "normal" pairs (2i, 2i + 1)
    hd = x.shape[-1]
    inv = BASE ** (-torch.arange(0, hd, 2, dtype=x.dtype) / hd)
    ang = pos[:, None].to(x.dtype) * inv[None, :]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def rmsnorm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + EPS) * w


class Tiny(torch.nn.Module):
    def __init__(self, ffn):
        super().__init__()
        self.ffn = ffn  # "relu" (ReGLU) or "drelu"
        g = torch.Generator().manual_seed(7)
        p = {}

        def lin(name, rows, cols, scale=None):
            p[name] = torch.randn(rows, cols, generator=g) * (scale or cols ** -0.5)

        p["token_embd.weight"] = torch.randn(VOCAB, D, generator=g) * D ** -0.5  # tied: logits of unit scale
        p["output_norm.weight"] = torch.ones(D)
        for i in range(LAYERS):
            b = f"blk.{i}."
            p[b + "attn_norm.weight"] = torch.ones(D)
            for n in ("attn_q", "attn_k", "attn_v"):
                lin(b + n + ".weight", D, D)
            lin(b + "attn_output.weight", D, D, (D * 2 * LAYERS) ** -0.5)
            p[b + "ffn_norm.weight"] = torch.ones(D)
            lin(b + "ffn_gate.weight", FF, D)
            lin(b + "ffn_up.weight", FF, D)
            lin(b + "ffn_down.weight", D, FF, (FF * 2 * LAYERS) ** -0.5)
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v) for k, v in p.items()})

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def forward(self, toks):  # toks: [B, T] -> logits [B, T, V]
        B, T = toks.shape
        hd = D // HEADS
        x = self.w("token_embd.weight")[toks]
        pos = torch.arange(T)
        mask = torch.full((T, T), float("-inf"), dtype=x.dtype).triu(1)
        for i in range(LAYERS):
            b = f"blk.{i}."
            h = rmsnorm(x, self.w(b + "attn_norm.weight"))
            q = (h @ self.w(b + "attn_q.weight").T).view(B, T, HEADS, hd)
            k = (h @ self.w(b + "attn_k.weight").T).view(B, T, HEADS, hd)
            v = (h @ self.w(b + "attn_v.weight").T).view(B, T, HEADS, hd)
            q, k = rope(q, pos), rope(k, pos)
            s = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd) + mask
            a = torch.einsum("bhts,bshd->bthd", torch.softmax(s, -1), v).reshape(B, T, D)
            x = x + a @ self.w(b + "attn_output.weight").T
            f = rmsnorm(x, self.w(b + "ffn_norm.weight"))
            gate = torch.relu(f @ self.w(b + "ffn_gate.weight").T)
            up = f @ self.w(b + "ffn_up.weight").T
            if self.ffn == "drelu":
                up = torch.relu(up)
            x = x + (gate * up) @ self.w(b + "ffn_down.weight").T
        x = rmsnorm(x, self.w("output_norm.weight"))
        return x @ self.w("token_embd.weight").T


def heldout_perplexity(model, ids):
    """Consecutive windows of CTX tokens, each from an empty context; every token but a window's first scored."""
    nll, n = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(ids) - 1, CTX):
            w = ids[s:s + CTX]
            if len(w) < 2:
                break
            logp = torch.log_softmax(model(w[None, :])[0], -1)
            nll -= logp[torch.arange(len(w) - 1), w[1:]].sum().item()
            n += len(w) - 1
    return math.exp(nll / n), n


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def train(args, ffn, arch, train_txt, heldout_txt, out_name):
    work = args.work
    tmpl = os.path.join(work, f"template-{ffn}.gguf")
    run([args.hearth, "synth", "-o", tmpl, "--arch", arch, "--ffn", ffn, "--tokenizer", "bpe", "--pre", "gpt-2",
         "--corpus", train_txt, "--vocab", str(VOCAB), "--embd", str(D), "--layers", str(LAYERS), "--ff", str(FF),
         "--heads", str(HEADS), "--kv-heads", str(HEADS), "--ctx", str(4 * CTX), "--type", "f32", "--tied"])
    tr, ho = tokenize(args.hearth, tmpl, train_txt), tokenize(args.hearth, tmpl, heldout_txt)
    print(f"{ffn}: {len(tr)} training tokens, {len(ho)} held out", file=sys.stderr)
    torch.manual_seed(11)
    model = Tiny(ffn)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    t0 = time.time()
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(tr) - CTX - 1, (args.batch,))
        x = torch.stack([tr[s:s + CTX] for s in starts])
        y = torch.stack([tr[s + 1:s + CTX + 1] for s in starts])
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"{ffn} step {step} loss {loss.item():.4f} lr {lr:.2e} {time.time() - t0:.0f}s", file=sys.stderr)
    # The weights as the file stores them (F16), evaluated in float64.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    model = model.double()
    ppl, scored = heldout_perplexity(model, ho)
    print(f"{ffn}: {n_params} parameters, held-out perplexity {ppl:.6f} over {scored} tokens", file=sys.stderr)
    weights = {k.replace("__", "."): v for k, v in model.p.items()}
    st = os.path.join(work, f"{ffn}.safetensors")
    write_safetensors(st, weights)
    out = os.path.join(args.out, out_name)
    run([args.hearth, "import", "-t", tmpl, "-w", st, "-o", out, "--type", "f16", "--meta-f32",
         f"hearth.training.heldout_perplexity={ppl:.7g},hearth.training.heldout_window={CTX},"
         f"hearth.training.steps={args.steps},hearth.training.final_loss={loss.item():.6g}"])
    return {"file": out_name, "ffn": ffn, "arch": arch, "parameters": n_params, "train_tokens": len(tr),
            "heldout_tokens": scored, "heldout_perplexity": ppl, "steps": args.steps, "final_loss": loss.item(),
            "seconds": round(time.time() - t0)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hearth", default="build/hearth")
    ap.add_argument("--out", default="tests/data/tiny")
    ap.add_argument("--work", default="/tmp/hearth-tiny")
    ap.add_argument("--jargon", default="/usr/share/info/jargon.info.gz")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--only", choices=["relu", "drelu"])
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 2)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    nodes = corpus(args.jargon)
    # every 25th entry held out (from the 8th) and every 25th (from the 20th) kept for `hearth calibrate` in the
    # tests; the rest trains: all three sample the whole File, not one end of it
    pick = lambda r: "\n".join(n for i, n in enumerate(nodes) if i % 25 == r)
    files = {"jargon-train.txt": "\n".join(n for i, n in enumerate(nodes) if i % 25 not in (7, 19)),
             "jargon-calibration.txt": pick(19), "jargon-heldout.txt": pick(7)}
    for name, body in files.items():
        d = args.work if name == "jargon-train.txt" else args.out
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(body)
    train_txt = os.path.join(args.work, "jargon-train.txt")
    heldout_txt = os.path.join(args.out, "jargon-heldout.txt")
    results = []
    for ffn, arch, name in (("relu", "llama", "jargon-reglu.gguf"), ("drelu", "bamboo", "jargon-drelu.gguf")):
        if args.only in (None, ffn):
            results.append(train(args, ffn, arch, train_txt, heldout_txt, name))
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
