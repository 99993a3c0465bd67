#!/usr/bin/env bash
# Checks that moegrad works as a dependency of another CMake project, in the
# two ways examples/README.md describes, and fails at the first step that
# does not:
#
#   installed   `cmake --install` of a built tree into a temporary prefix;
#               every installed header compiled on its own against the
#               package (so each is self-contained and includes only
#               installed headers) with -Werror; examples/ configured with
#               find_package and built with -Werror; examples/mlp run.
#   add_subdirectory
#               examples/mhmoe_layer configured with -DMOEGRAD_SOURCE_DIR=
#               this checkout, which builds the library itself (CUDA off,
#               only the targets the example needs); the example run.
#
# The tree installed is MOEGRAD_BUILD_DIR (default build/, which
# scripts/build.sh makes); its `moegrad` target is brought up to date first.
# Installing it costs seconds where a library-only build costs minutes. Without
# a configured tree there, a library-only tree is built in the temporary
# directory instead. Usage: bash scripts/examples.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${MOEGRAD_BUILD_DIR:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/moegrad-examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
started=$SECONDS

# step NAME COMMAND...: runs COMMAND with its output in a log, shown only if it fails.
step() {
  local name=$1 t0=$SECONDS
  shift
  if ! "$@" >"$tmp/step.log" 2>&1; then
    cat "$tmp/step.log"
    echo "examples.sh: FAILED: $name" >&2
    exit 1
  fi
  echo "examples.sh: $name ($((SECONDS - t0)) s)"
}
# run NAME COMMAND...: runs an example with its output shown.
run() {
  local name=$1
  shift
  echo "examples.sh: running $name"
  if ! "$@"; then
    echo "examples.sh: FAILED: $name exited with an error" >&2
    exit 1
  fi
}

# ---- installed package ----
if [[ -f $build/CMakeCache.txt ]]; then
  step "build the library in $build" cmake --build "$build" --target moegrad -j2
else
  build=$tmp/lib
  step "configure a library-only build" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMOEGRAD_CUDA=OFF \
    -DMOEGRAD_BUILD_TESTS=OFF -DMOEGRAD_BUILD_APPS=OFF
  step "build the library" cmake --build "$build" --target moegrad -j2
fi
step "install into $prefix" cmake --install "$build" --prefix "$prefix"

# The include path of a consumer is the installed one alone, so an installed
# header that includes a header left out fails to compile below. Headers of
# the system path (cblas.h, cuda_runtime.h) would not, hence the grep.
include=$prefix/include/moegrad
if [[ ! -f $include/core/tensor.h ]]; then
  echo "examples.sh: FAILED: no headers under $include" >&2
  exit 1
fi
if grep -rnE '#include *[<"](cblas|openblas|cuda|cublas|backends/)' "$include"; then
  echo "examples.sh: FAILED: an installed header includes BLAS, CUDA or backend headers" >&2
  exit 1
fi
mkdir -p "$tmp/headers"
cat >"$tmp/headers/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(moegrad_header_check LANGUAGES CXX)
find_package(moegrad CONFIG REQUIRED)
get_target_property(include moegrad::moegrad INTERFACE_INCLUDE_DIRECTORIES)
file(GLOB_RECURSE headers RELATIVE ${include} ${include}/*.h)
list(LENGTH headers count)
if(count LESS 30)
  message(FATAL_ERROR "only ${count} headers under ${include}")
endif()
foreach(header IN LISTS headers)
  string(MAKE_C_IDENTIFIER ${header} name)
  file(WRITE ${CMAKE_BINARY_DIR}/tu/${name}.cpp "#include \"${header}\"\n")
  list(APPEND sources ${CMAKE_BINARY_DIR}/tu/${name}.cpp)
endforeach()
add_library(header_check OBJECT ${sources})
target_link_libraries(header_check PRIVATE moegrad::moegrad)
target_compile_options(header_check PRIVATE -Wall -Wextra -Werror)
message(STATUS "checking ${count} headers")
EOF
step "configure the header check" cmake -S "$tmp/headers" -B "$tmp/headers/build" -DCMAKE_PREFIX_PATH="$prefix"
step "compile each installed header alone" cmake --build "$tmp/headers/build" -j2

step "configure examples/ with find_package" cmake -S examples -B "$tmp/installed" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-Werror
# It must have found the package just installed, not another one.
if ! grep -q "^moegrad_DIR:PATH=$prefix/" "$tmp/installed/CMakeCache.txt"; then
  grep "^moegrad_DIR" "$tmp/installed/CMakeCache.txt" >&2 || true
  echo "examples.sh: FAILED: examples/ did not use the package in $prefix" >&2
  exit 1
fi
step "build examples/ against the installed package" cmake --build "$tmp/installed" -j2
run "examples/mlp (installed package)" "$tmp/installed/mlp/mlp"

# ---- add_subdirectory of this checkout ----
step "configure examples/mhmoe_layer with add_subdirectory" cmake -S examples/mhmoe_layer -B "$tmp/subdir" \
  -DMOEGRAD_SOURCE_DIR="$root" -DMOEGRAD_CUDA=OFF -DCMAKE_BUILD_TYPE=Release
# moegrad's own CMakeLists.txt says this line: the library came from source.
if ! grep -q "^-- moegrad: CUDA backend OFF" "$tmp/step.log"; then
  echo "examples.sh: FAILED: examples/mhmoe_layer did not build moegrad from $root" >&2
  exit 1
fi
step "build the library and examples/mhmoe_layer" cmake --build "$tmp/subdir" -j2 --target mhmoe_layer
run "examples/mhmoe_layer (add_subdirectory)" "$tmp/subdir/mhmoe_layer"

echo "examples.sh: all passed in $((SECONDS - started)) s"
