// What the mma-sync backward refuses, each with one error: a form it has no
// kernels for, a strategy without backward kernels, tiled IR edited so that
// a kernel would compute something else, and shapes beyond its registers.
// RUN: not fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=accumulate" --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=FUSED
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

// FUSED: error: the GPU strategies implement the backward tiled with dq=stage; the fused stage (dq=accumulate) runs on the CPU
// HOPPER: error: the hopper-ws strategy has no backward kernels yet; use strategy=mma-sync or auto
// EXP: error: not a backward stage a GPU strategy can implement: the body or maps of 'recomputed_probabilities' are not the ones fa-tile-attention-backward builds; only the 'scores' body may be edited
// LOOP: error: not a backward stage a GPU strategy can implement: expected the loop marked 'fa.backward_loop = "query_blocks"'
// STAGE: error: the mma-sync backward implements dq=stage: delta must be read by one key_value and one query stage, not by 'key_value'
// STRIDE: error: not a backward stage a GPU strategy can implement: a stage writes whole rows with unit strides
// FRESH: error: not a backward stage a GPU strategy can implement: a stage's outputs must be fresh tensor.empty values
// FUSED-NOT: gpu.launch_func
func.func @backward(%q: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>)
    -> tensor<1x2x?x64xf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>) outs(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) causal = <top_left> -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xf16>
}
