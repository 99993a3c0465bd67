#!/usr/bin/env bash
# The sanitizer and fuzzing step of the tests (scripts/test.sh runs it after
# the normal suite). One extra build, build-asan/, made with Debian's clang:
# the library, the command line and the test suite under AddressSanitizer and
# UndefinedBehaviorSanitizer (leak checking on), plus the libFuzzer targets in
# fuzz/. It runs the whole test suite through CTest, then each fuzz target
# from its committed seed corpus for a bounded number of runs, two at a time.
# Exits non-zero on a failing test, any sanitizer report or any fuzz finding
# (the input that did it is saved under build-asan/fuzz-findings/).
#
#   bash scripts/sanitize.sh                   # build, tests, fuzzers
#   FUZZ_RUNS=0 bash scripts/sanitize.sh       # build and tests only
#   FUZZ_ONLY=safetensors FUZZ_RUNS=-1 FUZZ_SECONDS=600 bash scripts/sanitize.sh   # one fuzzer, 10 minutes
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs per target: about 20 s each on CI's 2-core machine (the targets differ
# in speed: safetensors also reads each input back from a file, tokenizer
# builds a vocabulary). FUZZ_RUNS overrides them all (-1: until FUZZ_SECONDS).
declare -A fuzz_runs=([safetensors]=100000 [run_config]=200000 [sidecar]=80000 [tokenizer]=30000
                      [tokenizer_json]=200000)
fuzz_seconds=${FUZZ_SECONDS:-60}  # per target: a cap, should CI's machine be slower
fuzz_only=${FUZZ_ONLY:-}          # a target's name: skip the tests, fuzz only it
build=build-asan

# -O1 keeps the instrumented suite fast enough for CI; Debug (not Release)
# keeps assert() on, nlohmann::json's included. fuzz/CMakeLists.txt adds the
# coverage instrumentation libFuzzer steers by to the readers it fuzzes.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
start=$SECONDS
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" \
  -DMOEGRAD_CUDA=OFF -DMOEGRAD_BUILD_FUZZERS=ON >"$build-configure.log" 2>&1 || { cat "$build-configure.log"; exit 1; }
if [ -n "$fuzz_only" ]; then
  cmake --build "$build" -j2 --target "fuzz_$fuzz_only"
else
  cmake --build "$build" -j2
fi
echo "sanitize: built $build in $((SECONDS - start)) s"

# halt_on_error: the first report fails the test that made it. The leak
# suppressions name third-party libraries only (see scripts/lsan.supp).
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:strict_init_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
# clang's OpenMP runtime spins 200 ms after each parallel loop by default; two
# test processes on two cores then spend most of their time spinning.
export OMP_WAIT_POLICY=passive

status=0
if [ -z "$fuzz_only" ]; then
  start=$SECONDS
  # Left out: the RSS checks of test_memory.cpp, which cannot hold here:
  # ASan keeps freed blocks in quarantine (256 MB), so the resident set grows
  # through the first few hundred steps. LeakSanitizer checks every test for
  # leaks instead.
  ctest --test-dir "$build" -j2 --output-on-failure \
    -E '^1000 training steps of an MH-MoE LM keep memory flat: live tensor bytes and RSS$' || status=1
  echo "sanitize: test suite under ASan/UBSan in $((SECONDS - start)) s"
fi
[ "${FUZZ_RUNS:-}" = 0 ] && exit $status

# One target: new inputs go to a scratch corpus, emptied each time, so the
# committed seeds stay as they are and every run does the same work. One
# OpenMP thread: the readers barely use loops, and thread wake-ups cost more
# than they save on inputs this small.
fuzz_one() {
  local name=$1 work="$build/fuzz-work/$1" log="$build/fuzz-findings/$1.log" t0=$SECONDS
  rm -rf "$work" && mkdir -p "$work"
  if OMP_NUM_THREADS=1 "$build/fuzz/fuzz_$name" -runs="${FUZZ_RUNS:-${fuzz_runs[$name]:-100000}}" \
      -max_total_time="$fuzz_seconds" -timeout=30 -rss_limit_mb=2048 -dict=fuzz/json.dict \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-findings/$name-" "$work" "fuzz/corpus/$name" \
      >"$log" 2>&1; then
    echo "sanitize: fuzz_$name: $(awk '/^stat::number_of_executed_units/ {print $2}' "$log") runs," \
      "$(awk '/^stat::new_units_added/ {print $2}' "$log") new inputs, $((SECONDS - t0)) s" >"$log.ok"
  fi
}

start=$SECONDS
rm -rf "$build/fuzz-findings" && mkdir -p "$build/fuzz-findings"
names=()
for corpus in fuzz/corpus/*/; do
  name=$(basename "$corpus")
  [ -n "$fuzz_only" ] && [ "$name" != "$fuzz_only" ] && continue
  names+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
  fuzz_one "$name" &
done
wait
for name in "${names[@]}"; do
  log="$build/fuzz-findings/$name.log"
  if [ -f "$log.ok" ]; then
    cat "$log.ok"
  else
    status=1
    tail -n 60 "$log"
    echo "sanitize: fuzz_$name FAILED; the input is in $build/fuzz-findings/ (log: $log)"
  fi
done
echo "sanitize: fuzzing in $((SECONDS - start)) s"
exit $status
