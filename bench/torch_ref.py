#!/usr/bin/env python3
"""The peer of `moegrad bench`: the same cases in PyTorch eager, written the
plain way shared/BENCHMARKS.md describes (softmax gate, top-k, a loop over
experts with index_select and index_add_), printing the same JSON lines.

    python3 bench/torch_ref.py cpu-smoe cpu-dense      # named cases
    python3 bench/torch_ref.py                         # every case of the device
    python3 bench/torch_ref.py --train                 # tokens/s of the default LM

Sizes, losses, warm-up and repeats match apps/bench.cpp; keep the two in step.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name: (kind, tokens, dim, hidden, experts, top_k, heads, seq), as bench_cases() in apps/bench.cpp
CASES = {
    "cpu-gemm": ("gemm", 2048, 2048, 2048, 0, 0, 0, 0),
    "cpu-softmax": ("softmax", 4096, 4096, 0, 0, 0, 0, 0),
    "cpu-layernorm": ("layernorm", 4096, 512, 0, 0, 0, 0, 0),
    "cpu-cross-entropy": ("cross_entropy", 4096, 8192, 0, 0, 0, 0, 0),
    "cpu-attention": ("attention", 4096, 512, 0, 0, 0, 8, 256),
    "cpu-dense": ("dense", 4096, 512, 2048, 0, 0, 0, 0),
    "cpu-smoe": ("smoe", 4096, 512, 2048, 8, 2, 0, 0),
    "cpu-mhmoe": ("mhmoe", 4096, 512, 512, 8, 2, 4, 0),
    "cpu-smoe-e32": ("smoe", 4096, 512, 512, 32, 2, 0, 0),
    "cpu-thor": ("thor", 4096, 512, 2048, 8, 0, 0, 0),
    "gpu-gemm": ("gemm", 8192, 8192, 8192, 0, 0, 0, 0),
    "gpu-softmax": ("softmax", 16384, 4096, 0, 0, 0, 0, 0),
    "gpu-layernorm": ("layernorm", 16384, 1024, 0, 0, 0, 0, 0),
    "gpu-cross-entropy": ("cross_entropy", 16384, 32768, 0, 0, 0, 0, 0),
    "gpu-attention": ("attention", 16384, 1024, 0, 0, 0, 16, 512),
    "gpu-dense": ("dense", 16384, 1024, 4096, 0, 0, 0, 0),
    "gpu-smoe": ("smoe", 16384, 1024, 4096, 8, 2, 0, 0),
    "gpu-mhmoe": ("mhmoe", 16384, 1024, 1024, 8, 2, 4, 0),
    "gpu-smoe-e32": ("smoe", 16384, 1024, 1024, 32, 2, 0, 0),
    "gpu-thor": ("thor", 16384, 1024, 4096, 8, 0, 0, 0),
}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_ms(f, warmup, repeats, device):
    """Median and fastest of `repeats` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        f()
    sync(device)
    ms = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            f()
            end.record()
            torch.cuda.synchronize()
            ms.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            f()
            ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms), min(ms)


# ---- layers, the plain way ----

class Experts(nn.Module):
    """E expert FFNs d -> hidden -> d, GELU, no bias, stacked like moegrad's."""

    def __init__(self, experts, dim, hidden, bias=False):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(experts, dim, hidden) / math.sqrt(dim))
        self.w2 = nn.Parameter(torch.randn(experts, hidden, dim) / math.sqrt(hidden))
        self.b1 = nn.Parameter(torch.zeros(experts, hidden)) if bias else None
        self.b2 = nn.Parameter(torch.zeros(experts, dim)) if bias else None

    def ffn(self, e, h):
        h = h @ self.w1[e]
        if self.b1 is not None:
            h = h + self.b1[e]
        h = F.gelu(h) @ self.w2[e]
        return h + self.b2[e] if self.b2 is not None else h


