#!/usr/bin/env bash
# The README's second command: set up, build, and run the whole test suite;
# then install the library and build the examples against it both ways
# (scripts/examples.sh); then scripts/sanitize.sh runs the suite again under
# ASan/UBSan and runs the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ctest --test-dir build -j2 --output-on-failure
bash scripts/examples.sh
bash scripts/sanitize.sh
