// Every diagnostic of the fa.attention verifier and parser, one case each.
// RUN: fa-opt %s -split-input-file -verify-diagnostics

func.func @f(%q: tensor<8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op expected query to have rank 4 [B, Hq, Nq, D], got rank 3}}
  %r = fa.attention ins(%q, %k, %v : tensor<8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<1x2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op expected key to have rank 4 [B, Hkv, Nk, D], got rank 5}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<1x2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op expected value to have rank 4 [B, Hkv, Nk, Dv], got rank 3}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128xf16>) {
  // expected-error @+1 {{'fa.attention' op expected output to have rank 4 [B, Hq, Nq, Dv], got rank 3}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128xf16>) -> tensor<2x8x128xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf64>, %k: tensor<2x2x128x64xf64>, %v: tensor<2x2x128x64xf64>, %o: tensor<2x8x128x64xf64>) {
  // expected-error @+1 {{'fa.attention' op query element type 'f64' is not supported; expected f16, bf16 or f32}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf64>, tensor<2x2x128x64xf64>, tensor<2x2x128x64xf64>) outs(%o : tensor<2x8x128x64xf64>) -> tensor<2x8x128x64xf64>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xi8>, %k: tensor<2x2x128x64xi8>, %v: tensor<2x2x128x64xi8>, %o: tensor<2x8x128x64xi8>) {
  // expected-error @+1 {{'fa.attention' op query element type 'i8' is not supported; expected f16, bf16 or f32}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xi8>, tensor<2x2x128x64xi8>, tensor<2x2x128x64xi8>) outs(%o : tensor<2x8x128x64xi8>) -> tensor<2x8x128x64xi8>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xbf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op key element type 'bf16' does not match query element type 'f16'}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xbf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf32>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op value element type 'f32' does not match query element type 'f16'}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf32>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

// The output is in the input precision; accumulation is f32 internally.
func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf32>) {
  // expected-error @+1 {{'fa.attention' op output element type 'f32' does not match query element type 'f16'}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf32>) -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x?xf16>, %k: tensor<2x2x128x?xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op head dimension of query must be static, got a dynamic size}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x?xf16>, tensor<2x2x128x?xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x?xf16>, %o: tensor<2x8x128x?xf16>) {
  // expected-error @+1 {{'fa.attention' op head dimension of value must be static, got a dynamic size}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x?xf16>) outs(%o : tensor<2x8x128x?xf16>) -> tensor<2x8x128x?xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x0xf16>, %k: tensor<2x2x128x0xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op head dimension of query must be positive, got 0}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x0xf16>, tensor<2x2x128x0xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x128xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op head dimension of key (128) does not match query (64)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x128xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x32xf16>) {
  // expected-error @+1 {{'fa.attention' op head dimension of output (32) does not match value (64)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x32xf16>) -> tensor<2x8x128x32xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<3x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op batch size of key (3) does not match query (2)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<3x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op batch size of value (1) does not match query (2)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<1x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<4x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op batch size of output (4) does not match query (2)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<4x8x128x64xf16>) -> tensor<4x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x128x64xf16>, %k: tensor<2x0x128x64xf16>, %v: tensor<2x0x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op number of key/value heads must be positive, got 0}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x128x64xf16>, tensor<2x0x128x64xf16>, tensor<2x0x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x4x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op number of heads of value (4) does not match key (2)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x4x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x6x128x64xf16>, %k: tensor<2x4x128x64xf16>, %v: tensor<2x4x128x64xf16>, %o: tensor<2x6x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op number of query heads (6) must be a multiple of the number of key/value heads (4)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x6x128x64xf16>, tensor<2x4x128x64xf16>, tensor<2x4x128x64xf16>) outs(%o : tensor<2x6x128x64xf16>) -> tensor<2x6x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x64x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op sequence length of value (64) does not match key (128)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x64x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x100x64xf16>) {
  // expected-error @+1 {{'fa.attention' op sequence length of output (100) does not match query (128)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x100x64xf16>) -> tensor<2x8x100x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x4x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op number of heads of output (4) does not match query (8)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x4x128x64xf16>) -> tensor<2x4x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>, %l: tensor<2x8x128x1xf32>) {
  // expected-error @+1 {{'fa.attention' op expected lse to have rank 3 [B, Hq, Nq], got rank 4}}
  %r:2 = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o, %l : tensor<2x8x128x64xf16>, tensor<2x8x128x1xf32>) -> tensor<2x8x128x64xf16>, tensor<2x8x128x1xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>, %l: tensor<2x8x128xf16>) {
  // expected-error @+1 {{'fa.attention' op lse element type must be f32, got 'f16'}}
  %r:2 = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o, %l : tensor<2x8x128x64xf16>, tensor<2x8x128xf16>) -> tensor<2x8x128x64xf16>, tensor<2x8x128xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>, %l: tensor<2x8x127xf32>) {
  // expected-error @+1 {{'fa.attention' op sequence length of lse (127) does not match query (128)}}
  %r:2 = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o, %l : tensor<2x8x128x64xf16>, tensor<2x8x127xf32>) -> tensor<2x8x128x64xf16>, tensor<2x8x127xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>, %l: tensor<2x1x128xf32>) {
  // expected-error @+1 {{'fa.attention' op number of heads of lse (1) does not match query (8)}}
  %r:2 = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o, %l : tensor<2x8x128x64xf16>, tensor<2x1x128xf32>) -> tensor<2x8x128x64xf16>, tensor<2x1x128xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op scale must be positive, got -1}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) scale = -1.0 -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op scale must be positive, got 0}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) scale = 0.0 -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op scale must be finite, got inf}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) scale = 0x7F800000 -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op scale must be at most 2.358657e+38 (its product with log2(e) is an f32), got 3.000000e+38}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) scale = 3.0e38 -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op scale must be at least 1.175494e-38 (the smallest normal f32; kernels flush smaller values to zero), got 1.000000e-39}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) scale = 1.0e-39 -> tensor<2x8x128x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op scale must be finite, got nan}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) scale = 0x7FC00000 -> tensor<2x8x128x64xf16>
  return
}

