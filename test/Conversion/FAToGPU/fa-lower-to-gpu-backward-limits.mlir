// The mma-sync backward keeps dK and dV (or dQ) and a streamed block's S and
// dP in registers: what does not fit is refused with the numbers, as are
// element types the tensor cores do not take.
// RUN: not fa-opt %s --split-input-file --fa-tile-attention-backward --fa-lower-to-gpu 2>&1 | FileCheck %s
// RUN: not fa-opt %s --split-input-file "--fa-tile-attention-backward=block-m=64 block-n=64" --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=D128

// CHECK: error: the key_value kernel needs 304 fragment registers per thread at D = 256 with block-m = 32 (budget 208); use a smaller block-m
// D128: error: the key_value kernel needs 224 fragment registers per thread at D = 128 with block-m = 64 (budget 208); use a smaller block-m
func.func @d256(%q: tensor<1x2x?x256xbf16>, %lse: tensor<1x2x?xf32>)
    -> tensor<1x2x?x256xbf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x256xbf16>, tensor<1x2x?x256xbf16>, tensor<1x2x?x256xbf16>, tensor<1x2x?x256xbf16>, tensor<1x2x?x256xbf16>, tensor<1x2x?xf32>) outs(%q, %q, %q : tensor<1x2x?x256xbf16>, tensor<1x2x?x256xbf16>, tensor<1x2x?x256xbf16>) -> tensor<1x2x?x256xbf16>, tensor<1x2x?x256xbf16>, tensor<1x2x?x256xbf16>
  return %0#0 : tensor<1x2x?x256xbf16>
}

// -----

// CHECK: error: the mma-sync backward needs f16 or bf16 Q/K/V, got 'f32' (f32 runs only on the CPU path)
func.func @f32(%q: tensor<1x2x?x64xf32>, %lse: tensor<1x2x?xf32>)
    -> tensor<1x2x?x64xf32> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?xf32>) outs(%q, %q, %q : tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>) -> tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %0#0 : tensor<1x2x?x64xf32>
}

// -----

func.func @d128(%q: tensor<1x2x?x128xbf16>, %lse: tensor<1x2x?xf32>)
    -> tensor<1x2x?x128xbf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?xf32>) outs(%q, %q, %q : tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>) -> tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>
  return %0#0 : tensor<1x2x?x128xbf16>
}

// -----

// Q in bf16 with K in f16: the op's verifier says so, once.
// CHECK: error: 'fa.attention_backward' op key element type 'f16' does not match query element type 'bf16'
func.func @mixed(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>)
    -> tensor<1x2x?x64xbf16> {
  %0:3 = fa.attention_backward ins(%q, %k, %k, %q, %q, %lse : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>) outs(%q, %k, %k : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xbf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xbf16>
}
