#!/usr/bin/env bash
# Runs `moegrad bench` and its PyTorch peer (bench/torch_ref.py) on the same
# cases, one after the other in one call, and prints one table of the two.
#
#   bash bench/compare.sh                       # every CPU case, fwd and fwd+bwd
#   bash bench/compare.sh cpu-smoe cpu-dense    # some cases
#   bash bench/compare.sh --train               # tokens/s of training the default LMs
#   bash bench/compare.sh --device cuda ...     # on a GPU machine (scripts/device_pack.sh)
#
# Other flags (--mode, --repeats, --warmup, --steps, --models) go to both
# sides. The JSON lines of both sides are kept in $BENCH_OUT (default
# bench/out/<time>/) with the table. PyTorch runs with the BLAS kernel that
# moegrad chose (OPENBLAS_CORETYPE), so the GEMM kernels are the same and the
# ratio measures everything else.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${BENCH_OUT:-$root/bench/out/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"

# The Python that has PyTorch: $PYTHON, else python3 on the PATH, else
# Debian's (a pyenv or venv python3 may come first on the PATH and lack it).
py="${PYTHON:-python3}"
if ! "$py" -c 'import torch' 2>/dev/null && [ -z "${PYTHON:-}" ]; then
  py=/usr/bin/python3
  if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "compare.sh: installing Debian's python3-torch (PyTorch for the peer)"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-torch
  fi
fi
moegrad="${MOEGRAD:-$root/build/apps/moegrad}"
if [ -z "${MOEGRAD:-}" ]; then
  bash "$root/scripts/setup.sh"
  bash "$root/scripts/build.sh" >/dev/null
fi

echo "compare.sh: moegrad bench $* -> $out/moegrad.jsonl"
"$moegrad" bench "$@" | tee "$out/moegrad.jsonl"
core="$("$py" -c 'import json,sys; print(json.loads(sys.stdin.readline()).get("blas_core",""))' <"$out/moegrad.jsonl")"
echo "compare.sh: torch_ref.py $* (OPENBLAS_CORETYPE=$core) -> $out/torch.jsonl"
OPENBLAS_CORETYPE="$core" "$py" "$root/bench/torch_ref.py" "$@" | tee "$out/torch.jsonl"
"$py" "$root/bench/table.py" "$out/moegrad.jsonl" "$out/torch.jsonl" | tee "$out/table.md"
