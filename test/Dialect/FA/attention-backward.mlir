// Round trip of fa.attention_backward through the custom and the generic form.
// RUN: fa-opt %s -split-input-file | fa-opt -split-input-file | FileCheck %s
// RUN: fa-opt %s -split-input-file -mlir-print-op-generic | fa-opt -split-input-file | FileCheck %s
// Passes that lower fa.attention leave the backward op alone.
// RUN: fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax | FileCheck %s

// CHECK-LABEL: func.func @gqa
// CHECK:         fa.attention_backward ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>) scale = 1.250000e-01 causal = <bottom_right> -> tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>
func.func @gqa(%q: tensor<2x8x?x128xbf16>, %k: tensor<2x2x?x128xbf16>, %v: tensor<2x2x?x128xbf16>, %o: tensor<2x8x?x128xbf16>, %do: tensor<2x8x?x128xbf16>, %lse: tensor<2x8x?xf32>, %dq: tensor<2x8x?x128xbf16>, %dk: tensor<2x2x?x128xbf16>, %dv: tensor<2x2x?x128xbf16>) -> (tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>) {
  %0:3 = fa.attention_backward
      ins(%q, %k, %v, %o, %do, %lse : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>)
      outs(%dq, %dk, %dv : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>)
      scale = 0.125 causal = <bottom_right>
      -> tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>
  return %0#0, %0#1, %0#2 : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>
}

// -----

// Regions and captures, as on the forward op.
// CHECK-LABEL: func.func @mods
// CHECK:         fa.attention_backward {{.*}} captures(%{{.*}} : tensor<4xf32>) score_mod {
// CHECK:           tensor.extract
// CHECK:           fa.yield %{{.*}} : f32
// CHECK:         } mask_mod {
// CHECK:           arith.cmpi sle
// CHECK:           fa.yield %{{.*}} : i1
// CHECK:         } -> tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>
func.func @mods(%q: tensor<1x4x?x64xf16>, %o: tensor<1x4x?x64xf16>, %lse: tensor<1x4x?xf32>, %slopes: tensor<4xf32>) -> (tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>) {
  %0:3 = fa.attention_backward
      ins(%q, %q, %q, %o, %o, %lse : tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?xf32>)
      outs(%q, %q, %q : tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>)
      captures(%slopes : tensor<4xf32>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %sl: tensor<4xf32>):
        %slope = tensor.extract %sl[%h] : tensor<4xf32>
        %r = arith.addf %s, %slope : f32
        fa.yield %r : f32
      }
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %sl: tensor<4xf32>):
        %keep = arith.cmpi sle, %j, %i : index
        fa.yield %keep : i1
      }
      -> tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>
  return %0#0, %0#1, %0#2 : tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>
}
