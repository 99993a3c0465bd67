#!/usr/bin/env bash
# Packs a CUDA build for the lent GPU machine (see README "Running on a GPU"):
# the binaries plus the Debian libraries that machine's image lacks, into
# build-device/ (ignored); and the corpora installed here. It also writes
# build-device.tar.gz (ignored) to send with `carry: ["build-device.tar.gz"]`
# and unpack there with `tar xzf build-device.tar.gz`.
# Usage: scripts/device_pack.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-build}
grep -q "MOEGRAD_WITH_CUDA=1" "$src/CMakeFiles/moegrad.dir/flags.make" 2>/dev/null ||
  { echo "device_pack: $src is not a CUDA build (configure with -DMOEGRAD_CUDA=ON)" >&2; exit 2; }
cmake --build "$src" -j2 --target moegrad_tests moegrad >/dev/null
rm -rf build-device && mkdir -p build-device/lib
cp "$src/tests/moegrad_tests" "$src/apps/moegrad" build-device/
# The tests read tests/data at the path compiled in: device_check.sh links it there.
pwd >build-device/source-dir
# The CUDA libraries come from the machine's own toolkit; these do not.
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1 libz.so.1; do
  path=$(ldd build-device/moegrad_tests | awk -v l="$lib" '$1 == l { print $3 }')
  [ -n "$path" ] && cp -L "$path" build-device/lib/
done
# The corpora that machine cannot fetch: the Bible modules for `translate`
# (run with SWORD_PATH=build-device/sword) and Moby-Dick (MOEGRAD_DATA_DIR=build-device/data;
# the State of the Union texts would overflow carry's 64 MiB).
for module in engKJV2006eb spaRV1909eb; do
  dir=/usr/share/sword/modules/texts/ztext/$module
  [ -d "$dir" ] && mkdir -p build-device/sword/modules/texts/ztext && cp -r "$dir" build-device/sword/modules/texts/ztext/
done
[ -f data/moby-dick.txt ] && mkdir -p build-device/data && cp data/moby-dick.txt build-device/data/
# The fortune files of the multilingual suite (compare --data build-device/fortunes), without
# their strfile indexes: 17 MB, 6 MB compressed.
fortunes=/usr/share/games/fortunes
if [ -d "$fortunes" ]; then
  (cd "$fortunes" && find . -maxdepth 2 -type f ! -name '*.dat' ! -name '*.u8' -print0 |
    tar cf - --null -T -) | (mkdir -p build-device/fortunes && cd build-device/fortunes && tar xf -)
fi
# carry takes 64 MiB with the working tree; compressed, the pack fits with room.
tar czf build-device.tar.gz build-device
du -sh build-device build-device.tar.gz
