// Exponentials of the softmax computed on the FMA pipe (exp2-emulation=k):
// the first k of every 8 exponentials of a row piece are a polynomial: x
// clamped to -127 (maximumf: NaN stays NaN; -inf gives +0), rounded by
// adding 1.5 * 2^23, the fraction's 2^f by Horner's rule (degree 3 for
// bf16 probabilities, 4 for f16), the integer part shifted into the
// exponent bits. Both strategies, the online and the fixed-maximum softmax;
// k is in the kernel's name (_e<k>). The default, 0, emulates none.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws exp2-emulation=2" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s --check-prefix=NONE
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=mma-sync" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=mma-sync exp2-emulation=8" | FileCheck %s --check-prefix=ALL
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws exp2-emulation=9" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws exp2-emulation=-1" 2>&1 | FileCheck %s --check-prefix=RANGE

// RANGE: error: exp2-emulation must be in [0, 8] (exponentials of every 8 computed on the FMA pipe), got

// bf16: degree 3. Elements 0 and 1 of the row piece are emulated, element 2
// is not; each is scaled by the row's one scale constant.
// CHECK-LABEL: func.func @plain_d64
// CHECK:       gpu.func @fa_attention_bf16_d64_bm192_bn128_wg3_s2_wgmma_e2_
// CHECK:         %[[X:.*]] = math.fma %{{.*}}, %[[SCALE:.*]], %{{.*}} : f32
// CHECK-NEXT:    %[[LOW:.*]] = arith.constant -1.270000e+02 : f32
// CHECK-NEXT:    %[[C:.*]] = arith.maximumf %[[X]], %[[LOW]] : f32
// CHECK-NEXT:    %[[MAGIC:.*]] = arith.constant 0x4B400000 : f32
// CHECK-NEXT:    %[[T:.*]] = arith.addf %[[C]], %[[MAGIC]] : f32
// CHECK-NEXT:    %[[J:.*]] = arith.subf %[[T]], %[[MAGIC]] : f32
// CHECK-NEXT:    %[[F:.*]] = arith.subf %[[C]], %[[J]] : f32
// CHECK-NEXT:    arith.constant 0.0550087579 : f32
// CHECK-NEXT:    arith.constant 0.242211387 : f32
// CHECK-NEXT:    %[[P2:.*]] = math.fma %{{.*}}, %[[F]], %{{.*}} : f32
// CHECK-NEXT:    arith.constant 6.932830e-01 : f32
// CHECK-NEXT:    %[[P1:.*]] = math.fma %[[P2]], %[[F]], %{{.*}} : f32
// CHECK-NEXT:    arith.constant 1.000000e+00 : f32
// CHECK-NEXT:    %[[P:.*]] = math.fma %[[P1]], %[[F]], %{{.*}} : f32
// CHECK-NEXT:    %[[SH:.*]] = arith.constant 23 : i32
// CHECK-NEXT:    %[[TB:.*]] = arith.bitcast %[[T]] : f32 to i32
// CHECK-NEXT:    %[[E:.*]] = arith.shli %[[TB]], %[[SH]] : i32
// CHECK-NEXT:    %[[PB:.*]] = arith.bitcast %[[P]] : f32 to i32
// CHECK-NEXT:    %[[SUM:.*]] = arith.addi %[[PB]], %[[E]] : i32
// CHECK-NEXT:    %[[P0:.*]] = arith.bitcast %[[SUM]] : i32 to f32
// CHECK-NEXT:    arith.addf %{{.*}}, %[[P0]] : f32
// CHECK-NEXT:    %[[X1:.*]] = math.fma %{{.*}}, %[[SCALE]], %{{.*}} : f32
// CHECK-NEXT:    arith.constant -1.270000e+02 : f32
// CHECK-NEXT:    arith.maximumf %[[X1]]
// CHECK:         %[[P1:.*]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK-NEXT:    arith.addf %{{.*}}, %[[P1]] : f32
// CHECK-NEXT:    %[[X2:.*]] = math.fma %{{.*}}, %[[SCALE]], %{{.*}} : f32
// CHECK-NEXT:    math.exp2 %[[X2]] fastmath<afn> : f32
// CHECK:         gpu.return
// NONE-LABEL:  func.func @plain_d64
// NONE:        gpu.func @fa_attention_bf16_d64_bm192_bn128_wg3_s2_wgmma_{{[0-9a-f]+}}(
// NONE-NOT:      0x4B400000
// NONE:          gpu.return
// ALL-LABEL:   func.func @plain_d64
// ALL:         gpu.func @fa_attention_bf16_d64_{{.*}}_e8_
// ALL:           %[[X:.*]] = math.fma
// ALL-NEXT:      arith.constant -1.270000e+02 : f32
// ALL-NEXT:      arith.maximumf %[[X]]
// ALL:           gpu.return
func.func @plain_d64(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x8x?x64xbf16>, %o: tensor<1x8x?x64xbf16>) -> tensor<1x8x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>) outs(%o : tensor<1x8x?x64xbf16>) -> tensor<1x8x?x64xbf16>
  return %0 : tensor<1x8x?x64xbf16>
}

// -----

// f16 probabilities: degree 4 (2.9e-6 relative error where f16 rounds to
// 2^-11), in the masked and unmasked softmax alike.
// CHECK-LABEL: func.func @causal_d64_f16
// CHECK:       gpu.func @fa_attention_f16_d64_bm128_bn128_wg2_s2_wgmma_e2_
// CHECK:         arith.constant 0x4B400000 : f32
// CHECK:         arith.constant 0.00958287157 : f32
// CHECK:         gpu.return
func.func @causal_d64_f16(%q: tensor<1x8x?x64xf16>, %k: tensor<1x8x?x64xf16>, %o: tensor<1x8x?x64xf16>) -> tensor<1x8x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>) outs(%o : tensor<1x8x?x64xf16>) causal = <bottom_right> -> tensor<1x8x?x64xf16>
  return %0 : tensor<1x8x?x64xf16>
}

// -----

// The fixed-maximum softmax of a softcap: the emulated exponential of
// tanh(s / 30) 30 log2(e) - 30 log2(e).
// CHECK-LABEL: func.func @softcap_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_e2_
// CHECK:         math.tanh
// CHECK:         %[[X:.*]] = math.fma %{{.*}}, %{{.*}}, %{{.*}} : f32
// CHECK-NEXT:    arith.constant -1.270000e+02 : f32
// CHECK-NEXT:    arith.maximumf %[[X]]
// CHECK:         gpu.return
// NONE-LABEL:  func.func @softcap_d128
// NONE-NOT:      0x4B400000
// NONE:          gpu.return
func.func @softcap_d128(%q: tensor<1x8x?x128xbf16>, %k: tensor<1x8x?x128xbf16>, %o: tensor<1x8x?x128xbf16>) -> tensor<1x8x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16>) outs(%o : tensor<1x8x?x128xbf16>) causal = <top_left>
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 0.0333333351 : f32
      %cap = arith.constant 30.0 : f32
      %x = arith.mulf %s, %c : f32
      %t = math.tanh %x fastmath<afn> : f32
      %r = arith.mulf %t, %cap : f32
      fa.yield %r : f32
    } -> tensor<1x8x?x128xbf16>
  return %0 : tensor<1x8x?x128xbf16>
}

