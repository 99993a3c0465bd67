#!/usr/bin/env bash
# Configures and builds moegrad into build/ (Release). Extra arguments are
# passed to `cmake --build`, e.g. `--target moegrad_cli`.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >build-configure.log 2>&1 || { cat build-configure.log; exit 1; }
grep "moegrad:" build-configure.log || true
cmake --build build -j2 "$@"
