#!/usr/bin/env bash
# Packs fa_mlir for a machine without LLVM (the GPU machine): the package,
# its tests, the benchmark script and libFAMLIRCAPI.so linked without
# libLLVM/libstdc++ (FA_STATIC_TOOLS), as build/fa-mlir-python.tar.xz.
#
#   tar xf fa-mlir-python.tar.xz
#   PYTHONPATH=fa-mlir-python/python python3 -m pytest fa-mlir-python/python/tests
#
# Usage: scripts/make_python_bundle.sh [static-build-dir] [output.tar.xz]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
static=${1:-$src/build-static}
out=${2:-$src/build/fa-mlir-python.tar.xz}
bash "$src/scripts/build_static.sh" "$static" FAMLIRCAPI
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/fa-mlir-python
mkdir -p "$stage/python/fa_mlir/lib" "$stage/benchmarks"
cp -r "$src/python/fa_mlir"/*.py "$stage/python/fa_mlir/"
cp -r "$src/python/tests" "$stage/python/tests"
strip -o "$stage/python/fa_mlir/lib/libFAMLIRCAPI.so" "$static/lib/libFAMLIRCAPI.so"
cp "$src/benchmarks/torch_bench.py" "$src/benchmarks/mods_bench.py" \
  "$stage/benchmarks/"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p "$(dirname "$out")"
tar -C "$work" -cf - fa-mlir-python | xz -6 -T"${JOBS:-2}" > "$out"
echo "make_python_bundle: $out ($(( $(stat -c %s "$out") / 1024 / 1024 )) MiB)"
