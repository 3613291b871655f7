#!/usr/bin/env bash
# A broad family of kernels (122 cubins) for machine-code comparisons of two
# compilers or two compile options: both strategies on sm_80 and sm_90a,
# D 64-256, no mask and both causal alignments, with and without LSE, the
# library's modifications, the backward's kernels, varlen, paged, split-KV
# with packed GQA, exp2 emulation, column intervals.
#
#   bash benchmarks/kernel_family.sh FA_COMPILE OUT_DIR [fa-compile flags...]
#   python3 benchmarks/compare_machine_code.py BEFORE/hop AFTER/hop  (per dir)
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 FA_COMPILE OUT_DIR [fa-compile flags...]" >&2
  exit 2
fi
fa_compile=$1 out=$2
shift 2
extra=()
for flag in "$@"; do extra+=("--extra=$flag"); done
here=$(cd "$(dirname "$0")" && pwd)
make() {
  local dir=$1
  shift
  python3 "$here/make_kernels.py" --fa-compile "$fa_compile" --jobs 2 \
    --out "$out/$dir" "$@" "${extra[@]}" > /dev/null
}
make hop --dtypes bf16,f16 --head-dims 64,128,256 \
  --causal none,top_left,bottom_right --lse 0,1
make hop192 --dtypes bf16 --head-dims 192 --causal none,top_left --lse 1
make mma --dtypes bf16,f16 --head-dims 64,128,256 --causal none,top_left \
  --lse 1 --extra=--strategy=mma-sync
make sm80 --dtypes f16 --head-dims 64,128 --causal none,bottom_right \
  --lse 0 --extra=--chip=sm_80
make mods --dtypes bf16 --head-dims 64,128 --causal none --lse 1 \
  --mods softcap,alibi,window256,prefix100,document,relbias,sinks4_window256
make modsmma --dtypes f16 --head-dims 128 --causal top_left --lse 0 \
  --mods softcap,alibi --extra=--strategy=mma-sync
make bwd --backward --dtypes bf16,f16 --head-dims 64,128 \
  --causal none,top_left
make bwdmma --backward --dtypes f16 --head-dims 64,128 --causal none \
  --extra=--strategy=mma-sync
make bwdmod --backward --dtypes bf16 --head-dims 128 --causal none \
  --mods softcap,alibi
make varlen --varlen --dtypes bf16 --head-dims 128 \
  --causal none,bottom_right --lse 1
make paged --paged 64 --dtypes bf16 --head-dims 128 --causal bottom_right \
  --lse 1
make split --dtypes bf16 --head-dims 128 --causal none --lse 1 \
  --heads 32:8 --extra=--split-kv=auto --extra=--pack-gqa
make split4 --dtypes f16 --head-dims 64 --causal bottom_right --lse 0 \
  --extra=--split-kv=4
make exp2 --dtypes bf16 --head-dims 128 --causal top_left --lse 0 \
  --extra=--exp2-emulation=2
make colint --dtypes bf16 --head-dims 64,128 --causal top_left,bottom_right \
  --lse 1 --extra=--column-intervals
make colintmods --dtypes bf16 --head-dims 128 --causal none --lse 1 \
  --mods window256,sinks4_window256 --extra=--column-intervals
make colintmma --dtypes bf16 --head-dims 64,128 --causal top_left \
  --lse 1 --extra=--strategy=mma-sync --extra=--column-intervals
echo "kernel_family: $(ls "$out"/*/*.ptx | wc -l) kernels in $out"
