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
  %r = "fa.attention"(%q, %q, %q, %o) : (tensor<*xf16>, tensor<*xf16>, tensor<*xf16>, tensor<1x1x16x16xf16>) -> tensor<1x1x16x16xf16>
  return
}

// -----

func.func @f(%q: memref<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>) {
  // expected-error @+1 {{'fa.attention' op operand #0 must be ranked tensor of any type values, but got 'memref<1x1x16x16xf16>'}}
  %r = "fa.attention"(%q, %q, %q, %o) : (memref<1x1x16x16xf16>, memref<1x1x16x16xf16>, memref<1x1x16x16xf16>, tensor<1x1x16x16xf16>) -> tensor<1x1x16x16xf16>
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
  "fa.attention"(%q, %q, %q, %o) : (tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) -> ()
  return
}

// -----

func.func @f(%q: tensor<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>, %l: tensor<1x1x16xf32>) {
  // expected-error @+1 {{'fa.attention' op expected 2 results (one per init), got 1}}
  %r = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>) outs(%o, %l : tensor<1x1x16x16xf16>, tensor<1x1x16xf32>) -> tensor<1x1x16x16xf16>
  return
}
