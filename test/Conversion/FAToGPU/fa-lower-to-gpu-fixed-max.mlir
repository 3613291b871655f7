// A kept score in a static range [lo, hi] (interval arithmetic over the
// scores body, whatever Q K^T holds) lets the softmax subtract hi instead of
// the running row maximum, when every visible probability 2^((s - hi) *
// scale) stays a normal number of P's type (span 100 in log2 units for
// bf16, 12 for f16): no row max, no rescaling of O. The probabilities are
// rounded to P's type before they are summed (the normalizer of O); with
// an LSE output the unrounded ones are summed too, for the LSE. Both
// strategies build it from the shared softmax.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" --canonicalize --cse | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=mma-sync" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=mma-sync" --canonicalize --cse | FileCheck %s

// Softcap 30 at bf16: tanh is in [-1, 1] and the kept scale is 30 log2(e)
// = 43.28, a span of 86.6: p = exp2(t * 43.28 - 43.28). Each pair of
// probabilities is rounded to bf16 (the high halves of the packed word)
// before it is summed.
// CHECK-LABEL: func.func @softcap_bf16
// CHECK:       gpu.func
// CHECK-DAG:     %[[C:.*]] = arith.constant 43.2808495 : f32
// CHECK-DAG:     %[[NEG:.*]] = arith.constant -43.2808495 : f32
// CHECK-NOT:     arith.maxnumf
// CHECK:         %[[X:.*]] = math.fma %{{.*}}, %[[C]], %[[NEG]] : f32
// CHECK-NEXT:    math.exp2 %[[X]] fastmath<afn> : f32
// CHECK-NOT:     arith.maxnumf
// CHECK:         %[[PAIR:.*]] = arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK-NEXT:    %[[WORDS:.*]] = vector.bitcast %[[PAIR]] : vector<2xbf16> to vector<1xi32>
// CHECK-NEXT:    %[[WORD:.*]] = vector.extract %[[WORDS]][0] : i32 from vector<1xi32>
// CHECK-NEXT:    %[[LO:.*]] = arith.shli %[[WORD]], %{{.*}} : i32
// CHECK-NEXT:    %[[PLO:.*]] = arith.bitcast %[[LO]] : i32 to f32
// CHECK-NEXT:    %[[HI:.*]] = arith.andi %[[WORD]], %{{.*}} : i32
// CHECK-NEXT:    %[[PHI:.*]] = arith.bitcast %[[HI]] : i32 to f32
// CHECK-NEXT:    arith.addf %[[PLO]], %[[PHI]] : f32
// CHECK-NOT:     arith.maxnumf
// CHECK:         gpu.return
func.func @softcap_bf16(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>, %o: tensor<1x2x?x64xbf16>) -> tensor<1x2x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>) outs(%o : tensor<1x2x?x64xbf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 0.0333333351 : f32
      %cap = arith.constant 30.0 : f32
      %x = arith.mulf %s, %c : f32
      %t = math.tanh %x fastmath<afn> : f32
      %r = arith.mulf %t, %cap : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x64xbf16>
  return %0 : tensor<1x2x?x64xbf16>
}

// -----

// With an LSE output the unrounded probabilities are summed as they come
// (the LSE's sum) beside the rounded ones (O's normalizer).
// CHECK-LABEL: func.func @softcap_lse
// CHECK:       gpu.func
// CHECK-NOT:     arith.maxnumf
// CHECK:         %[[P0:.*]] = math.exp2 %{{.*}} fastmath<afn> : f32
// CHECK-NEXT:    math.fma
// CHECK-NEXT:    %[[P1:.*]] = math.exp2 %{{.*}} fastmath<afn> : f32
// CHECK-NEXT:    arith.addf %[[P0]], %[[P1]] : f32
// CHECK:         arith.shli
// CHECK:         math.log
// CHECK:         gpu.return
func.func @softcap_lse(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>, %o: tensor<1x2x?x64xbf16>, %l: tensor<1x2x?xf32>) -> (tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>) {
  %0:2 = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>) outs(%o, %l : tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 0.0333333351 : f32
      %cap = arith.constant 30.0 : f32
      %x = arith.mulf %s, %c : f32
      %t = math.tanh %x fastmath<afn> : f32
      %r = arith.mulf %t, %cap : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>
  return %0#0, %0#1 : tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>
}

// -----

// A scaled sigmoid, 10 / (1 + exp(-s)), is in [0, 10] (a quotient by
// [1, inf)): span 10 log2(e) = 14.4, fixed max 10.
// CHECK-LABEL: func.func @sigmoid
// CHECK:       gpu.func
// CHECK-DAG:     arith.constant -14.4269505 : f32
// CHECK-NOT:     arith.maxnumf
// CHECK:         gpu.return
func.func @sigmoid(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>, %o: tensor<1x2x?x64xbf16>) -> tensor<1x2x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>) outs(%o : tensor<1x2x?x64xbf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %one = arith.constant 1.0 : f32
      %ten = arith.constant 10.0 : f32
      %n = arith.negf %s : f32
      %e = math.exp %n : f32
      %d = arith.addf %one, %e : f32
      %r = arith.divf %ten, %d : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x64xbf16>
  return %0 : tensor<1x2x?x64xbf16>
}

// -----

// The same softcap at f16: a span of 86.6 would make most probabilities
// subnormal in f16 (normal down to 2^-14), so the row maximum stays.
// CHECK-LABEL: func.func @softcap_f16
// CHECK:       gpu.func
// CHECK:         arith.maxnumf
// CHECK:         gpu.return
func.func @softcap_f16(%q: tensor<1x2x?x64xf16>, %k: tensor<1x2x?x64xf16>, %v: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) outs(%o : tensor<1x2x?x64xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 0.0333333351 : f32
      %cap = arith.constant 30.0 : f32
      %x = arith.mulf %s, %c : f32
      %t = math.tanh %x fastmath<afn> : f32
      %r = arith.mulf %t, %cap : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}

// -----

// The score itself plus a bounded term is unbounded: the row maximum stays.
// CHECK-LABEL: func.func @unbounded
// CHECK:       gpu.func
// CHECK:         arith.maxnumf
// CHECK:         gpu.return
func.func @unbounded(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>, %o: tensor<1x2x?x64xbf16>) -> tensor<1x2x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>) outs(%o : tensor<1x2x?x64xbf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %t = math.tanh %s fastmath<afn> : f32
      %r = arith.addf %s, %t : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x64xbf16>
  return %0 : tensor<1x2x?x64xbf16>
}

// -----

// A clamp to [-3, 3] at f16: span 6 log2(e) = 8.7 fits f16's normal range
// (12), so f16 gets the fixed maximum too; its pairs widen with extf.
// CHECK-LABEL: func.func @clamp_f16
// CHECK:       gpu.func
// CHECK-NOT:     arith.maxnumf
// CHECK:         %[[PAIR:.*]] = arith.truncf %{{.*}} : vector<2xf32> to vector<2xf16>
// CHECK:         arith.extf %{{.*}} : vector<2xf16> to vector<2xf32>
// CHECK-NOT:     arith.maxnumf
// CHECK:         gpu.return
func.func @clamp_f16(%q: tensor<1x2x?x64xf16>, %k: tensor<1x2x?x64xf16>, %v: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) outs(%o : tensor<1x2x?x64xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %lo = arith.constant -3.0 : f32
      %hi = arith.constant 3.0 : f32
      %x = arith.maximumf %s, %lo : f32
      %r = arith.minimumf %x, %hi : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}
