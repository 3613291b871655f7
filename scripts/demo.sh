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

stage() {
  local title=$1 lines=$2
  shift 2
  printf '\n===== %s =====\n$ fa-opt %s %s\n\n' "$title" "$input" "$*"
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

tiles="--fa-tile-attention=block-m=128 block-n=64"
stage "0. input: fa.attention, verified and printed" 0
stage "1. canonicalized (casts folded, unused LSE dropped)" 0 -canonicalize
stage "2. fa-tile-attention: output tiles, exact three-loop softmax" 0 "$tiles"
stage "3. fa-fuse-online-softmax: one online-softmax loop (exp2, running max/sum)" 0 \
  "$tiles" --fa-fuse-online-softmax
stage "4. fa-lower-to-gpu: host launch + mma.sync kernel (nvgpu level)" 120 \
  "$tiles" --fa-fuse-online-softmax --fa-lower-to-gpu --canonicalize --cse
stage "5. fa-gpu-to-nvvm-pipeline: NVVM/LLVM dialects, #nvvm.target sm_90a" 60 \
  "$tiles" --fa-fuse-online-softmax --fa-lower-to-gpu \
  --fa-gpu-to-nvvm-pipeline

printf '\n===== 6. fa-compile: PTX, cubin and launch metadata =====\n'
mkdir -p "$out_dir"
printf '$ fa-compile %s -o %s/attention\n' "$input" "$out_dir"
"$build_dir/bin/fa-compile" "$input" -o "$out_dir/attention"
printf '\nPTX instructions that matter (%s/attention.ptx):\n' "$out_dir"
for pattern in mma.sync.aligned.m16n8k16 ldmatrix.sync cp.async.cg \
               ex2.approx shfl.sync.bfly bar.sync; do
  printf '  %-28s %5s\n' "$pattern" "$(grep -c "$pattern" "$out_dir/attention.ptx")"
done
printf '\nLaunch metadata (%s/attention.json):\n' "$out_dir"
cat "$out_dir/attention.json"
printf '\nRun it on a GPU: %s/bin/fa-runner %s/attention --nq 4096 --nk 4096 [--bench]\n' \
  "$build_dir" "$out_dir"