// -----

// Destination style: each result has the type of its init.
func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op result #0 has type 'tensor<2x8x128x64xbf16>' but its init has type 'tensor<2x8x128x64xf16>'}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xbf16>
  return
}

// -----

// A log-sum-exp result needs a log-sum-exp init.
func.func @f(%q: tensor<2x8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  // expected-error @+1 {{'fa.attention' op expected 1 result (one per init), got 2}}
  %r:2 = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>, tensor<2x8x128xf32>
  return
}

// -----

// The causal alignment must be named; there is no implicit default.
func.func @f(%q: tensor<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>) {
  // expected-error @+2 {{expected ::mlir::fa::CausalAlignment to be one of: top_left, bottom_right}}
  // expected-error @+1 {{failed to parse FA_CausalAlignmentAttr parameter 'value'}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%o : tensor<1x1x16x16xf16>) causal = <upper_left> -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<*xf16>, %o: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{'fa.attention' op operand #0 must be ranked tensor of any type values, but got 'tensor<*xf16>'}}
  %r = "fa.attention"(%q, %q, %q, %o) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0>}> ({}, {}) : (tensor<*xf16>, tensor<*xf16>, tensor<*xf16>, tensor<1x1x16x16xf16>) -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: memref<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{'fa.attention' op operand #0 must be ranked tensor of any type values, but got 'memref<1x1x16x16xf16>'}}
  %r = "fa.attention"(%q, %q, %q, %o) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0>}> ({}, {}) : (memref<1x1x16x16xf16>, memref<1x1x16x16xf16>, memref<1x1x16x16xf16>, tensor<1x1x16x16xf16>) -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{invalid properties {scale = 2 : i32} for op fa.attention: Invalid attribute `scale` in property conversion: 2 : i32}}
  %r = "fa.attention"(%q, %q, %q, %o) <{scale = 2 : i32}> : (tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{'fa.attention' op expected 1 or more results}}
  "fa.attention"(%q, %q, %q, %o) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0>}> ({}, {}) : (tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) -> ()
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>, %l: tensor<1x1x16xf32>) {
  // expected-error @+1 {{'fa.attention' op expected 2 results (one per init), got 1}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%o, %l : tensor<1x1x16x16xf16>, tensor<1x1x16xf32>) -> tensor<1x1x16x16xf16>
  return
}

