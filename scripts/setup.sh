#!/usr/bin/env bash
# Installs what moegrad needs from Debian's archive, only when something is
# missing: quick (a dpkg query) when everything is present. Idempotent.
set -euo pipefail

packages=(cmake g++ make libopenblas-dev catch2 libcli11-dev nlohmann-json3-dev zlib1g-dev gnuplot-nox)
# scripts/sanitize.sh: clang with its sanitizer and libFuzzer runtimes, and
# the OpenMP runtime clang links (libomp, not gcc's libgomp).
packages+=(clang libclang-rt-14-dev libomp-14-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
