// The backward's default tiles for the wgmma kernel (defaults-for=hopper-ws,
// or auto for f16/bf16 up to D = 128; dq=auto then accumulates): 64 x 128
// at D = 128; 128 x 128 at D = 64, except where 128-query blocks spilled
// and ran slower on the H200: a score_mod whose derivative with respect to
// the score varies (the kernel keeps S^T for it), or a block-n other than
// 128 asked for. A derivative that is a constant (a bias: ALiBi) keeps 128.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=hopper-ws" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=auto" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=hopper-ws block-n=64" | FileCheck %s --check-prefix=BN64
// RUN: fa-opt %s -split-input-file "--fa-tile-attention-backward=dq=accumulate defaults-for=mma-sync" | FileCheck %s --check-prefix=MMA

// CHECK-LABEL: func.func @plain
// CHECK: fa.attention_backward_tile = {block_m = 128 : i64, block_n = 128 : i64, stage = "fused"}
// BN64-LABEL: func.func @plain
// BN64: fa.attention_backward_tile = {block_m = 64 : i64, block_n = 64 : i64, stage = "fused"}
// MMA-LABEL: func.func @plain
// MMA: fa.attention_backward_tile = {block_m = 64 : i64, block_n = 128 : i64, stage = "fused"}
func.func @plain(%q: tensor<1x2x?x64xbf16>, %o: tensor<1x2x?x64xbf16>, %lse: tensor<1x2x?xf32>) -> tensor<1x2x?x64xbf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>) -> tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
  return %0#0 : tensor<1x2x?x64xbf16>
}

// -----

// CHECK-LABEL: func.func @bias
// CHECK: fa.attention_backward_tile = {block_m = 128 : i64, block_n = 128 : i64, stage = "fused"}
func.func @bias(%q: tensor<1x2x?x64xbf16>, %o: tensor<1x2x?x64xbf16>, %lse: tensor<1x2x?xf32>, %slopes: tensor<2xf32>) -> tensor<1x2x?x64xbf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>)
      captures(%slopes : tensor<2xf32>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %sl: tensor<2xf32>):
        %m = tensor.extract %sl[%h] : tensor<2xf32>
        %d = arith.subi %j, %i : index
        %di = arith.index_cast %d : index to i64
        %df = arith.sitofp %di : i64 to f32
        %bias = arith.mulf %m, %df : f32
        %r = arith.addf %s, %bias : f32
        fa.yield %r : f32
      } -> tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
  return %0#0 : tensor<1x2x?x64xbf16>
}

// -----

// CHECK-LABEL: func.func @softcap
// CHECK: fa.attention_backward_tile = {block_m = 64 : i64, block_n = 128 : i64, stage = "fused"}
func.func @softcap(%q: tensor<1x2x?x64xbf16>, %o: tensor<1x2x?x64xbf16>, %lse: tensor<1x2x?xf32>) -> tensor<1x2x?x64xbf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        %cap = arith.constant 30.0 : f32
        %x = arith.divf %s, %cap : f32
        %t = math.tanh %x : f32
        %r = arith.mulf %cap, %t : f32
        fa.yield %r : f32
      } -> tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
  return %0#0 : tensor<1x2x?x64xbf16>
}

// -----

// CHECK-LABEL: func.func @d128
// CHECK: fa.attention_backward_tile = {block_m = 64 : i64, block_n = 128 : i64, stage = "fused"}
func.func @d128(%q: tensor<1x2x?x128xf16>, %o: tensor<1x2x?x128xf16>, %lse: tensor<1x2x?xf32>) -> tensor<1x2x?x128xf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x?x128xf16>, tensor<1x2x?x128xf16>, tensor<1x2x?x128xf16>, tensor<1x2x?x128xf16>, tensor<1x2x?x128xf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x128xf16>, tensor<1x2x?x128xf16>, tensor<1x2x?x128xf16>) -> tensor<1x2x?x128xf16>, tensor<1x2x?x128xf16>, tensor<1x2x?x128xf16>
  return %0#0 : tensor<1x2x?x128xf16>
}
