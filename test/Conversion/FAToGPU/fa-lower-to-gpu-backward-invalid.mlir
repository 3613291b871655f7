// What the backward strategies refuse, each with one error: what the
// hopper-ws (wgmma) kernel cannot build, and tiled IR edited so that a
// kernel would compute something else.
// hopper-ws builds the fused stage only, from 64-query blocks of 64- or
// 128-key tiles (or 128-query blocks of 128-key tiles, with the registers
// for them: not at D = 128), on sm_90a.
// RUN: not fa-opt %s --split-input-file --fa-tile-attention-backward "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=HOPPER
// RUN: not fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate block-m=32" "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=HBLOCKM
// RUN: not fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate block-m=128 block-n=64" "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=HBLOCKM128
// RUN: sed 's/x64xf16>/x128xf16>/g' %s | not fa-opt --split-input-file "--fa-tile-attention-backward=dq=accumulate block-m=128 block-n=128" "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=HREGS
// RUN: not fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate block-n=32" "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=HBLOCKN
// RUN: not fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" "--fa-lower-to-gpu=strategy=hopper-ws chip=sm_90" 2>&1 | FileCheck %s --check-prefix=HCHIP
// A head dimension no kernel is built for, with either strategy.
// RUN: sed 's/x64xf16>/x96xf16>/g' %s | not fa-opt --split-input-file --fa-tile-attention-backward "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=HEADDIM
// RUN: sed 's/x64xf16>/x96xf16>/g' %s | not fa-opt --split-input-file --fa-tile-attention-backward "--fa-lower-to-gpu=strategy=mma-sync" 2>&1 | FileCheck %s --check-prefix=HEADDIM
// auto builds mma.sync kernels where the wgmma one cannot be built.
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate block-m=32" "--fa-lower-to-gpu=strategy=auto" | FileCheck %s --check-prefix=AUTO
// RUN: not fa-opt %s --split-input-file "--fa-tile-attention-backward=defaults-for=wgmma" 2>&1 | FileCheck %s --check-prefix=DEFAULTS
// Static sizes past the grid's limits: 70000 sequences in z.
// RUN: sed 's/tensor<1x2x/tensor<70000x2x/g' %s | not fa-opt --split-input-file --fa-tile-attention-backward "--fa-lower-to-gpu=strategy=mma-sync" 2>&1 | FileCheck %s --check-prefix=GRID
// GRID: error: the kernel's grid has 70000 sequences in z, and a launch takes at most 65535 there
// The forward's warp options would be ignored by the backward's kernels.
// RUN: not fa-opt %s --split-input-file --fa-tile-attention-backward "--fa-lower-to-gpu=warps=8" 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not fa-opt %s --split-input-file --fa-tile-attention-backward "--fa-lower-to-gpu=key-warps=2" 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not fa-opt %s --split-input-file --fa-tile-attention-backward "--fa-lower-to-gpu=exp2-emulation=3" 2>&1 | FileCheck %s --check-prefix=WARPS
// The hand-edited stages below are refused by hopper-ws too (the stage
// matcher is shared).
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" | sed 's/math.exp %/math.exp2 %/' | not fa-opt --split-input-file "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=EXP
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" | sed 's/\(tensor.insert_slice %[0-9]* into %arg[0-9]*\[%arg[0-9]*\), %arg[0-9]*, 0\]/\1, 0, 0]/' | not fa-opt --split-input-file "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=ACCROWS
// An edited probabilities body (exp2 for exp), an edited loop contract, an
// edited stage: never a kernel that ignores them.
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/math.exp %/math.exp2 %/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=EXP
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/"query_blocks"/"key_blocks"/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=LOOP
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/stage = "query"/stage = "key_value"/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=STAGE
// A scores body edited to read the thread's id: an op no score_mod or
// mask_mod may hold, refused by both strategies' shared stage matcher.
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/\(%[0-9]*\) = linalg.index 0 : index/\1 = gpu.thread_id x/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=SCORESOP
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" | sed 's/\(%[0-9]*\) = linalg.index 0 : index/\1 = gpu.thread_id x/' | not fa-opt --split-input-file "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=SCORESOP
// Gradients stored every other row; delta written into the LSE (a kernel
// writes its outputs' memory, so they must be fresh tensors).
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/\] \[1, 1, 1, 1\] : tensor<?x64xf16> into/] [1, 1, 2, 1] : tensor<?x64xf16> into/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=STRIDE
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/shared_outs(\(%arg[0-9]*\) = %[0-9]*) -> (tensor<1x2x?xf32>)/shared_outs(\1 = %arg1) -> (tensor<1x2x?xf32>)/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=FRESH
// dq=accumulate, edited: dS K added to the accumulator's first rows instead
// of the block's; dQ written to the kv head's own query head instead of the
// group's; the key tiles loop marked as another loop; the fused stage
// renamed.
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" | sed 's/\(tensor.insert_slice %[0-9]* into %arg[0-9]*\[%arg[0-9]*\), %arg[0-9]*, 0\]/\1, 0, 0]/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=ACCROWS
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" | sed 's/\(parallel_insert_slice %[0-9]* into %arg[0-9]*\[%arg[0-9]*\), %[0-9]*, 0, 0\]/\1, 0, 0, 0]/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=DQHEAD
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" | sed 's/"key_tiles"/"key_blocks"/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=TILES
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" | sed 's/stage = "fused"/stage = "key_value"/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=RENAMED