// -----
// score_mod / mask_mod regions and captures.

func.func @f(%q: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{'fa.attention' op score_mod expects 5 block arguments (score: f32, b, h, q_idx, kv_idx: index, then one per capture), got 4}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index):
      fa.yield %s : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{'fa.attention' op block argument #0 of score_mod has type 'f16', expected 'f32'}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f16, %b: index, %h: index, %i: index, %j: index):
      %x = arith.extf %s : f16 to f32
      fa.yield %x : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{'fa.attention' op block argument #3 of mask_mod has type 'i64', expected 'index'}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: i64):
      %t = arith.constant true
      fa.yield %t : i1
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      // expected-error @+1 {{'fa.yield' op in score_mod must yield 'f32', got 'index'}}
      fa.yield %i : index
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 1.0 : f32
      // expected-error @+1 {{'fa.yield' op in mask_mod must yield 'i1', got 'f32'}}
      fa.yield %c : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{'fa.attention' op score_mod must end with fa.yield}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      llvm.unreachable
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// Side effects (a memref load) are refused, naming the op.
func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %m = memref.alloca() : memref<1xf32>
      // expected-error @-1 {{'memref.alloca' op is not allowed in the score_mod of fa.attention: only side-effect-free scalar ops (arith, math, tensor.extract/tensor.dim of a capture, scf.if) may appear there}}
      fa.yield %s : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// An op of an allowed dialect that is not on the list (math.fpowi has no
// scalar meaning every consumer implements).
func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 2 : i32
      // expected-error @+1 {{'math.fpowi' op is not allowed in the score_mod of fa.attention}}
      %p = math.fpowi %s, %c : f32, i32
      fa.yield %p : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// Vectors are not scalars.
func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %v = arith.constant dense<1.0> : vector<2xf32>
      // expected-error @-1 {{'arith.constant' op in the score_mod of fa.attention produces 'vector<2xf32>'; only scalars (i1, i8, i16, i32, i64, index, f16, bf16, f32, f64) are allowed}}
      fa.yield %s : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// Scalars of other widths (i128, f128, f8) have no lowering on every path.
func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %w = arith.fptosi %s : f32 to i128
      // expected-error @-1 {{'arith.fptosi' op in the score_mod of fa.attention produces 'i128'; only scalars (i1, i8, i16, i32, i64, index, f16, bf16, f32, f64) are allowed}}
      fa.yield %s : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %w = arith.truncf %s : f32 to f8E4M3FN
      // expected-error @-1 {{'arith.truncf' op in the score_mod of fa.attention produces 'f8E4M3FN'; only scalars}}
      fa.yield %s : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// Regions are isolated from above: values come in through captures.
func.func @f(%q: tensor<1x1x16x16xf16>, %t: f32) {
  // expected-note @+1 {{required by region isolation constraints}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      // expected-error @+1 {{using value defined outside the region}}
      %x = arith.addf %s, %t : f32
      fa.yield %x : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>, %c: tensor<4xindex>) {
  // expected-error @+1 {{'fa.attention' op capture #0 has element type 'index'; captures hold i1, i8, i16, i32, i64, f16, bf16, f32 or f64}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    captures(%c : tensor<4xindex>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %cc: tensor<4xindex>):
      fa.yield %s : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>, %c: tensor<4xf32>) {
  // expected-error @+1 {{'fa.attention' op has 1 captures but no score_mod or mask_mod region to read them}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    captures(%c : tensor<4xf32>) -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>, %c: tensor<4xf32>) {
  // expected-error @+1 {{'fa.attention' op block argument #5 of score_mod has type 'tensor<4xi32>', expected 'tensor<4xf32>' (the type of its capture)}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    captures(%c : tensor<4xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %cc: tensor<4xi32>):
      fa.yield %s : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// A capture's rank decides how many indices tensor.extract takes.
func.func @f(%q: tensor<1x1x16x16xf16>, %c: tensor<?x?xf32>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    captures(%c : tensor<?x?xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %cc: tensor<?x?xf32>):
      // expected-error @+1 {{'tensor.extract' op incorrect number of indices for extract_element}}
      %x = tensor.extract %cc[%h] : tensor<?x?xf32>
      fa.yield %x : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// A constant index outside a capture's static size (here inside an scf.if
// of the mask_mod, after an in-bounds read): a read past the capture.
func.func @f(%q: tensor<1x1x16x16xf16>, %c: tensor<2x?xi32>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    captures(%c : tensor<2x?xi32>)
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index, %cc: tensor<2x?xi32>):
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %t = arith.constant true
      %first = tensor.extract %cc[%c1, %j] : tensor<2x?xi32>
      %keep = scf.if %t -> i1 {
        // expected-error @+1 {{'tensor.extract' op in the mask_mod of fa.attention reads index 2 of dimension 0 of 'tensor<2x?xi32>', outside the tensor}}
        %x = tensor.extract %cc[%c2, %i] : tensor<2x?xi32>
        %same = arith.cmpi eq, %x, %first : i32
        scf.yield %same : i1
      } else {
        scf.yield %t : i1
      }
      fa.yield %keep : i1
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// A negative constant index is never inside a capture, whatever its size.
func.func @f(%q: tensor<1x1x16x16xf16>, %c: tensor<?xf32>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    captures(%c : tensor<?xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %cc: tensor<?xf32>):
      %m1 = arith.constant -1 : index
      // expected-error @+1 {{'tensor.extract' op in the score_mod of fa.attention reads index -1 of dimension 0 of 'tensor<?xf32>', outside the tensor}}
      %x = tensor.extract %cc[%m1] : tensor<?xf32>
      %r = arith.addf %s, %x : f32
      fa.yield %r : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// tensor.dim of a dimension the capture does not have.
func.func @f(%q: tensor<1x1x16x16xf16>, %c: tensor<?xf32>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    captures(%c : tensor<?xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %cc: tensor<?xf32>):
      %c3 = arith.constant 3 : index
      // expected-error @+1 {{'tensor.dim' op in the score_mod of fa.attention reads dimension 3 of 'tensor<?xf32>', of rank 1}}
      %n = tensor.dim %cc, %c3 : tensor<?xf32>
      %x = arith.index_cast %n : index to i64
      %f = arith.sitofp %x : i64 to f32
      %r = arith.addf %s, %f : f32
      fa.yield %r : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// tensor.extract may read only captures, not tensors made in the region.
func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %t = tensor.from_elements %s : tensor<1xf32>
      // expected-error @-1 {{'tensor.from_elements' op is not allowed in the score_mod of fa.attention}}
      fa.yield %s : f32
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// fa.yield belongs at the end of the region, not inside scf.if.
func.func @f(%q: tensor<1x1x16x16xf16>) {
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%q : tensor<1x1x16x16xf16>)
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index):
      %c = arith.cmpi slt, %j, %i : index
      %x = scf.if %c -> (i1) {
        // expected-error @+1 {{'fa.yield' op expects parent op to be one of 'fa.attention, fa.attention_backward'}}
        fa.yield %c : i1
      } else {
        scf.yield %c : i1
      }
      fa.yield %x : i1
    } -> tensor<1x1x16x16xf16>
  return
}

// -----

// fa.yield outside fa.attention.
func.func @f(%x: f32) {
  // expected-error @+1 {{'fa.yield' op expects parent op to be one of 'fa.attention, fa.attention_backward'}}
  fa.yield %x : f32
}

// -----

func.func @tensor_map_box_rank(%m: memref<2x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) -> !llvm.ptr {
  // expected-error @below {{box must have one size per dimension of the buffer (rank 1 to 5), got 3 for rank 4}}
  %0 = fa.tensor_map %m box [64, 128, 1] : memref<2x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>> -> !llvm.ptr
  return %0 : !llvm.ptr
}

// -----

func.func @tensor_map_box_width(%m: memref<2x4x?x128xbf16>) -> !llvm.ptr {
  // expected-error @below {{the innermost box size must span a multiple of 16 bytes, at most 128 (the 128-byte swizzle), got 128 elements}}
  %0 = fa.tensor_map %m box [128, 64, 1, 1] : memref<2x4x?x128xbf16> -> !llvm.ptr
  return %0 : !llvm.ptr
}

// -----

func.func @tensor_map_element(%m: memref<2x4x?x128xf64>) -> !llvm.ptr {
  // expected-error @below {{maps f16, bf16 or f32 buffers, got 'f64'}}
  %0 = fa.tensor_map %m box [16, 64, 1, 1] : memref<2x4x?x128xf64> -> !llvm.ptr
  return %0 : !llvm.ptr
}

// -----

func.func @tensor_map_f32_box(%m: memref<2x4x?x128xf32>) -> !llvm.ptr {
  // expected-error @below {{the innermost box size must span a multiple of 16 bytes, at most 128 (the 128-byte swizzle), got 64 elements}}
  %0 = fa.tensor_map %m box [64, 16, 1, 1] : memref<2x4x?x128xf32> -> !llvm.ptr
  return %0 : !llvm.ptr
}

// -----

func.func @tensor_map_result(%m: memref<2x4x?x128xf16>) -> i64 {
  // expected-error @below {{result must be an !llvm.ptr (the map's host address), got 'i64'}}
  %0 = fa.tensor_map %m box [64, 64, 1, 1] : memref<2x4x?x128xf16> -> i64
  return %0 : i64
}

// -----

func.func @tensor_map_stride(%m: memref<2x4x?x128xf16, strided<[?, ?, ?, 2]>>) -> !llvm.ptr {
  // expected-error @below {{the buffer's innermost stride must be 1}}
  %0 = fa.tensor_map %m box [64, 64, 1, 1] : memref<2x4x?x128xf16, strided<[?, ?, ?, 2]>> -> !llvm.ptr
  return %0 : !llvm.ptr
}

// -----

func.func @tensor_maps_count(%a: i64) attributes {fa.tensor_maps = 2 : i64} {
  // expected-error @above {{'fa.tensor_maps' must count trailing arguments of a function, got 2 : i64}}
  return
}

// -----

func.func @split_count_max(%tiles: index, %blocks: index) -> index {
  // expected-error @+1 {{attribute 'max_splits' failed to satisfy constraint}}
  %s = fa.split_count %tiles, %blocks max = 0
  return %s : index
}

// -----

// Variable-length batches: packed [T, H, D] operands, [Hq, Tq] LSE, i32
// offsets.
func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<2x?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<?xi32>, %ck: tensor<?xi32>, %m: index) {
  // expected-error @+1 {{'fa.attention' op expected key to have rank 3 [Tk, Hkv, D] (variable-length), got rank 4}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<2x?x2x64xf16>, tensor<?x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq, %ck : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %m -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %l: tensor<4x?xf32>, %cq: tensor<?xi32>, %ck: tensor<?xi32>, %m: index) {
  // expected-error @+1 {{'fa.attention' op number of heads of lse (4) does not match query (8)}}
  %r:2 = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>) outs(%o, %l : tensor<?x8x64xf16>, tensor<4x?xf32>) varlen(%cq, %ck : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %m -> tensor<?x8x64xf16>, tensor<4x?xf32>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<?xi64>, %ck: tensor<?xi32>, %m: index) {
  // expected-error @+1 {{'fa.attention' op cu_seqlens_q element type must be i32, got 'i64'}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq, %ck : tensor<?xi64>, tensor<?xi32>) max_seqlen_q = %m -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<3xi32>, %ck: tensor<4xi32>, %m: index) {
  // expected-error @+1 {{'fa.attention' op number of offsets of cu_seqlens_k (4) does not match cu_seqlens_q (3)}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq, %ck : tensor<3xi32>, tensor<4xi32>) max_seqlen_q = %m -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<0xi32>, %ck: tensor<0xi32>, %m: index) {
  // expected-error @+1 {{'fa.attention' op cu_seqlens_q must hold B + 1 >= 1 offsets, got 0}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq, %ck : tensor<0xi32>, tensor<0xi32>) max_seqlen_q = %m -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<?x1xi32>, %ck: tensor<?xi32>, %m: index) {
  // expected-error @+1 {{'fa.attention' op expected cu_seqlens_q to have rank 1 [B + 1], got rank 2}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq, %ck : tensor<?x1xi32>, tensor<?xi32>) max_seqlen_q = %m -> tensor<?x8x64xf16>
  return
}

// -----

// A paged cache: K and V are pools [num_pages, page_size, Hkv, D] with a
// static page size, an i32 block table [B, max_pages] and i32 lengths [B].
func.func @f(%q: tensor<?x8x?x64xf16>, %k: tensor<?x?x2x64xf16>, %v: tensor<?x?x2x64xf16>, %o: tensor<?x8x?x64xf16>, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op page size of key must be static, got a dynamic size}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x?x2x64xf16>, tensor<?x?x2x64xf16>) outs(%o : tensor<?x8x?x64xf16>) paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x?x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x?x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x32x2x64xf16>, %o: tensor<?x8x?x64xf16>, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op page size of value (32) does not match key (16)}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x16x2x64xf16>, tensor<?x32x2x64xf16>) outs(%o : tensor<?x8x?x64xf16>) paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x?x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x?x64xf16>, %k: tensor<?x16x3x64xf16>, %v: tensor<?x16x3x64xf16>, %o: tensor<?x8x?x64xf16>, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op number of query heads (8) must be a multiple of the number of key/value heads (3)}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x16x3x64xf16>, tensor<?x16x3x64xf16>) outs(%o : tensor<?x8x?x64xf16>) paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x?x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x?x64xf16>, %k: tensor<?x16x64xf16>, %v: tensor<?x16x64xf16>, %o: tensor<?x8x?x64xf16>, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op expected key to have rank 4 [num_pages, page_size, Hkv, D] (paged), got rank 3}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x16x64xf16>, tensor<?x16x64xf16>) outs(%o : tensor<?x8x?x64xf16>) paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x?x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x?x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<?x8x?x64xf16>, %t: tensor<?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op expected block_table to have rank 2 [B, max_pages], got rank 1}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o : tensor<?x8x?x64xf16>) paged(%t, %n : tensor<?xi32>, tensor<?xi32>) -> tensor<?x8x?x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x?x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<?x8x?x64xf16>, %t: tensor<?x?xi64>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op block_table element type must be i32, got 'i64'}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o : tensor<?x8x?x64xf16>) paged(%t, %n : tensor<?x?xi64>, tensor<?xi32>) -> tensor<?x8x?x64xf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x?x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<2x8x?x64xf16>, %t: tensor<2x?xi32>, %n: tensor<3xi32>) {
  // expected-error @+1 {{'fa.attention' op batch size of cache_seqlens (3) does not match query (2)}}
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x?x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o : tensor<2x8x?x64xf16>) paged(%t, %n : tensor<2x?xi32>, tensor<3xi32>) -> tensor<2x8x?x64xf16>
  return
}

