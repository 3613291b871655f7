#!/usr/bin/env bash
# Packs the relocatable GPU test bundle (docs/Toolchain.md, issue 4):
# static fa-compile and fa-runner, FileCheck/not/count with the libraries they
# load, lit, the GPU test tree and a run script, as one .tar.xz of at most
# 40 MiB. On a machine with a CUDA driver and python3:
#
#   tar xf fa-mlir-gpu-bundle.tar.xz && fa-mlir-gpu/run-gpu-tests.sh
#
# Usage: scripts/make_bundle.sh [static-build-dir] [output.tar.xz]
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
static=${1:-$src/build-static}
out=${2:-$src/build/fa-mlir-gpu-bundle.tar.xz}
llvm=${LLVM_ROOT:-/usr/lib/llvm-22}
jobs=${JOBS:-2}
limit=$((40 * 1024 * 1024))

JOBS=$jobs bash "$src/scripts/build_static.sh" "$static" fa-compile fa-runner

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/fa-mlir-gpu
mkdir -p "$stage"/{bin,lib,test,benchmarks}

# Tools: ours (no libLLVM, static libstdc++) and LLVM's test utilities.
for tool in fa-compile fa-runner; do
  strip -o "$stage/bin/$tool" "$static/bin/$tool"
done
for tool in FileCheck not count; do
  cp "$llvm/bin/$tool" "$stage/bin/"
done
# The shared libraries LLVM's utilities load beyond glibc and libstdc++.
for lib in $(ldd "$llvm/bin/FileCheck" | awk '/=>/ {print $3}'); do
  case "$(basename "$lib")" in
    libz3.so*|libzstd.so*|libz.so*) cp -L "$lib" "$stage/lib/" ;;
  esac
done
if ldd "$stage/bin/fa-compile" | grep -q 'libLLVM\|libMLIR'; then
  echo "make_bundle: fa-compile still links libLLVM/libMLIR" >&2
  exit 1
fi

# lit (pure Python) and the tests.
cp -r "$llvm/utils/lit/lit" "$stage/lit"
cp "$src/test/lit.cfg.py" "$stage/test/"
cp -r "$src/test/GPU" "$stage/test/GPU"
# (split-kv-errors.test checks exit codes with the tools tests' helper.)
mkdir -p "$stage/test/Tools/Inputs/fa-runner-mods"
cp "$src/test/Tools/Inputs/fa-runner-mods/expect_exit.py" \
  "$stage/test/Tools/Inputs/fa-runner-mods/"
cp "$src/benchmarks/make_kernels.py" "$src/benchmarks/gpu_suite.py" \
  "$src/benchmarks/mod_library.py" "$src/benchmarks/bench_kernels.py" \
  "$stage/benchmarks/"
# make_kernels.py takes its MLIR from fa_mlir.attention_source.
mkdir -p "$stage/python/fa_mlir"
cp "$src/python/fa_mlir"/*.py "$stage/python/fa_mlir/"
cat > "$stage/test/lit.site.cfg.py" <<'PY'
# lit site configuration of the relocatable GPU bundle.
import os
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
config.llvm_tools_dir = os.path.join(root, "bin")
config.mlir_dir = ""
config.fa_src_root = root
config.fa_obj_root = os.path.join(root, "work")
config.fa_tools_dir = os.path.join(root, "bin")
config.cmake_command = "cmake"
config.cmake_generator = "Ninja"
config.cxx_compiler = "c++"
config.python_executable = sys.executable

import lit.llvm
lit.llvm.initialize(lit_config, config)
lit_config.load_config(config, os.path.join(root, "test", "lit.cfg.py"))
PY
cat > "$stage/run-gpu-tests.sh" <<'SH'
#!/usr/bin/env bash
# Runs fa-mlir's GPU test suite from this bundle; needs a CUDA driver and
# python3 (with a CUDA toolkit's ptxas the kernels are cubins, otherwise
# PTX that the driver compiles). Extra arguments go to lit, e.g. -j8 or a
# test path under test/GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
cd "$root"
mkdir -p "$root/work/test"
paths=0
for arg in "$@"; do
  [ -e "$arg" ] && paths=1
done
if [ "$paths" -eq 0 ]; then
  set -- "$@" test/GPU
fi
# A line per test as it ends (not -s), so that a run cut short by a time
# limit still names the tests it passed.
exec python3 -c 'import sys; from lit.main import main; sys.argv[0] = "lit"; main()' \
  -v "$@"
SH
chmod +x "$stage/run-gpu-tests.sh"

mkdir -p "$(dirname "$out")"
tar -C "$work" -cf - fa-mlir-gpu | xz -6 -T"$jobs" > "$out"
size=$(stat -c %s "$out")
echo "make_bundle: $out ($((size / 1024 / 1024)) MiB, limit 40 MiB)"
if [ "$size" -gt "$limit" ]; then
  echo "make_bundle: the bundle is larger than 40 MiB" >&2
  exit 1
fi
