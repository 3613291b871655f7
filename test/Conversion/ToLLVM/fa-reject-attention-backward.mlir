// fa-reject-attention-backward fails at the first fa.attention_backward and
// changes nothing else; fa-lower-to-gpu reports the op the same way.
// RUN: fa-opt %s -split-input-file --fa-reject-attention-backward -verify-diagnostics
// RUN: not fa-opt %s -split-input-file --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=GPU --implicit-check-not="see current operation"

// A module without the op passes unchanged.
// RUN: fa-opt %s -split-input-file --fa-reject-attention-backward -verify-diagnostics | FileCheck %s --check-prefix=KEEP
// KEEP: func.func @forward
func.func @forward(%q: tensor<1x2x64x64xf16>) -> tensor<1x2x64x64xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>) outs(%q : tensor<1x2x64x64xf16>) -> tensor<1x2x64x64xf16>
  return %0 : tensor<1x2x64x64xf16>
}

// -----

func.func @backward(%q: tensor<1x2x64x64xf16>, %lse: tensor<1x2x64xf32>) -> tensor<1x2x64x64xf16> {
  // GPU: :[[@LINE+2]]:10: error: fa.attention_backward has no GPU lowering yet (the backward pass is issue 14)
  // expected-error @+1 {{fa.attention_backward has no CPU lowering yet (the backward pass is issue 14)}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64xf32>) outs(%q, %q, %q : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>) -> tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>
  return %0#0 : tensor<1x2x64x64xf16>
}
