// Round trip of fa.attention through the custom and the generic form.
// RUN: fa-opt %s -split-input-file | fa-opt -split-input-file | FileCheck %s
// RUN: fa-opt %s -split-input-file -mlir-print-op-generic | fa-opt -split-input-file | FileCheck %s
// RUN: fa-opt %s -emit-bytecode | fa-opt | FileCheck %s --check-prefix=BYTECODE

// CHECK-LABEL: func.func @static_mha
// CHECK:         %[[O:.*]] = fa.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>) outs(%{{.*}} : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
// CHECK-NOT:     scale
// CHECK-NOT:     causal
// CHECK:         return %[[O]]
// BYTECODE-LABEL: func.func @static_mha
// BYTECODE:         fa.attention
func.func @static_mha(%q: tensor<2x8x128x64xf16>, %k: tensor<2x8x128x64xf16>,
                      %v: tensor<2x8x128x64xf16>, %o: tensor<2x8x128x64xf16>)
    -> tensor<2x8x128x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>)
                    outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return %0 : tensor<2x8x128x64xf16>
}

// -----

// GQA (8 query heads over 2 key/value heads), an explicit scale, a causal
// mask with the FlashAttention alignment, and the log-sum-exp output.
// CHECK-LABEL: func.func @gqa_causal_lse
// CHECK:         %{{.*}}, %{{.*}} = fa.attention ins({{.*}} : tensor<4x8x100x128xbf16>, tensor<4x2x300x128xbf16>, tensor<4x2x300x128xbf16>) outs({{.*}} : tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>) scale = 1.250000e-01 causal = <bottom_right> -> tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>
func.func @gqa_causal_lse(%q: tensor<4x8x100x128xbf16>, %k: tensor<4x2x300x128xbf16>,
                          %v: tensor<4x2x300x128xbf16>, %o: tensor<4x8x100x128xbf16>,
                          %l: tensor<4x8x100xf32>)
    -> (tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>) {
  %0, %1 = fa.attention ins(%q, %k, %v : tensor<4x8x100x128xbf16>, tensor<4x2x300x128xbf16>, tensor<4x2x300x128xbf16>)
                        outs(%o, %l : tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>)
                        scale = 0.125 causal = <bottom_right>
                        -> tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>
  return %0, %1 : tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>
}

// -----

// Dynamic batch, heads and sequence lengths; the head dimensions are static
// and may differ between Q/K (D) and V/O (Dv). Multi-query: one K/V head.
// CHECK-LABEL: func.func @dynamic_mqa
// CHECK:         fa.attention ins({{.*}} : tensor<?x?x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x32xf32>) outs({{.*}} : tensor<?x?x?x32xf32>) causal = <top_left> -> tensor<?x?x?x32xf32>
func.func @dynamic_mqa(%q: tensor<?x?x?x64xf32>, %k: tensor<?x1x?x64xf32>,
                       %v: tensor<?x1x?x32xf32>, %o: tensor<?x?x?x32xf32>)
    -> tensor<?x?x?x32xf32> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x32xf32>)
                    outs(%o : tensor<?x?x?x32xf32>) causal = <top_left> -> tensor<?x?x?x32xf32>
  return %0 : tensor<?x?x?x32xf32>
}

// -----

// The causal attribute in its long form and attributes in the dictionary
// parse to the same op.
// CHECK-LABEL: func.func @attribute_spellings
// CHECK:         fa.attention {{.*}} scale = 5.000000e-01 causal = <top_left> -> tensor<1x1x16x16xf16>
func.func @attribute_spellings(%q: tensor<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>)
    -> tensor<1x1x16x16xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>)
                    outs(%o : tensor<1x1x16x16xf16>)
                    {causal = #fa.causal<top_left>, scale = 0.5 : f32} -> tensor<1x1x16x16xf16>
  return %0 : tensor<1x1x16x16xf16>
}
