// A split-KV tile and its combine edited by hand: the kernels follow the IR
// or refuse it with a diagnostic, never ignore an edit.
// RUN: fa-opt %s "--fa-tile-attention=split-kv=auto block-m=16 block-n=64" --fa-fuse-online-softmax > %t.mlir
// The combine weighs the parts with exp2 instead of exp.
// RUN: sed 's/math.exp %/math.exp2 %/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=WEIGHTS
// The split count is not one a runtime can evaluate.
// RUN: sed 's/fa.split_count \(%[0-9]*\), \(%[0-9]*\) max = 128/arith.addi \1, \2 : index/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=COUNT
// The combine skips the first part.
// RUN: sed 's/tensor.extract_slice \(%[0-9]*#1\)\[0,/tensor.extract_slice \1[1,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=PARTS
// A partial output written every other row.
// RUN: sed 's/\[1, 1, 1, 1, 1\] : tensor<?x128xf32>/[1, 1, 1, 2, 1] : tensor<?x128xf32>/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=STRIDE
// The combine lost its mark: its ops are tiled attention outside a contract.
// RUN: sed 's/{fa.split_combine = {block_m = 16 : i64}, /{/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=UNMARKED

// WEIGHTS: error: not a split-KV combine a GPU strategy can implement: the body or maps of 'combine_weights' are not the ones fa-tile-attention builds
// COUNT: error: the split count of a split-KV tile must be a constant or fa.split_count
// PARTS: error: not a split-KV combine a GPU strategy can implement: the partial LSEs must be the f32 slice [0:S, b, h, rows] of their tensor
// STRIDE: error: not a fused attention tile a GPU strategy can implement: a tile writes rows [first row, first row + rows) of its (batch, head)
// UNMARKED: error: tiled attention outside an scf.forall marked
func.func @decode(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>,
                  %v: tensor<?x2x?x128xbf16>, %o: tensor<?x8x?x128xbf16>,
                  %l: tensor<?x8x?xf32>)
    -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %r, %lse = fa.attention
      ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>,
                       tensor<?x2x?x128xbf16>)
      outs(%o, %l : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>)
      causal = <bottom_right> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %r, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}
