#!/usr/bin/python3
"""Golden values from PyTorch for tests/test_golden.cpp.

Writes tests/data/golden/*.safetensors: inputs, parameters, outputs and the
gradients of a scalar loss sum(out * r) (r fixed random weights) with respect
to inputs and parameters, all in f64. Every model is written here by hand with
plain torch ops so that its math is exactly moegrad's (see the comment of each
case); parameters are stored under moegrad's dotted names.

The safetensors files are written by hand (no `safetensors` package needed):
8-byte little-endian header length, compact JSON header padded with spaces to
a multiple of 8, tensors in name order, contiguous little-endian data.

Regenerate (Debian's PyTorch 1.13, CPU: apt-get install -y python3-torch):
    /usr/bin/python3 scripts/golden/make_golden.py
from the repository root (or pass the output directory as the argument).
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "golden"))

DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.int64: "I64"}


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype == torch.bool:
            t = t.to(torch.int64)
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    print(f"{path}: {len(tensors)} tensors, {8 + len(text) + offset} bytes")


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def save(name, tensors):
    write_safetensors(os.path.join(OUT, name + ".safetensors"), tensors)


# ---- 1. Linear(5, 3): y = x W^T + b on a 3-D input ----
def case_linear():
    g = torch.Generator().manual_seed(1)
    x = leaf(torch.randn(2, 3, 5, generator=g))
    w = leaf(torch.randn(3, 5, generator=g) * 0.5)
    b = leaf(torch.randn(3, generator=g))
    r = torch.randn(2, 3, 3, generator=g)
    y = x @ w.t() + b
    (y * r).sum().backward()
    save("linear", {"x": x, "weight": w, "bias": b, "r": r, "y": y,
                    "grad.x": x.grad, "grad.weight": w.grad, "grad.bias": b.grad})


# ---- 2. LayerNorm(6) (eps 1e-5, biased variance) and RMSNorm(6) (eps 1e-6) ----
def case_norm():
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(2, 3, 6, generator=g) * 1.7 + 0.6
    out = {"x": x0}
    # LayerNorm
    x = leaf(x0)
    w = leaf(1 + 0.5 * torch.randn(6, generator=g))
    b = leaf(0.3 * torch.randn(6, generator=g))
    r = torch.randn(2, 3, 6, generator=g)
    y = F.layer_norm(x, (6,), w, b, eps=1e-5)
    (y * r).sum().backward()
    out.update({"ln.weight": w, "ln.bias": b, "ln.r": r, "ln.y": y,
                "ln.grad.x": x.grad, "ln.grad.weight": w.grad, "ln.grad.bias": b.grad})
    # RMSNorm: x * rsqrt(mean(x^2) + eps) * w
    x = leaf(x0)
    w = leaf(1 + 0.5 * torch.randn(6, generator=g))
    r = torch.randn(2, 3, 6, generator=g)
    y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w
    (y * r).sum().backward()
    out.update({"rms.weight": w, "rms.r": r, "rms.y": y,
                "rms.grad.x": x.grad, "rms.grad.weight": w.grad})
    save("norm", out)


# ---- 3. gelu (erf, tanh), silu, softmax, log_softmax on one tensor ----
def case_activations():
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(3, 7, generator=g) * 2
    out = {"x": x0}
    fns = {
        "gelu": lambda x: F.gelu(x),
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "silu": F.silu,
        "softmax": lambda x: torch.softmax(x, -1),
        "softmax0": lambda x: torch.softmax(x, 0),
        "log_softmax": lambda x: torch.log_softmax(x, -1),
    }
    for name, fn in fns.items():
        x = leaf(x0)
        r = torch.randn(3, 7, generator=g)
        y = fn(x)
        (y * r).sum().backward()
        out.update({name + ".r": r, name + ".y": y, name + ".grad.x": x.grad})
    save("activations", out)


# ---- 4. cross_entropy, label_smoothing 0.1, ignore_index -100, mean ----
def case_cross_entropy():
    g = torch.Generator().manual_seed(4)
    logits = leaf(torch.randn(6, 5, generator=g) * 2)
    targets = torch.tensor([3, -100, 0, 4, -100, 1])
    loss = F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.1)
    loss.backward()
    out = {"logits": logits, "targets": targets, "loss": loss, "grad.logits": logits.grad}
    # and without smoothing, sum reduction
    logits2 = leaf(logits)
    loss2 = F.cross_entropy(logits2, targets, ignore_index=-100, reduction="sum")
    loss2.backward()
    out.update({"sum.loss": loss2, "sum.grad.logits": logits2.grad})
    save("cross_entropy", out)


# ---- 5. multi-head attention, as nn/attention.cpp ----
def linear_params(g, d_in, d_out, bias=True, scale=None):
    s = scale if scale is not None else 1 / math.sqrt(d_in)
    p = {"weight": (torch.rand(d_out, d_in, generator=g) * 2 - 1) * s * 1.7}
    if bias:
        p["bias"] = (torch.rand(d_out, generator=g) * 2 - 1) * s
    return p


def mha_params(g, d, prefix=""):
    p = {}
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        for k, v in linear_params(g, d, d).items():
            p[f"{prefix}{name}.{k}"] = v
    return p


def mha(p, prefix, x, mem, heads, causal=False, pad=None):
    """Q = x Wq^T + bq, ...; heads via reshape [B,T,H,dh].transpose(1,2);
    scores = Q K^T / sqrt(dh); masked scores replaced by -1e9; softmax;
    concat heads; out_proj."""
    B, Tq, d = x.shape
    Tk = mem.shape[1]
    dh = d // heads
    lin = lambda name, t: t @ p[f"{prefix}{name}.weight"].t() + p[f"{prefix}{name}.bias"]
    split = lambda t, T: t.reshape(B, T, heads, dh).transpose(1, 2)
    q, k, v = split(lin("q_proj", x), Tq), split(lin("k_proj", mem), Tk), split(lin("v_proj", mem), Tk)
    scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(dh))
    blocked = torch.tensor(-1e9)
    if causal:
        qi = torch.arange(Tq).unsqueeze(1)
        kj = torch.arange(Tk).unsqueeze(0)
        scores = torch.where(kj > qi + (Tk - Tq), blocked, scores)
    if pad is not None:
        scores = torch.where(pad.reshape(B, 1, 1, Tk), blocked, scores)
    attn = torch.softmax(scores, -1)
    out = (attn @ v).transpose(1, 2).reshape(B, Tq, d)
    return lin("out_proj", out)


def case_attention():
    g = torch.Generator().manual_seed(5)
    B, T, d, H = 2, 4, 8, 2
    params = mha_params(g, d)
    x0 = torch.randn(B, T, d, generator=g)
    pad = torch.tensor([[False, False, False, True], [False, False, True, True]])
    out = {"x": x0, "pad": pad}
    for k, v in params.items():
        out["param." + k] = v
    for case, causal, mask in (("causal", True, None), ("padded", False, pad), ("causal_padded", True, pad)):
        p = {k: leaf(v) for k, v in params.items()}
        x = leaf(x0)
        r = torch.randn(B, T, d, generator=g)
        y = mha(p, "", x, x, H, causal=causal, pad=mask)
        (y * r).sum().backward()
        out.update({f"{case}.r": r, f"{case}.y": y, f"{case}.grad.x": x.grad})
        for k, v in p.items():
            out[f"{case}.grad.{k}"] = v.grad
    save("attention", out)


# ---- 6. DecoderLM, as nn/transformer.cpp (pre-norm, GELU FFN, causal) ----
def case_decoder_lm():
    g = torch.Generator().manual_seed(6)
    V, d, H, L, hidden, max_len = 11, 8, 2, 1, 16, 6
    params = {"tok.weight": torch.randn(V, d, generator=g),
              "pos.weight": torch.randn(max_len, d, generator=g)}
    ln = lambda: {"weight": 1 + 0.3 * torch.randn(d, generator=g), "bias": 0.2 * torch.randn(d, generator=g)}
    for i in range(L):
        b = f"block{i}."
        params.update({b + "ln_attn." + k: v for k, v in ln().items()})
        params.update(mha_params(g, d, b + "attn."))
        params.update({b + "ln_ffn." + k: v for k, v in ln().items()})
        params.update({b + "ffn.w1." + k: v for k, v in linear_params(g, d, hidden).items()})
        params.update({b + "ffn.w2." + k: v for k, v in linear_params(g, hidden, d).items()})
    params.update({"ln_final." + k: v for k, v in ln().items()})
    params["head.weight"] = linear_params(g, d, V, bias=False)["weight"]

    ids = torch.randint(0, V, (2, max_len), generator=g)
    targets = torch.randint(0, V, (2, max_len), generator=g)
    targets[1, 2] = -100

    p = {k: leaf(v) for k, v in params.items()}
    lnf = lambda prefix, t: F.layer_norm(t, (d,), p[prefix + ".weight"], p[prefix + ".bias"], eps=1e-5)
    lin = lambda prefix, t: t @ p[prefix + ".weight"].t() + (p[prefix + ".bias"] if prefix + ".bias" in p else 0)
    T = ids.shape[1]
    x = p["tok.weight"][ids] + p["pos.weight"][torch.arange(T)]
    for i in range(L):
        b = f"block{i}."
        h = lnf(b + "ln_attn", x)
        x = x + mha(p, b + "attn.", h, h, H, causal=True)
        x = x + lin(b + "ffn.w2", F.gelu(lin(b + "ffn.w1", lnf(b + "ln_ffn", x))))
    logits = lin("head", lnf("ln_final", x))
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
    loss.backward()
    out = {"ids": ids, "targets": targets, "logits": logits, "loss": loss}
    for k, v in params.items():
        out["param." + k] = v
        out["grad." + k] = p[k].grad
    save("decoder_lm", out)


# ---- 7. optimizers: parameter after each of three steps with fixed grads ----
def case_optim():
    g = torch.Generator().manual_seed(7)
    p0 = torch.randn(5, generator=g)
    grads = [torch.randn(5, generator=g) for _ in range(3)]
    out = {"p0": p0}
    for k, gr in enumerate(grads):
        out[f"g{k}"] = gr
    configs = {
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
        "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=0.1),
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    }
    for name, make in configs.items():
        p = leaf(p0)
        opt = make([p])
        for k, gr in enumerate(grads):
            p.grad = gr.clone()
            opt.step()
            out[f"{name}.p{k + 1}"] = p.detach().clone()
    save("optim", out)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    case_linear()
    case_norm()
    case_activations()
    case_cross_entropy()
    case_attention()
    case_decoder_lm()
    case_optim()
