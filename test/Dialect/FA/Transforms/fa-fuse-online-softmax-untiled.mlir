// fa-fuse-online-softmax fuses tiled attention; an fa.attention that was
// not tiled is left as it is, with a warning that says why.
// RUN: fa-opt %s --fa-fuse-online-softmax 2>&1 | FileCheck %s

// CHECK: warning: fa-fuse-online-softmax: fa.attention is not tiled, nothing to fuse; run fa-tile-attention first
// CHECK: fa.attention ins

func.func @untiled(%q: tensor<1x2x?x64xf16>, %k: tensor<1x2x?x64xf16>,
                   %v: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>)
    -> tensor<1x2x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
                    outs(%o : tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}