// -----

// With a dynamic batch, the block table and the lengths still agree.
func.func @f(%q: tensor<?x8x?x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<?x8x?x64xf16>, %t: tensor<2x?xi32>, %n: tensor<3xi32>) {
  // expected-error @+1 {{'fa.attention' op batch size of cache_seqlens (3) does not match block_table (2)}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o : tensor<?x8x?x64xf16>) paged(%t, %n : tensor<2x?xi32>, tensor<3xi32>) -> tensor<?x8x?x64xf16>
  return
}

// -----

// Packed queries against a paged cache: the key counts are cache_seqlens,
// so no key offsets.
func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<?xi32>, %ck: tensor<?xi32>, %m: index, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op variable-length queries against a paged cache take their key counts from cache_seqlens: give varlen(%cu_seqlens_q : ...) without cu_seqlens_k}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq, %ck : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %m paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<?xi32>, %m: index) {
  // expected-error @+1 {{'fa.attention' op a variable-length attention needs cu_seqlens_k (the key offsets), unless its keys are in a paged cache}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq : tensor<?xi32>) max_seqlen_q = %m -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op expected query to have rank 4 [B, Hq, Nq, D], got rank 3}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>) outs(%o : tensor<?x8x64xf16>) paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %v: tensor<?x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<?xi32>, %m: index, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op expected key to have rank 4 [num_pages, page_size, Hkv, D] (paged), got rank 3}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq : tensor<?xi32>) max_seqlen_q = %m paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<?x16x2x64xf16>, %cq: tensor<?xi32>, %m: index, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op expected output to have rank 3 [Tq, Hq, Dv] (variable-length), got rank 4}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o : tensor<?x16x2x64xf16>) varlen(%cq : tensor<?xi32>) max_seqlen_q = %m paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x16x2x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x32xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<?xi32>, %m: index, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op head dimension of output (64) does not match value (32)}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x32xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq : tensor<?xi32>) max_seqlen_q = %m paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x16x3x64xf16>, %v: tensor<?x16x3x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<?xi32>, %m: index, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op number of query heads (8) must be a multiple of the number of key/value heads (3)}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x16x3x64xf16>, tensor<?x16x3x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq : tensor<?xi32>) max_seqlen_q = %m paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<4xi32>, %m: index, %t: tensor<2x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op batch size of block_table (2) does not match cu_seqlens_q (size - 1) (3)}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq : tensor<4xi32>) max_seqlen_q = %m paged(%t, %n : tensor<2x?xi32>, tensor<?xi32>) -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<?x8x64xf16>, %cq: tensor<4xi32>, %m: index, %t: tensor<?x?xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{'fa.attention' op batch size of cache_seqlens (2) does not match cu_seqlens_q (size - 1) (3)}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o : tensor<?x8x64xf16>) varlen(%cq : tensor<4xi32>) max_seqlen_q = %m paged(%t, %n : tensor<?x?xi32>, tensor<2xi32>) -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x16x2x64xf16>, %o: tensor<?x8x64xf16>, %l: tensor<8x?x?xf32>, %cq: tensor<?xi32>, %m: index, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op expected lse to have rank 2 [Hq, Tq] (variable-length), got rank 3}}
  %r:2 = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>) outs(%o, %l : tensor<?x8x64xf16>, tensor<8x?x?xf32>) varlen(%cq : tensor<?xi32>) max_seqlen_q = %m paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x64xf16>, tensor<8x?x?xf32>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf16>, %k: tensor<?x16x2x64xf16>, %o: tensor<?x8x64xf16>, %ck: tensor<?xi32>, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op cu_seqlens_k needs cu_seqlens_q and max_seqlen_q}}
  %r = "fa.attention"(%q, %k, %k, %o, %ck, %t, %n) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1>}> ({}, {}) : (tensor<?x8x64xf16>, tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16>, tensor<?x8x64xf16>, tensor<?xi32>, tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x64xf16>
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>, %k: tensor<4x16x1x16xf16>, %o: tensor<1x1x16x16xf16>, %t: tensor<1x2xi32>) {
  // expected-error @+1 {{'fa.attention' op a paged attention needs block_table and cache_seqlens together}}
  %r = "fa.attention"(%q, %k, %k, %o, %t) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0>}> ({}, {}) : (tensor<1x1x16x16xf16>, tensor<4x16x1x16xf16>, tensor<4x16x1x16xf16>, tensor<1x1x16x16xf16>, tensor<1x2xi32>) -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%k: tensor<?x?x2x64xf16>, %t: tensor<?x?xi32>, %i: index) {
  // expected-error @+1 {{'fa.paged_rows' op the page size (dimension 1 of the cache) must be static and positive}}
  %r = fa.paged_rows %k[%i, %i] pages(%t) rows(%i, %i) : tensor<?x?x2x64xf16>, tensor<?x?xi32> -> tensor<?x64xf16>
  return
}

