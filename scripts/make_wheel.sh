#!/usr/bin/env bash
# Builds the fa_mlir wheel (python/pyproject.toml) around a given
# libFAMLIRCAPI.so, offline, with the setuptools and wheel of Debian's
# registry (python3-setuptools, python3-wheel, python3-pip):
#
#   scripts/make_wheel.sh [libFAMLIRCAPI.so] [output-dir]
#
# The default library is the static build's (linked without libLLVM and
# libstdc++, as the python bundle's): that wheel runs on machines without
# LLVM. With the dynamic build's library the wheel needs LLVM 22 installed
# (the tests use it to check the packaging).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$src/build-static/lib/libFAMLIRCAPI.so}
out=${2:-$src/build/wheel}
python=${PYTHON:-/usr/bin/python3}
if [ ! -f "$lib" ]; then
  echo "make_wheel: $lib does not exist (make python-bundle builds the" \
    "static one, make python the dynamic one)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/fa_mlir-src
mkdir -p "$stage/fa_mlir/lib"
cp "$src/python/pyproject.toml" "$src/python/setup.cfg" "$src/LICENSE" "$stage/"
cp "$src/python/fa_mlir"/*.py "$src/python/fa_mlir/py.typed" "$stage/fa_mlir/"
strip -o "$stage/fa_mlir/lib/libFAMLIRCAPI.so" "$lib"
cat > "$stage/README.md" <<'README'
fa_mlir: FlashAttention kernels compiled by MLIR (fa-mlir), and
`fa_mlir.torch.attention`, an SDPA-compatible call for CUDA tensors. See
the fa-mlir repository's README.
README
mkdir -p "$out"
"$python" -m pip wheel --quiet --no-deps --no-build-isolation --no-index \
  --wheel-dir "$out" "$stage"
ls "$out"/fa_mlir-*.whl
