#!/usr/bin/env bash
# Runs `moegrad compare` on the lent GPU machine after scripts/device_pack.sh
# here: every (arm, seed) as its own process, $JOBS at a time (default 4),
# then the table. Results go to $OUT/compare (or /tmp/device-out/compare),
# and flat copies of results.jsonl, table.md and every run's log to $OUT
# (the device tool returns only shallow folders); a build-device/compare sent
# with carry is continued: runs that finished there are not run again.
# Usage: JOBS=N scripts/device_compare.sh SUITE "ARM ARM ..." SEEDS [more compare flags]
#   e.g. JOBS=3 scripts/device_compare.sh translate "dense switch thor thor-a0" 3 --device cuda
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/device-out}; mkdir -p "$out"
suite=$1 arms=$2 seeds=$3; shift 3
export LD_LIBRARY_PATH="$PWD/build-device/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export SWORD_PATH="$PWD/build-device/sword" MOEGRAD_DATA_DIR="$PWD/build-device/data"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1  # one core per process
[ -d build-device/compare ] && [ ! -d "$out/compare" ] && cp -r build-device/compare "$out/compare"
mkdir -p "$out/compare/$suite"
extra=("$@")
run() {
  build-device/moegrad compare --suite "$suite" --arms "$1" --seed "$2" --out "$out/compare" "${extra[@]}" \
    >>"$out/compare/$suite/progress.log" 2>&1
}
t0=$SECONDS
for arm in $arms; do
  for seed in $(seq 1 "$seeds"); do
    while [ "$(jobs -rp | wc -l)" -ge "${JOBS:-4}" ]; do wait -n; done
    run "$arm" "$seed" &
  done
done
wait
echo "$suite: all runs $((SECONDS - t0)) s"
build-device/moegrad compare --suite "$suite" --table --out "$out/compare" "$@" >/dev/null
for f in results.jsonl table.md progress.log; do cp "$out/compare/$suite/$f" "$out/$suite-$f" 2>/dev/null; done
for log in "$out"/compare/"$suite"/*/seed-*/train.log; do
  echo "== $log"; tail -n 4 "$log"
done >"$out/$suite-train-logs.txt"