// HOPPER: error: the hopper-ws backward builds the fused stage (dq=accumulate), got the key_value stage; tile with dq=accumulate or use strategy=mma-sync
// HBLOCKM: error: the hopper-ws backward streams blocks of 64 query rows (the M of dQ's warpgroup MMA), or 128 with block-n = 128 (a warpgroup per 64 of them): got block-m = 32 with block-n = 128
// HBLOCKM128: error: the hopper-ws backward streams blocks of 64 query rows (the M of dQ's warpgroup MMA), or 128 with block-n = 128 (a warpgroup per 64 of them): got block-m = 128 with block-n = 64
// HREGS: error: the hopper-ws backward needs 320 accumulator registers per thread at D = 128 with block-m = 128 and block-n = 128 (budget 224); use block-m = 64 and block-n = 128, which split dQ over two warpgroups
// HBLOCKN: error: the hopper-ws backward gives each warpgroup 64 keys of its tile: block-n must be 64 or 128, got 32
// HCHIP: error: the hopper-ws backward needs wgmma (sm_90a), got sm_90; use strategy=mma-sync
// HEADDIM: error: the GPU backward supports D == Dv in {64, 128, 192, 256}, got D = 96, Dv = 96
// AUTO: gpu.func @fa_attention_backward_fused_f16_d64_bm32_bn128_s2_{{[0-9a-f]+}}
// AUTO-SAME: strategy = "mma-sync"
// AUTO-NOT: wgmma
// DEFAULTS: error: defaults-for must be mma-sync, hopper-ws or auto, got 'wgmma'
// WARPS: error: warps, key-warps, exp2-emulation and column-intervals shape the kernels of tiled fa.attention, and the module holds only backward stages (whose kernels take their warps from their tiles)
// EXP: error: not a backward stage a GPU strategy can implement: the body or maps of 'recomputed_probabilities' are not the ones fa-tile-attention-backward builds; only the 'scores' body may be edited
// LOOP: error: not a backward stage a GPU strategy can implement: expected the loop marked 'fa.backward_loop = "query_blocks"'
// STAGE: error: delta must be read by one key_value and one query stage (dq=stage) or one fused stage (dq=accumulate), not by 'key_value'
// SCORESOP: error: not a backward stage a GPU strategy can implement: the 'scores' body may hold only the ops of a score_mod or mask_mod region (and linalg.index)
// SCORESOP-NEXT: gpu.thread_id x
// STRIDE: error: not a backward stage a GPU strategy can implement: a stage writes whole rows with unit strides
// FRESH: error: not a backward stage a GPU strategy can implement: a stage's outputs must be fresh tensor.empty values
// ACCROWS: error: not a backward stage a GPU strategy can implement: dS K must be added to the rows [g, start:start+n, :] of the dQ accumulator
// DQHEAD: error: not a backward stage a GPU strategy can implement: dQ is written as [b, kv head * G, 0, 0] of sizes [1, G, Nq, D]
// TILES: error: not a backward stage a GPU strategy can implement: expected the loop marked 'fa.backward_loop = "key_tiles"'
// RENAMED: error: a backward tile of stage "key_value" belongs on an scf.forall of rank 3
func.func @backward(%q: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>)
    -> tensor<1x2x?x64xf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>) outs(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) causal = <top_left> -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xf16>
}
