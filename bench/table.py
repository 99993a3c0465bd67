#!/usr/bin/env python3
"""Sets the JSON lines of `moegrad bench` and bench/torch_ref.py side by side
as one Markdown table: ratio = PyTorch ms / moegrad ms (above 1: moegrad is
faster); ceiling = achieved GFLOP/s over the GEMM ceiling each side measured
in the same run."""
import json
import sys


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def main():
    ours, peer = read(sys.argv[1]), read(sys.argv[2])
    machine = {r["bench"]: r for r in ours if r["bench"] in ("machine", "ceiling")}
    peer_machine = {r["bench"]: r for r in peer if r["bench"] in ("machine", "ceiling")}
    if "machine" in machine:
        m = machine["machine"]
        print(f"moegrad: {m['device']}, BLAS {m.get('blas_core')}, {m.get('blas_threads')} BLAS threads; "
              f"peer: {peer_machine.get('machine', {}).get('peer')}, {peer_machine.get('machine', {}).get('threads')} threads")
    if "ceiling" in machine:
        print(f"GEMM ceiling ({machine['ceiling']['what']}): moegrad {machine['ceiling']['gflops']:.0f} GFLOP/s, "
              f"PyTorch {peer_machine.get('ceiling', {}).get('gflops', float('nan')):.0f} GFLOP/s")
    print()
    by_key = {(r.get("case"), r.get("mode"), r.get("model")): r for r in peer}
    rows = [r for r in ours if r["bench"] in ("op", "layer")]
    if rows:
        print("| case | mode | moegrad ms | PyTorch ms | ratio | moegrad GFLOP/s | of ceiling | PyTorch of ceiling |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            p = by_key.get((r["case"], r["mode"], None))
            pm = f"{p['ms']:.1f}" if p else "-"
            ratio = f"{p['ms'] / r['ms']:.2f}x" if p else "-"
            gf = f"{r['gflops']:.0f}" if "gflops" in r else (f"{r['gbps']:.1f} GB/s" if "gbps" in r else "-")
            frac = f"{100 * r['ceiling_fraction']:.0f}%" if "ceiling_fraction" in r else "-"
            pfrac = f"{100 * p['ceiling_fraction']:.0f}%" if p and "ceiling_fraction" in p else "-"
            print(f"| {r['case']} | {r['mode']} | {r['ms']:.1f} | {pm} | {ratio} | {gf} | {frac} | {pfrac} |")
    train = [r for r in ours if r["bench"] == "train"]
    if train:
        print("| model | moegrad tokens/s | PyTorch tokens/s | ratio | moegrad params | PyTorch params |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in train:
            p = by_key.get((None, None, r["model"]))
            pt = f"{p['tokens_per_s']:.0f}" if p else "-"
            ratio = f"{r['tokens_per_s'] / p['tokens_per_s']:.2f}x" if p else "-"
            pp = f"{p['params']}" if p else "-"
            print(f"| {r['model']} | {r['tokens_per_s']:.0f} | {pt} | {ratio} | {r['params']} | {pp} |")


if __name__ == "__main__":
    main()
