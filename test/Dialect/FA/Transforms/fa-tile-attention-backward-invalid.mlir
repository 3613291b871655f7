// A score_mod the compiler cannot differentiate is one error at the op and a
// note at the op without a derivative rule; the IR is not printed.
// RUN: fa-opt %s -split-input-file --fa-tile-attention-backward -verify-diagnostics
// RUN: not fa-opt %s -split-input-file --fa-tile-attention-backward 2>&1 | FileCheck %s --implicit-check-not="see current operation" --implicit-check-not=scf.forall
// Bad options, before any IR is touched.
// RUN: not fa-opt %s "--fa-tile-attention-backward=block-m=-1" 2>&1 | FileCheck %s --check-prefix=NEG
// RUN: not fa-opt %s "--fa-tile-attention-backward=block-n=1000000" 2>&1 | FileCheck %s --check-prefix=HUGE
// RUN: not fa-opt %s "--fa-tile-attention-backward=query-block-m=-1" 2>&1 | FileCheck %s --check-prefix=QNEG
// RUN: not fa-opt %s "--fa-tile-attention-backward=dq=atomic" 2>&1 | FileCheck %s --check-prefix=DQ
// RUN: not fa-opt %s "--fa-tile-attention-backward=defaults-for=wgmma" 2>&1 | FileCheck %s --check-prefix=DEFAULTS

// NEG: error: tile sizes must be positive (or 0 for the default), got block-m=-1 block-n=0
// HUGE: error: tile sizes must be at most 65536, got block-m=0 block-n=1000000
// QNEG: error: tile sizes must be positive (or 0 for the default), got query-block-m=-1 query-block-n=0
// DQ: error: dq must be auto, accumulate or stage, got 'atomic'
// DEFAULTS: error: defaults-for must be mma-sync, hopper-ws or auto, got 'wgmma'
// CHECK: error: cannot differentiate the score_mod with respect to the score: 'arith.fptosi'
// CHECK: error: cannot differentiate the score_mod with respect to the score: 'math.powf'
// CHECK: error: cannot differentiate the score_mod with respect to the score: 'math.round'

// A float-to-integer conversion of the score (a quantized score).
func.func @quantized(%q: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>) -> tensor<1x2x?x64xf16> {
  // expected-error @+1 {{cannot differentiate the score_mod with respect to the score: 'arith.fptosi' uses a value that depends on the score and has no derivative rule}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        // expected-note @+1 {{the op that cannot be differentiated}}
        %n = arith.fptosi %s : f32 to i32
        %f = arith.sitofp %n : i32 to f32
        fa.yield %f : f32
      } -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xf16>
}

// -----

// Inside a branch: the op in the scf.if is named.
func.func @power(%q: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>) -> tensor<1x2x?x64xf16> {
  // expected-error @+1 {{'math.powf'}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        %zero = arith.constant 0.0 : f32
        %pos = arith.cmpf ogt, %s, %zero : f32
        %r = scf.if %pos -> (f32) {
          %two = arith.constant 2.0 : f32
          // expected-note @+1 {{the op that cannot be differentiated}}
          %p = math.powf %s, %two : f32
          scf.yield %p : f32
        } else {
          scf.yield %s : f32
        }
        fa.yield %r : f32
      } -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xf16>
}

// -----

// Through a value computed from the score (rounding has no useful
// derivative), with a mask_mod beside it (which needs none).
func.func @rounded(%q: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>) -> tensor<1x2x?x64xf16> {
  // expected-error @+1 {{'math.round'}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        %half = arith.constant 0.5 : f32
        %x = arith.mulf %s, %half : f32
        // expected-note @+1 {{the op that cannot be differentiated}}
        %r = math.round %x : f32
        fa.yield %r : f32
      }
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index):
        %keep = arith.cmpi sle, %j, %i : index
        fa.yield %keep : i1
      } -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xf16>
}
