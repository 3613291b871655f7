#!/bin/bash
# Decode tiles of the split-KV kernels: fa-runner times the partial and
# combine kernels of bf16, D 128 (and 64), bottom-right, LSE attention
# for one query against Nk keys, B 8, over block_m / block_n / warps /
# stages (results: benchmarks/results/2026-12-02-h200-decode-tiles.md).
#
#   bash benchmarks/decode_tile_sweep.sh compile OUT   # here: fa-compile
#   bash benchmarks/decode_tile_sweep.sh run OUT       # on the GPU machine
#
# `compile` needs build/bin/fa-compile, `run` fa-runner on PATH (or
# build/bin) and a GPU. Each line: the variant, the split count the rule
# picked, the median of 30 launches of the pair.
set -euo pipefail
mode=${1:?compile or run}; out=${2:?output directory}
here=$(cd "$(dirname "$0")" && pwd)
# name:heads:D:flags (fa-compile flags besides --split-kv=auto). The
# 2026-12-02 sweep of the 64-row tiles is in the results' first table;
# these are the key-split warps (--key-warps, 16-row tiles whose 4 warps
# split each key block) against that 64-row default.
variants=(
  "g_bm64_bn64:32:8:128:--block-m=64 --block-n=64 --key-warps=1"
  "g_bm16_bn32_kw2:32:8:128:--block-m=16 --block-n=32"
  "g_bm16_bn64_kw4:32:8:128:--block-m=16 --block-n=64"
  "g_bm16_bn64_kw4_s3:32:8:128:--block-m=16 --block-n=64 --stages=3"
  "g_bm16_bn128_kw4:32:8:128:--block-m=16 --block-n=128"
  "g_bm16_bn128_kw4_s3:32:8:128:--block-m=16 --block-n=128 --stages=3"
  "g_bm16_bn128_kw8:32:8:128:--block-m=16 --block-n=128 --key-warps=8 --warps=8"
  "g_bm32_bn64_kw2:32:8:128:--block-m=32 --block-n=64"
  "m_bm64_bn64:32:32:128:--block-m=64 --block-n=64 --key-warps=1"
  "m_bm16_bn64_kw4:32:32:128:--block-m=16 --block-n=64"
  "m_bm16_bn128_kw4:32:32:128:--block-m=16 --block-n=128"
  "m_bm16_bn128_kw8:32:32:128:--block-m=16 --block-n=128 --key-warps=8 --warps=8"
  "g64_bm64:32:8:64:--block-m=64 --key-warps=1"
  "g64_bm16_kw4:32:8:64:--block-m=16 --block-n=64"
  "g64_bm16_bn128_kw4:32:8:64:--block-m=16 --block-n=128"
  "m256_bm16_bn32_kw1:32:32:256:--block-m=16 --block-n=32 --key-warps=1"
  "m256_bm16_bn32_kw2:32:32:256:--block-m=16 --block-n=32"
  "m256_bm16_bn64_kw4:32:32:256:--block-m=16 --block-n=64"
)
if [ "$mode" = compile ]; then
  mkdir -p "$out"
  for v in "${variants[@]}"; do
    IFS=: read -r name hq hkv d flags <<< "$v"
    extra=(--extra=--split-kv=auto)
    [ "$hq" != "$hkv" ] && extra+=(--extra=--pack-gqa)
    for f in $flags; do extra+=("--extra=$f"); done
    python3 "$here/make_kernels.py" --fa-compile "$here/../build/bin/fa-compile" \
      --out "$out" --heads "$hq:$hkv" --dtypes bf16 --head-dims "$d" \
      --causal bottom_right --lse 1 --suffix "_$name" "${extra[@]}" > /dev/null
  done
  exit 0
fi
PATH=$here/../build/bin:$PATH
for nk in 8192 65536; do
  for v in "${variants[@]}"; do
    IFS=: read -r name hq hkv d flags <<< "$v"
    batches=8; [ "$hq" = "$hkv" ] && batches="2 8"  # MHA: B 2 splits 64 tiles
    for b in $batches; do
      printf '%s nk=%s B=%s: ' "$name" "$nk" "$b"
      fa-runner "$out/bf16_d${d}_bottom_right_lse_$name" --batch $b --hq "$hq" \
        --hkv "$hkv" --nq 1 --nk "$nk" --bench --iters 30 --warmup 5 \
        --no-check 2>&1 | tail -1 | sed 's/.*kv_splits=\([0-9]*\).*| \([0-9.]*\) ms.*/kv_splits=\1 \2 ms/'
    done
  done
done
