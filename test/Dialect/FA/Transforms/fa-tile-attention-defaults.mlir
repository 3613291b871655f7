// Without options (block-m = block-n = 0) the tile follows the head
// dimension: 128 query rows; 64 keys per block at D = 64, 48 at D = 128,
// 32 at D = 256 (getDefaultAttentionTileSizes). An explicit size wins.
// RUN: fa-opt %s -split-input-file --fa-tile-attention | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-n=16" | FileCheck %s --check-prefix=EXPLICIT

// CHECK-LABEL: func.func @d64
// CHECK:         fa.attention_tile = {block_m = 128 : i64, block_n = 64 : i64
// EXPLICIT-LABEL: func.func @d64
// EXPLICIT:         fa.attention_tile = {block_m = 128 : i64, block_n = 16 : i64
func.func @d64(%q: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
                    outs(%o : tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}

// -----

// CHECK-LABEL: func.func @d128
// CHECK:         fa.attention_tile = {block_m = 128 : i64, block_n = 48 : i64
func.func @d128(%q: tensor<1x2x?x128xbf16>, %o: tensor<1x2x?x128xbf16>) -> tensor<1x2x?x128xbf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>)
                    outs(%o : tensor<1x2x?x128xbf16>) -> tensor<1x2x?x128xbf16>
  return %0 : tensor<1x2x?x128xbf16>
}

// -----

// CHECK-LABEL: func.func @d256
// CHECK:         fa.attention_tile = {block_m = 128 : i64, block_n = 32 : i64
func.func @d256(%q: tensor<1x2x?x256xf16>, %o: tensor<1x2x?x256xf16>) -> tensor<1x2x?x256xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x256xf16>, tensor<1x2x?x256xf16>, tensor<1x2x?x256xf16>)
                    outs(%o : tensor<1x2x?x256xf16>) -> tensor<1x2x?x256xf16>
  return %0 : tensor<1x2x?x256xf16>
}
