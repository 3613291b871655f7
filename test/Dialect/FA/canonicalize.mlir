// RUN: fa-opt %s -split-input-file -canonicalize | FileCheck %s

// A log-sum-exp that nobody reads is dropped, so the kernel does not compute it.
// CHECK-LABEL: func.func @drop_unused_lse
// CHECK:         %[[O:.*]] = fa.attention ins({{.*}}) outs(%{{.*}} : tensor<1x4x64x64xf16>) scale = 1.250000e-01 causal = <top_left> -> tensor<1x4x64x64xf16>
// CHECK-NEXT:    return %[[O]]
func.func @drop_unused_lse(%q: tensor<1x4x64x64xf16>, %o: tensor<1x4x64x64xf16>,
                           %l: tensor<1x4x64xf32>) -> tensor<1x4x64x64xf16> {
  %0, %1 = fa.attention ins(%q, %q, %q : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>)
                        outs(%o, %l : tensor<1x4x64x64xf16>, tensor<1x4x64xf32>)
                        scale = 0.125 causal = <top_left> -> tensor<1x4x64x64xf16>, tensor<1x4x64xf32>
  return %0 : tensor<1x4x64x64xf16>
}

// -----

// A used log-sum-exp stays.
// CHECK-LABEL: func.func @keep_used_lse
// CHECK:         %[[O:.*]], %[[L:.*]] = fa.attention
// CHECK:         return %[[O]], %[[L]]
func.func @keep_used_lse(%q: tensor<1x4x64x64xf16>, %o: tensor<1x4x64x64xf16>,
                         %l: tensor<1x4x64xf32>) -> (tensor<1x4x64x64xf16>, tensor<1x4x64xf32>) {
  %0, %1 = fa.attention ins(%q, %q, %q : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>)
                        outs(%o, %l : tensor<1x4x64x64xf16>, tensor<1x4x64xf32>)
                        -> tensor<1x4x64x64xf16>, tensor<1x4x64xf32>
  return %0, %1 : tensor<1x4x64x64xf16>, tensor<1x4x64xf32>
}

// -----

// fa.attention has no side effects: an unused one disappears.
// CHECK-LABEL: func.func @dead_attention
// CHECK-NOT:     fa.attention
// CHECK:         return
func.func @dead_attention(%q: tensor<1x4x64x64xf16>, %o: tensor<1x4x64x64xf16>) {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>)
                    outs(%o : tensor<1x4x64x64xf16>) -> tensor<1x4x64x64xf16>
  return
}

// -----

// Casts that only erase static sizes are folded into Q, K and V.
// CHECK-LABEL: func.func @fold_input_casts
// CHECK-SAME:    (%[[Q:[a-z0-9]+]]: tensor<2x8x128x64xf16>, %[[K:[a-z0-9]+]]: tensor<2x2x256x64xf16>, %[[V:[a-z0-9]+]]: tensor<2x2x256x64xf16>
// CHECK-NOT:     tensor.cast
// CHECK:         fa.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x8x128x64xf16>, tensor<2x2x256x64xf16>, tensor<2x2x256x64xf16>) outs(%{{.*}} : tensor<?x8x?x64xf16>)
func.func @fold_input_casts(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x256x64xf16>,
                            %v: tensor<2x2x256x64xf16>, %o: tensor<?x8x?x64xf16>)
    -> tensor<?x8x?x64xf16> {
  %qc = tensor.cast %q : tensor<2x8x128x64xf16> to tensor<?x8x?x64xf16>
  %kc = tensor.cast %k : tensor<2x2x256x64xf16> to tensor<?x?x?x64xf16>
  %vc = tensor.cast %v : tensor<2x2x256x64xf16> to tensor<?x?x?x64xf16>
  %0 = fa.attention ins(%qc, %kc, %vc : tensor<?x8x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>)
                    outs(%o : tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16>
  return %0 : tensor<?x8x?x64xf16>
}

// -----

// A cast whose source contradicts another operand (batch 3 against the
// output's 2) is kept: folding it would produce an invalid op.
// CHECK-LABEL: func.func @keep_contradicting_cast
// CHECK:         %[[QC:.*]] = tensor.cast
// CHECK:         fa.attention ins(%[[QC]],
func.func @keep_contradicting_cast(%q: tensor<3x8x128x64xf16>, %k: tensor<2x2x256x64xf16>,
                                   %o: tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16> {
  %qc = tensor.cast %q : tensor<3x8x128x64xf16> to tensor<?x8x128x64xf16>
  %0 = fa.attention ins(%qc, %k, %k : tensor<?x8x128x64xf16>, tensor<2x2x256x64xf16>, tensor<2x2x256x64xf16>)
                    outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return %0 : tensor<2x8x128x64xf16>
}

// -----

// Dropping an unused LSE keeps the regions and the captures.
// CHECK-LABEL: func.func @drop_lse_keep_mods
// CHECK:         fa.attention {{.*}} captures(%{{.*}} : tensor<4xf32>) score_mod {
// CHECK:           tensor.extract
// CHECK:         } mask_mod {
// CHECK:           arith.cmpi sle
// CHECK:         } -> tensor<1x4x64x64xf16>
func.func @drop_lse_keep_mods(%q: tensor<1x4x64x64xf16>, %o: tensor<1x4x64x64xf16>,
                              %l: tensor<1x4x64xf32>, %c: tensor<4xf32>) -> tensor<1x4x64x64xf16> {
  %0, %1 = fa.attention ins(%q, %q, %q : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>)
                        outs(%o, %l : tensor<1x4x64x64xf16>, tensor<1x4x64xf32>)
                        captures(%c : tensor<4xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %cc: tensor<4xf32>):
      %x = tensor.extract %cc[%h] : tensor<4xf32>
      %r = arith.addf %s, %x : f32
      fa.yield %r : f32
    }
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index, %cc: tensor<4xf32>):
      %k = arith.cmpi sle, %j, %i : index
      fa.yield %k : i1
    } -> tensor<1x4x64x64xf16>, tensor<1x4x64xf32>
  return %0 : tensor<1x4x64x64xf16>
}