// -----

func.func @f(%k: tensor<?x16x2x64xf16>, %t: tensor<?x?xi32>, %i: index) {
  // expected-error @+1 {{'fa.paged_rows' op expected rows [count, D] of the cache's element type and D, got 'tensor<?x32xf16>'}}
  %r = fa.paged_rows %k[%i, %i] pages(%t) rows(%i, %i) : tensor<?x16x2x64xf16>, tensor<?x?xi32> -> tensor<?x32xf16>
  return
}

// -----

func.func @f(%k: tensor<?x16x2x64xf16>, %t: tensor<?xi32>, %i: index) {
  // expected-error @+1 {{'fa.paged_rows' op expected an i32 block table [B, max_pages], got 'tensor<?xi32>'}}
  %r = fa.paged_rows %k[%i, %i] pages(%t) rows(%i, %i) : tensor<?x16x2x64xf16>, tensor<?xi32> -> tensor<?x64xf16>
  return
}

// -----

func.func @f(%q: tensor<?x8x?x64xf16>, %k: tensor<?x16x2x64xf16>, %v: tensor<?x?x2x64xf16>, %o: tensor<?x8x?x64xf16>, %t: tensor<?x?xi32>, %n: tensor<?xi32>) {
  // expected-error @+1 {{'fa.attention' op page size of value must be static, got a dynamic size}}
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x16x2x64xf16>, tensor<?x?x2x64xf16>) outs(%o : tensor<?x8x?x64xf16>) paged(%t, %n : tensor<?x?xi32>, tensor<?xi32>) -> tensor<?x8x?x64xf16>
  return
}

// -----

func.func @f(%k: tensor<?x16x2x64xf16>, %t: tensor<?x?xi32>, %i: index) {
  %c8 = arith.constant 8 : index
  // expected-error @+1 {{'fa.paged_rows' op a result of 4 rows needs a constant count of as many, got 8}}
  %r = fa.paged_rows %k[%i, %i] pages(%t) rows(%i, %c8) : tensor<?x16x2x64xf16>, tensor<?x?xi32> -> tensor<4x64xf16>
  return
}

// -----

func.func @f(%k: tensor<?x16x2x64xf16>, %t: tensor<?x?xi32>, %i: index) {
  // expected-error @+1 {{'fa.paged_rows' op a result of 4 rows needs a constant count of as many, got a dynamic one}}
  %r = fa.paged_rows %k[%i, %i] pages(%t) rows(%i, %i) : tensor<?x16x2x64xf16>, tensor<?x?xi32> -> tensor<4x64xf16>
  return
}
