// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=32 block-n=16" | FileCheck %s

// Before a score_mod, the product Q K^T * scale is contractable: an op of the
// region that carries fastmath<contract> may fuse with it. The region's ops
// keep their own flags (here: contract on the addf, none on the mulf).
// CHECK-LABEL: func.func @bias
// CHECK:         linalg.generic {{.*}} {fa.role = "scores"}
// CHECK-NEXT:    ^bb0(%[[QK:.*]]: f32):
// CHECK:           %[[SCALED:.*]] = arith.mulf %[[QK]], %{{.*}} fastmath<contract> : f32
// CHECK:           %[[BIAS:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK:           arith.addf %[[SCALED]], %[[BIAS]] fastmath<contract> : f32
func.func @bias(%q: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
                    outs(%o : tensor<1x2x?x64xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %d = arith.subi %j, %i : index
      %di = arith.index_cast %d : index to i64
      %df = arith.sitofp %di : i64 to f32
      %c = arith.constant 0.5 : f32
      %bias = arith.mulf %c, %df : f32
      %r = arith.addf %s, %bias fastmath<contract> : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}

// -----

// Without a score_mod the scale multiplication is plain (the fusion pass
// folds log2(e) into it).
// CHECK-LABEL: func.func @window
// CHECK:         linalg.generic {{.*}} {fa.role = "scores"}
// CHECK-NEXT:    ^bb0(%[[QK:.*]]: f32):
// CHECK:           arith.mulf %[[QK]], %{{.*}} : f32
// CHECK-NOT:       fastmath
// CHECK:           arith.select
func.func @window(%q: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
                    outs(%o : tensor<1x2x?x64xf16>)
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index):
      %w = arith.constant 64 : index
      %lo = arith.subi %i, %w : index
      %keep = arith.cmpi sgt, %j, %lo : index
      fa.yield %keep : i1
    } -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}