// -----

// A score_mod that returns the score and a mask_mod that keeps every pair
// are no modification: both go (and the kernels need not mask).
// CHECK-LABEL: func.func @drop_trivial_mods
// CHECK:         fa.attention
// CHECK-NOT:     score_mod
// CHECK-NOT:     mask_mod
// CHECK-SAME:    -> tensor<1x4x64x64xf16>
func.func @drop_trivial_mods(%q: tensor<1x4x64x64xf16>) -> tensor<1x4x64x64xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>)
                    outs(%q : tensor<1x4x64x64xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      fa.yield %s : f32
    }
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index):
      %t = arith.constant true
      fa.yield %t : i1
    } -> tensor<1x4x64x64xf16>
  return %0 : tensor<1x4x64x64xf16>
}

// -----

// Captures no region reads are dropped with their block arguments; the one
// that is read stays (and is renumbered).
// CHECK-LABEL: func.func @drop_unused_captures
// CHECK-SAME:    %{{.*}}: tensor<1x4x64x64xf16>, %{{.*}}: tensor<4xf32>, %[[USED:.*]]: tensor<8xi32>
// CHECK:         fa.attention {{.*}} captures(%[[USED]] : tensor<8xi32>) mask_mod {
// CHECK-NEXT:    ^bb0(%{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %[[ARG:.*]]: tensor<8xi32>):
// CHECK:           tensor.extract %[[ARG]]
func.func @drop_unused_captures(%q: tensor<1x4x64x64xf16>, %unused: tensor<4xf32>,
                                %used: tensor<8xi32>) -> tensor<1x4x64x64xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>)
                    outs(%q : tensor<1x4x64x64xf16>)
                    captures(%unused, %used : tensor<4xf32>, tensor<8xi32>)
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index, %u: tensor<4xf32>, %d: tensor<8xi32>):
      %x = tensor.extract %d[%h] : tensor<8xi32>
      %z = arith.constant 0 : i32
      %k = arith.cmpi ne, %x, %z : i32
      fa.yield %k : i1
    } -> tensor<1x4x64x64xf16>
  return %0 : tensor<1x4x64x64xf16>
}

// -----

// A trivial region that was the only reader of a capture takes the capture
// with it.
// CHECK-LABEL: func.func @drop_trivial_with_capture
// CHECK:         fa.attention
// CHECK-NOT:     captures
// CHECK-SAME:    -> tensor<1x4x64x64xf16>
func.func @drop_trivial_with_capture(%q: tensor<1x4x64x64xf16>, %c: tensor<4xf32>) -> tensor<1x4x64x64xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>)
                    outs(%q : tensor<1x4x64x64xf16>) captures(%c : tensor<4xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %cc: tensor<4xf32>):
      fa.yield %s : f32
    } -> tensor<1x4x64x64xf16>
  return %0 : tensor<1x4x64x64xf16>
}
