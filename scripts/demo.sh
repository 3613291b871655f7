#!/usr/bin/env bash
# Runs an fa.attention through each stage of the fa-mlir pipeline that exists
# today and prints the IR after every stage.
#   usage: scripts/demo.sh BUILD_DIR INPUT.mlir
set -euo pipefail
build_dir=${1:-build}
input=${2:-examples/attention.mlir}
fa_opt="$build_dir/bin/fa-opt"

stage() {
  local title=$1
  shift
  printf '\n===== %s =====\n$ fa-opt %s %s\n\n' "$title" "$input" "$*"
  "$fa_opt" "$input" "$@"
}

stage "0. input: fa.attention, verified and printed"
stage "1. canonicalized (casts folded, unused LSE dropped)" -canonicalize
stage "2. fa-tile-attention: output tiles, exact three-loop softmax" \
  "--fa-tile-attention=block-m=64 block-n=64"
stage "3. fa-fuse-online-softmax: one online-softmax loop (exp2, running max/sum)" \
  "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax
