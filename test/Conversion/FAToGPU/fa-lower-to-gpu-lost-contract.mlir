// Canonicalization between the tile passes and their consumers can rebuild
// the tile's scf.forall without its 'fa.attention_tile' (here: it folds the
// tensor.cast of the output into the forall). The consumers say so, instead
// of passing tiled attention through without a kernel.
// RUN: fa-opt %s --fa-tile-attention --canonicalize --fa-fuse-online-softmax 2>&1 | FileCheck %s --check-prefix=FUSE --implicit-check-not='fa.softmax_stage = "online"'
// RUN: not fa-opt %s --fa-tile-attention --fa-fuse-online-softmax --canonicalize --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=LOWER
// Without canonicalization in between, the same IR maps to a kernel.
// RUN: fa-opt %s --fa-tile-attention --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s --check-prefix=KERNEL

// FUSE: :[[@LINE+7]]:8: warning: fa-fuse-online-softmax: tiled attention outside an scf.forall marked 'fa.attention_tile' is left as it is
// LOWER: :[[@LINE+6]]:8: error: tiled attention outside an scf.forall marked 'fa.attention_tile', 'fa.attention_backward_tile' or 'fa.split_combine': a pass after the tiling removed the contract
// LOWER-NOT: see current operation
// KERNEL: gpu.launch_func
func.func @cast_output(%q: tensor<1x2x?x64xf16>, %n: index) -> tensor<1x2x?x64xf16> {
  %o0 = tensor.empty(%n) : tensor<1x2x?x64xf16>
  %o = tensor.cast %o0 : tensor<1x2x?x64xf16> to tensor<?x?x?x64xf16>
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) outs(%o : tensor<?x?x?x64xf16>) -> tensor<?x?x?x64xf16>
  %1 = tensor.cast %0 : tensor<?x?x?x64xf16> to tensor<1x2x?x64xf16>
  return %1 : tensor<1x2x?x64xf16>
}
