// fa-lower-to-gpu maps tiled attention; given an fa.attention that was not
// tiled it says so and fails instead of passing it through.
// RUN: not fa-opt %s --fa-lower-to-gpu 2>&1 | FileCheck %s
// A function that was tiled and fused still lowers (the error is per op).
// RUN: fa-opt %s --fa-tile-attention --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s --check-prefix=TILED

// CHECK: error: fa-lower-to-gpu maps tiled attention: run fa-tile-attention and fa-fuse-online-softmax first (or the fa-lower-to-nvgpu-pipeline)
// CHECK-NOT: see current operation
// TILED: gpu.launch_func
// TILED-NOT: fa.attention ins

func.func @untiled(%q: tensor<1x2x?x64xf16>, %k: tensor<1x2x?x64xf16>,
                   %v: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>)
    -> tensor<1x2x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
                    outs(%o : tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}
