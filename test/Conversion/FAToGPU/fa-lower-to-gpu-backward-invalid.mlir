// What the mma-sync backward refuses, each with one error: a strategy
// without backward kernels, and tiled IR edited so that a kernel would
// compute something else.
// RUN: not fa-opt %s --split-input-file --fa-tile-attention-backward "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=HOPPER
// An edited probabilities body (exp2 for exp), an edited loop contract, an
// edited stage: never a kernel that ignores them.
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/math.exp %/math.exp2 %/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=EXP
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/"query_blocks"/"key_blocks"/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=LOOP
// RUN: fa-opt %s --split-input-file --fa-tile-attention-backward | sed 's/stage = "query"/stage = "key_value"/' | not fa-opt --split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=STAGE
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

// HOPPER: error: the hopper-ws strategy has no backward kernels yet; use strategy=mma-sync or auto
// EXP: error: not a backward stage a GPU strategy can implement: the body or maps of 'recomputed_probabilities' are not the ones fa-tile-attention-backward builds; only the 'scores' body may be edited
// LOOP: error: not a backward stage a GPU strategy can implement: expected the loop marked 'fa.backward_loop = "query_blocks"'
// STAGE: error: delta must be read by one key_value and one query stage (dq=stage) or one fused stage (dq=accumulate), not by 'key_value'
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
