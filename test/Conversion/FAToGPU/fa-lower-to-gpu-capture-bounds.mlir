// A read of a capture at a constant index outside its static size, edited
// into the fused IR (the op verifier refuses it in a region,
// test/Dialect/FA/invalid.mlir): both strategies refuse the kernel instead
// of building one that reads past the capture. Unedited, it builds.
// RUN: fa-opt %s --fa-tile-attention --fa-fuse-online-softmax | sed 's/arith.constant 5 : index/arith.constant 6 : index/' | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax | sed 's/arith.constant 5 : index/arith.constant 6 : index/' | not fa-opt "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s
// RUN: fa-opt %s --fa-tile-attention --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s --check-prefix=UNEDITED

// CHECK: error: cannot evaluate the tile in a GPU kernel: it reads index 6 of dimension 0 of 'tensor<6xf32>', outside the tensor
// UNEDITED: gpu.func @fa_attention_f16_d64

// A bias per head, the last entry shared by the heads past 5.
func.func @bias(%q: tensor<1x8x?x64xf16>, %k: tensor<1x8x?x64xf16>, %o: tensor<1x8x?x64xf16>, %bias: tensor<6xf32>) -> tensor<1x8x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>) outs(%o : tensor<1x8x?x64xf16>) captures(%bias : tensor<6xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %t: tensor<6xf32>):
      %c5 = arith.constant 5 : index
      %row = arith.minui %h, %c5 : index
      %x = tensor.extract %t[%c5] : tensor<6xf32>
      %y = tensor.extract %t[%row] : tensor<6xf32>
      %z = arith.addf %x, %y : f32
      %r = arith.addf %s, %z : f32
      fa.yield %r : f32
    } -> tensor<1x8x?x64xf16>
  return %0 : tensor<1x8x?x64xf16>
}
