#!/usr/bin/env bash
# Runs on the lent GPU machine, from the repository root, after
# scripts/device_pack.sh here: the [cuda] suite with synchronous launches (so a
# failing kernel is named at its launch), then again under compute-sanitizer's
# memcheck. Logs go to $OUT (or /tmp/device-out); a short table is printed last.
# Usage: scripts/device_check.sh [catch2 test spec]   (default: [cuda])
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/device-out}; mkdir -p "$out"
spec=${1:-[cuda]}
# The tests find tests/data at this tree's path on the build machine.
src=$(cat build-device/source-dir 2>/dev/null || true)
[ -n "$src" ] && [ ! -e "$src" ] && mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"
export LD_LIBRARY_PATH="$PWD/build-device/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-8} OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
nvidia-smi -L | tee "$out/gpu.txt"
t0=$SECONDS
CUDA_LAUNCH_BLOCKING=1 build-device/moegrad_tests "$spec" -r compact >"$out/cuda.log" 2>&1
suite=$?; t1=$SECONDS
sanitizer=skipped
if [ "${MEMCHECK:-1}" = 1 ]; then
  compute-sanitizer --tool memcheck --error-exitcode 99 \
    build-device/moegrad_tests "$spec" -r compact >"$out/memcheck.log" 2>&1
  sanitizer=$?
fi
t2=$SECONDS
tail -n 25 "$out/cuda.log"
grep -E "ERROR SUMMARY|LEAK SUMMARY" "$out/memcheck.log" 2>/dev/null | tail -3
printf '\n| check | exit | s |\n| --- | --- | --- |\n| %s suite (CUDA_LAUNCH_BLOCKING=1) | %s | %s |\n| memcheck | %s | %s |\n' \
  "$spec" "$suite" "$((t1 - t0))" "$sanitizer" "$((t2 - t1))"
