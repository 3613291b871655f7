#!/usr/bin/env bash
# Runs an fa.attention through every stage of the fa-mlir pipeline, prints
# the IR after each stage (long kernels abbreviated), and writes the kernel
# files (.ptx, .cubin, .json) that fa-runner loads.
#   usage: scripts/demo.sh BUILD_DIR INPUT.mlir
set -euo pipefail
build_dir=${1:-build}
input=${2:-examples/attention.mlir}
fa_opt="$build_dir/bin/fa-opt"
out_dir="$build_dir/demo"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# The command as it can be pasted into a shell.
quoted() {
  local word line=""
  for word in "$@"; do
    line+=" $(printf '%q' "$word")"
  done
  printf '%s' "${line# }"
}

stage() {
  local title=$1 lines=$2
  shift 2
  printf '\n===== %s =====\n$ %s\n\n' "$title" "$(quoted "$fa_opt" "$input" "$@")"
  "$fa_opt" "$input" "$@" >"$tmp"
  local total
  total=$(wc -l <"$tmp")
  if [ "$lines" -gt 0 ] && [ "$total" -gt "$lines" ]; then
    head -n "$lines" "$tmp"
    printf '    ... (%s more lines; run the command above for all %s)\n' \
      "$((total - lines))" "$total"
  else
    cat "$tmp"
  fi
}

# One kernel configuration for every stage and for fa-compile: fa-compile's
# default, strategy=auto (on the default chip, sm_90a: the hopper-ws kernel,
# TMA + wgmma + warp specialization, with its tiles).
tiles=(--fa-tile-attention=defaults-for=auto)
lower=(--fa-lower-to-gpu=strategy=auto)
stage "0. input: fa.attention, verified and printed" 0
stage "1. canonicalized (casts folded, unused LSE dropped)" 0 -canonicalize
stage "2. fa-tile-attention: output tiles, exact three-loop softmax" 0 "${tiles[@]}"
stage "3. fa-fuse-online-softmax: one online-softmax loop (exp2, running max/sum)" 0 \
  "${tiles[@]}" --fa-fuse-online-softmax
stage "4. fa-lower-to-gpu: host launch + the wgmma kernel (GPU/NVVM ops)" 120 \
  "${tiles[@]}" --fa-fuse-online-softmax "${lower[@]}" --canonicalize --cse
stage "5. fa-gpu-to-nvvm-pipeline: NVVM/LLVM dialects, #nvvm.target sm_90a" 60 \
  "${tiles[@]}" --fa-fuse-online-softmax "${lower[@]}" \
  --fa-gpu-to-nvvm-pipeline

# A cubin needs ptxas (fa-compile looks in --cuda-path, CUDA_HOME, CUDA_PATH,
# /usr/local/cuda); without a toolkit the demo stops at PTX, which the CUDA
# driver compiles when fa-runner loads it.
cuda=${CUDA_HOME:-${CUDA_PATH:-/usr/local/cuda}}
compile=("$build_dir/bin/fa-compile" "$input" -o "$out_dir/attention")
files="PTX, cubin and launch metadata"
if [ ! -x "$cuda/bin/ptxas" ]; then
  compile+=(--format=ptx)
  files="PTX and launch metadata (no cubin)"
fi
printf '\n===== 6. fa-compile: %s =====\n' "$files"
if [ ! -x "$cuda/bin/ptxas" ]; then
  printf 'No CUDA toolkit (no %s): writing PTX only; the CUDA driver compiles\n' \
    "$cuda/bin/ptxas"
  printf 'it when fa-runner loads the kernel. Install the toolkit, or set\n'
  printf 'CUDA_HOME, for a cubin.\n'
fi
mkdir -p "$out_dir"
printf '$ %s\n' "$(quoted "${compile[@]}")"
"${compile[@]}"
printf '\nPTX instructions that matter (%s/attention.ptx):\n' "$out_dir"
patterns=(mma.sync.aligned.m16n8k16 ldmatrix.sync cp.async.cg ex2.approx
          shfl.sync.bfly bar.sync)
if grep -q '"strategy": "hopper-ws"' "$out_dir/attention.json"; then
  patterns=(wgmma.mma_async cp.async.bulk.tensor mbarrier.try_wait setmaxnreg
            ex2.approx shfl.sync.bfly)
fi
for pattern in "${patterns[@]}"; do
  printf '  %-28s %5s\n' "$pattern" "$(grep -c "$pattern" "$out_dir/attention.ptx")"
done
printf '\nLaunch metadata (%s/attention.json):\n' "$out_dir"
cat "$out_dir/attention.json"
printf '\nRun it on a GPU: %s --nq 4096 --nk 4096 [--bench]\n' \
  "$(quoted "$build_dir/bin/fa-runner" "$out_dir/attention")"
