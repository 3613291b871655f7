// Every diagnostic of the fa.attention_backward verifier, one case each.
// RUN: fa-opt %s -split-input-file -verify-diagnostics

func.func @no_lse_rank(%q: tensor<1x2x8x64xf16>, %lse: tensor<1x2xf32>) {
  // expected-error @+1 {{'fa.attention_backward' op expected lse to have rank 3 [B, Hq, Nq], got rank 2}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2xf32>) outs(%q, %q, %q : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>
  return
}

// -----

func.func @grad_output_type(%q: tensor<1x2x8x64xf16>, %do: tensor<1x2x8x64xbf16>, %lse: tensor<1x2x8xf32>) {
  // expected-error @+1 {{'fa.attention_backward' op dO has type 'tensor<1x2x8x64xbf16>' but O has type 'tensor<1x2x8x64xf16>'; they must be the same}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %do, %lse : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xbf16>, tensor<1x2x8xf32>) outs(%q, %q, %q : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>
  return
}

// -----

func.func @grad_key_init(%q: tensor<1x2x8x64xf16>, %k: tensor<1x1x8x64xf16>, %lse: tensor<1x2x8xf32>) {
  // expected-error @+1 {{'fa.attention_backward' op the dK init has type 'tensor<1x2x8x64xf16>' but must have the type of its input, 'tensor<1x1x8x64xf16>'}}
  %0:3 = fa.attention_backward ins(%q, %k, %k, %q, %q, %lse : tensor<1x2x8x64xf16>, tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8xf32>) outs(%q, %q, %k : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x1x8x64xf16>) -> tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x1x8x64xf16>
  return
}

// -----

func.func @grad_value_result(%q: tensor<1x2x8x64xf16>, %lse: tensor<1x2x8xf32>) {
  // expected-error @+1 {{'fa.attention_backward' op the dV result has type 'tensor<1x2x8x64xbf16>' but its init has type 'tensor<1x2x8x64xf16>'}}
  %0:3 = "fa.attention_backward"(%q, %q, %q, %q, %q, %lse, %q, %q, %q) ({}, {}) : (tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8xf32>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> (tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xbf16>)
  return
}

// -----

func.func @captures_without_region(%q: tensor<1x2x8x64xf16>, %lse: tensor<1x2x8xf32>, %c: tensor<2xf32>) {
  // expected-error @+1 {{'fa.attention_backward' op has 1 captures but no score_mod or mask_mod region to read them}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8xf32>) outs(%q, %q, %q : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) captures(%c : tensor<2xf32>) -> tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>
  return
}

// -----

func.func @capture_element_type(%q: tensor<1x2x8x64xf16>, %lse: tensor<1x2x8xf32>, %c: tensor<2xcomplex<f32>>) {
  // expected-error @+1 {{'fa.attention_backward' op capture #0 has element type 'complex<f32>'; captures hold i1, i8, i16, i32, i64, f16, bf16, f32 or f64}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8xf32>) outs(%q, %q, %q : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) captures(%c : tensor<2xcomplex<f32>>) mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %cc: tensor<2xcomplex<f32>>):
    %t = arith.constant true
    fa.yield %t : i1
  } -> tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>
  return
}

// -----

func.func @score_mod_vector(%q: tensor<1x2x8x64xf16>, %lse: tensor<1x2x8xf32>) {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8xf32>) outs(%q, %q, %q : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'arith.constant' op in the score_mod of fa.attention_backward produces 'vector<2xf32>'; only scalars (i1, i8, i16, i32, i64, index, f16, bf16, f32, f64) are allowed}}
    %bad = arith.constant dense<1.0> : vector<2xf32>
    fa.yield %s : f32
  } -> tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>
  return
}

// -----

func.func @mask_mod_yield(%q: tensor<1x2x8x64xf16>, %lse: tensor<1x2x8xf32>) {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8xf32>) outs(%q, %q, %q : tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %f = arith.constant 1.0 : f32
    // expected-error @+1 {{'fa.yield' op in mask_mod must yield 'i1', got 'f32'}}
    fa.yield %f : f32
  } -> tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>
  return
}