class SMoE(nn.Module):
    """Softmax gate, top-k, a loop over experts with index_select and index_add_."""

    def __init__(self, dim, hidden, experts, top_k, balance_weight=0.01):
        super().__init__()
        self.gate = nn.Linear(dim, experts, bias=False)
        self.experts = Experts(experts, dim, hidden)
        self.E, self.k, self.balance_weight = experts, top_k, balance_weight
        self.aux = None

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        probs = F.softmax(self.gate(x), dim=-1)
        gates, idx = probs.topk(self.k, dim=-1)
        out = torch.zeros_like(x)
        for e in range(self.E):
            token, slot = (idx == e).nonzero(as_tuple=True)
            if token.numel() == 0:
                continue
            y = self.experts.ffn(e, x.index_select(0, token))
            out.index_add_(0, token, y * gates[token, slot].unsqueeze(1))
        # load balancing E * sum_e f_e P_e, f_e from the first choices
        f = torch.bincount(idx[:, 0], minlength=self.E).to(x.dtype) / x.shape[0]
        self.aux = self.balance_weight * self.E * (f * probs.mean(0)).sum()
        return out.reshape(shape)


class MHMoE(nn.Module):
    """Multi-head Linear, split into sub-tokens, SMoE over them, join, merge Linear."""

    def __init__(self, dim, hidden, experts, top_k, heads):
        super().__init__()
        self.heads = heads
        self.multi_head = nn.Linear(dim, dim)
        self.merge = nn.Linear(dim, dim)
        self.moe = SMoE(dim // heads, hidden, experts, top_k)

    def forward(self, x):
        shape = x.shape
        h = self.multi_head(x).reshape(-1, shape[-1] // self.heads)  # token-major sub-tokens
        y = self.moe(h).reshape(shape)
        self.aux = self.moe.aux
        return self.merge(y)


class Thor(nn.Module):
    """In training, one random expert for the whole batch."""

    def __init__(self, dim, hidden, experts, bias=False):
        super().__init__()
        self.experts = Experts(experts, dim, hidden, bias)
        self.E = experts
        self.aux = None

    def forward(self, x):
        e = int(torch.randint(self.E, (1,)))
        return self.experts.ffn(e, x)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, causal=True):
        B, S, D = x.shape
        h, dh = self.heads, D // self.heads
        q, k, v = (p(x).reshape(B, S, h, dh).transpose(1, 2) for p in (self.q, self.k, self.v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if causal:
            mask = torch.ones(S, S, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(mask, -1e9)
        a = F.softmax(scores, dim=-1) @ v
        return self.o(a.transpose(1, 2).reshape(B, S, D))


class Dense(nn.Module):
    def __init__(self, dim, hidden, bias=False):
        super().__init__()
        self.w1, self.w2 = nn.Linear(dim, hidden, bias=bias), nn.Linear(hidden, dim, bias=bias)
        self.aux = None

    def forward(self, x):
        return self.w2(F.gelu(self.w1(x)))


# ---- the cases ----

def costs(kind, T, d, f, E, k, h, S):
    """GEMM FLOPs of one forward, as apps/bench.cpp counts them."""
    if kind == "gemm":
        return 2 * T * d * f
    if kind in ("dense", "thor"):
        return 4 * T * d * f
    if kind == "smoe":
        return T * (2 * d * E + k * 4 * d * f)
    if kind == "mhmoe":
        return T * (2 * 2 * d * d + h * (2 * (d // h) * E + k * 4 * (d // h) * f))
    if kind == "attention":
        return 4 * 2 * T * d * d + 2 * 2 * (T // S) * S * S * d
    return 0


def bench_case(name, args, device, ceiling, out):
    kind, T, d, f, E, k, h, S = CASES[name] if name in CASES else name
    randn = lambda *s: torch.randn(*s, device=device)
    leaf = lambda *s: randn(*s).requires_grad_()
    fwd_bytes = fwd_bwd_bytes = 0
    if kind in ("gemm", "softmax", "layernorm", "cross_entropy"):
        if kind == "gemm":
            a, b = leaf(T, d), leaf(d, f)
            fwd, leaves, dout = (lambda: a @ b), [a, b], randn(T, f)
        elif kind == "softmax":
            x = leaf(T, d)
            fwd, leaves, dout = (lambda: F.softmax(x, -1)), [x], randn(T, d)
            fwd_bytes, fwd_bwd_bytes = 2 * T * d * 4, 5 * T * d * 4
        elif kind == "layernorm":
            ln, x = nn.LayerNorm(d).to(device), leaf(T, d)
            fwd, leaves, dout = (lambda: ln(x)), [x, *ln.parameters()], randn(T, d)
            fwd_bytes, fwd_bwd_bytes = 2 * T * d * 4, 5 * T * d * 4
        else:
            x, y = leaf(T, d), torch.randint(d, (T,), device=device)
            fwd, leaves, dout = (lambda: F.cross_entropy(x, y)), [x], None
            fwd_bytes, fwd_bwd_bytes = T * d * 4, 3 * T * d * 4

        def fwd_bwd():
            for t in leaves:
                t.grad = None
            fwd().backward(dout)
    else:
        if kind == "attention":
            layer, x = Attention(d, h).to(device), leaf(T // S, S, d)
        else:
            layer = {"dense": lambda: Dense(d, f), "smoe": lambda: SMoE(d, f, E, k),
                     "mhmoe": lambda: MHMoE(d, f, E, k, h), "thor": lambda: Thor(d, f, E)}[kind]().to(device)
            x = leaf(T, d)
        fwd = lambda: layer(x)

        def fwd_bwd():
            layer.zero_grad(set_to_none=True)
            x.grad = None
            out = layer(x)
            loss = out.pow(2).mean()
            if getattr(layer, "aux", None) is not None:
                loss = loss + layer.aux
            loss.backward()

    flops = costs(kind, T, d, f, E, k, h, S)
    for mode in ("fwd", "fwd+bwd"):
        if args.mode not in ("both", mode):
            continue
        if mode == "fwd":
            def run():
                with torch.no_grad():
                    fwd()
        else:
            run = fwd_bwd
        ms, ms_min = time_ms(run, args.warmup, args.repeats, device)
        rec = {"bench": "layer" if kind not in ("gemm", "softmax", "layernorm", "cross_entropy") else "op",
               "case": name, "kind": kind, "mode": mode, "device": str(device), "dtype": "f32",
               "ms": ms, "ms_min": ms_min, "repeats": args.repeats, "peer": "torch " + torch.__version__}
        fl = flops * (1 if mode == "fwd" else 3)
        if fl:
            rec.update(gflop=fl / 1e9, gflops=fl / (ms * 1e-3) / 1e9, ceiling_gflops=ceiling,
                       ceiling_fraction=fl / (ms * 1e-3) / 1e9 / ceiling)
        nbytes = fwd_bytes if mode == "fwd" else fwd_bwd_bytes
        if nbytes:
            rec["gbps"] = nbytes / (ms * 1e-3) / 1e9
        print(json.dumps(rec), flush=True)


# ---- the default LM of `moegrad train` (apps/run_config.h defaults) ----

class Block(nn.Module):
    def __init__(self, dim, heads, ffn):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn, self.ffn = Attention(dim, heads), ffn

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class DecoderLM(nn.Module):
    def __init__(self, model, vocab=256, dim=128, layers=4, heads=4, seq=128, ffn_hidden=512, experts=8,
                 top_k=2, moe_every=2, moe_heads=4):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(seq, dim)

        def ffn(i):
            if model == "dense" or (i + 1) % moe_every != 0:  # MoE in blocks n-1, 2n-1, ...
                return Dense(dim, ffn_hidden, bias=True)
            if model == "smoe":
                return SMoE(dim, ffn_hidden, experts, top_k)
            if model == "thor":
                return Thor(dim, ffn_hidden, experts, bias=True)
            # mhmoe_v1: the expert hidden size that matches the SMoE's parameters
            smoe_params = experts * 2 * dim * ffn_hidden + dim * experts
            budget = smoe_params - 2 * (dim * dim + dim) - experts * (dim // moe_heads)
            return MHMoE(dim, round(budget / (experts * 2 * (dim // moe_heads))), experts, top_k, moe_heads)

        self.blocks = nn.ModuleList(Block(dim, heads, ffn(i)) for i in range(layers))
        self.ln_final = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_final(x))

    def aux(self):
        auxes = [b.ffn.aux for b in self.blocks if getattr(b.ffn, "aux", None) is not None]
        return sum(auxes) if auxes else None


def bench_train(model, args, device):
    batch, seq, vocab = 16, 128, 256
    lm = DecoderLM(model).to(device)
    opt = torch.optim.AdamW(lm.parameters(), lr=2e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    tokens = torch.randint(vocab, (200000,))

    def step():
        start = torch.randint(len(tokens) - seq - 1, (batch,))
        window = torch.stack([tokens[s:s + seq + 1] for s in start.tolist()]).to(device)
        x, y = window[:, :-1], window[:, 1:]
        opt.zero_grad(set_to_none=True)
        if model == "thor":  # two passes and the consistency loss, per token
            l1, l2 = lm(x), lm(x)
            ce = lambda l: F.cross_entropy(l.reshape(-1, vocab), y.reshape(-1), label_smoothing=0.1, reduction="sum")
            p1, p2 = F.log_softmax(l1, -1), F.log_softmax(l2, -1)
            kl = (F.kl_div(p1, p2, log_target=True, reduction="sum") + F.kl_div(p2, p1, log_target=True, reduction="sum"))
            loss = (ce(l1) + ce(l2) + 5.0 * 0.5 * kl) / y.numel()
        else:
            loss = F.cross_entropy(lm(x).reshape(-1, vocab), y.reshape(-1))
            aux = lm.aux()
            if aux is not None:
                loss = loss + aux
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()

    ms, ms_min = time_ms(step, 2, args.steps, device)
    print(json.dumps({"bench": "train", "model": model, "device": str(device), "peer": "torch " + torch.__version__,
                      "params": sum(p.numel() for p in lm.parameters()), "batch": batch, "seq_len": seq,
                      "ms": ms, "ms_min": ms_min, "steps": args.steps, "tokens_per_s": batch * seq / (ms * 1e-3)}),
          flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cases", nargs="*", help="named cases (default: every case of the device)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--mode", default="both", choices=["fwd", "fwd+bwd", "both"])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads (default: one per CPU, as moegrad's OpenMP and OpenBLAS use)")
    p.add_argument("--train", action="store_true")
    p.add_argument("--models", default="dense,smoe,mhmoe,thor")
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    for name in args.cases:
        if name not in CASES:
            sys.exit(f"torch_ref.py: unknown case '{name}' (named cases: {', '.join(CASES)})")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads or os.cpu_count())
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # f32 without TF32, as moegrad's default
        torch.backends.cudnn.allow_tf32 = False
    print(json.dumps({"bench": "machine", "device": str(device), "peer": "torch " + torch.__version__,
                      "threads": torch.get_num_threads()}), flush=True)
    if args.train:
        for m in args.models.split(","):
            bench_train(m, args, device)
        return
    n = 8192 if device.type == "cuda" else 2048  # as ceiling_side() in apps/bench.cpp
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    _, best = time_ms(lambda: a @ b, 1, 5, device)
    ceiling = 2 * n ** 3 / (best * 1e-3) / 1e9
    print(json.dumps({"bench": "ceiling", "what": f"f32 matmul {n}^3, best of 5", "device": str(device),
                      "gflops": ceiling}), flush=True)
    prefix = "gpu-" if device.type == "cuda" else "cpu-"
    for name in args.cases or [c for c in CASES if c.startswith(prefix)]:
        bench_case(name, args, device, ceiling, None)


if __name__ == "__main__":
    main()
