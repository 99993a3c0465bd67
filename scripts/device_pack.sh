#!/usr/bin/env bash
# Packs a CUDA build for the lent GPU machine (see README "Running on a GPU"):
# the binaries plus the Debian libraries that machine's image lacks, into
# build-device/ (ignored), to send with `carry: ["build-device"]`.
# Usage: scripts/device_pack.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-build}
grep -q "MOEGRAD_WITH_CUDA=1" "$src/CMakeFiles/moegrad.dir/flags.make" 2>/dev/null ||
  { echo "device_pack: $src is not a CUDA build (configure with -DMOEGRAD_CUDA=ON)" >&2; exit 2; }
cmake --build "$src" -j2 --target moegrad_tests moegrad >/dev/null
rm -rf build-device && mkdir -p build-device/lib
cp "$src/tests/moegrad_tests" "$src/apps/moegrad" build-device/
# The CUDA libraries come from the machine's own toolkit; these do not.
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1 libz.so.1; do
  path=$(ldd build-device/moegrad_tests | awk -v l="$lib" '$1 == l { print $3 }')
  [ -n "$path" ] && cp -L "$path" build-device/lib/
done
du -sh build-device
