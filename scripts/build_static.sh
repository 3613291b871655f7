#!/usr/bin/env bash
# Configures (once) and builds the given targets in a build tree with
# FA_STATIC_TOOLS=ON: no libLLVM.so, static libstdc++/zlib/zstd
# (docs/Toolchain.md). Shared by make_bundle.sh, make_python_bundle.sh and
# make wheel.
#
# Usage: scripts/build_static.sh <build-dir> <target>...
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
static=$1
shift
llvm=${LLVM_ROOT:-/usr/lib/llvm-22}
if [ ! -f "$static/build.ninja" ]; then
  cmake -G Ninja -S "$src" -B "$static" -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR="$llvm/lib/cmake/mlir" -DLLVM_EXTERNAL_LIT="$llvm/bin/lit" \
    -DPython3_EXECUTABLE=/usr/bin/python3 -DFA_STATIC_TOOLS=ON >/dev/null
fi
ninja -C "$static" -j"${JOBS:-2}" "$@"
