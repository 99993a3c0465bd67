#!/usr/bin/env bash
# Runs `moegrad compare` on the lent GPU machine after scripts/device_pack.sh
# here: every (arm, seed) as its own process, $JOBS at a time (default 4),
# then the table. The runs go to $WORK/compare (default /tmp/device-compare),
# and one file per suite to $OUT (or /tmp/device-out), which the device tool
# returns (at most 8 files a call): SUITE.tar.gz, the suite's directory without
# weights or data: results.jsonl, table.md, progress.log and every run's logs,
# config and metrics, from which `moegrad compare --table` here redraws the
# table and the plot. The table is printed last. A
# build-device/compare sent with carry is continued: runs that finished there
# are not run again.
# With BUDGET=S (seconds), no run starts after S seconds and runs still going
# at S are stopped (their directories are cleared and run again next time),
# so the copies are made inside the device call's limit.
# The multilingual suite needs --data build-device/fortunes (device_pack.sh packs them).
# Usage: [JOBS=N] [BUDGET=S] scripts/device_compare.sh SUITE "ARM ARM ..." SEEDS [more compare flags]
#   e.g. JOBS=3 BUDGET=500 scripts/device_compare.sh translate "dense switch thor thor-a0" 3 --device cuda
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/device-out}; mkdir -p "$out"
work=${WORK:-/tmp/device-compare}; mkdir -p "$work"
suite=$1 arms=$2 seeds=$3; shift 3
export LD_LIBRARY_PATH="$PWD/build-device/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export SWORD_PATH="$PWD/build-device/sword" MOEGRAD_DATA_DIR="$PWD/build-device/data"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1  # one core per process
[ -d build-device/compare ] && [ ! -d "$work/compare" ] && cp -r build-device/compare "$work/compare"
mkdir -p "$work/compare/$suite"
extra=("$@")
budget=${BUDGET:-0}
run() {
  local limit=()
  [ "$budget" -gt 0 ] && limit=(timeout "$((budget - SECONDS + t0))")
  "${limit[@]}" build-device/moegrad compare --suite "$suite" --arms "$1" --seed "$2" --out "$work/compare" "${extra[@]}" \
    >>"$work/compare/$suite/progress.log" 2>&1
}
t0=$SECONDS
for seed in $(seq 1 "$seeds"); do  # seed by seed: a budget cut leaves every arm with its first seeds
  for arm in $arms; do
    while [ "$(jobs -rp | wc -l)" -ge "${JOBS:-4}" ]; do wait -n; done
    [ "$budget" -gt 0 ] && [ $((SECONDS - t0)) -ge "$budget" ] && break 2
    run "$arm" "$seed" &
  done
done
wait
echo "$suite: all runs $((SECONDS - t0)) s"
build-device/moegrad compare --suite "$suite" --table --out "$work/compare" "$@" >/dev/null
(cd "$work/compare" && tar czf "$out/$suite.tar.gz" --exclude='*.safetensors' --exclude=checkpoints \
  --exclude=data "$suite")
cat "$work/compare/$suite/table.md"
