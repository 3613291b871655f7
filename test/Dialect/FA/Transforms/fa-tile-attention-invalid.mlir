// Tile sizes the strategy cannot use are rejected with a clear message.
// RUN: not fa-opt %s "--fa-tile-attention=block-m=-1 block-n=16" 2>&1 | FileCheck %s --check-prefix=NEGM
// RUN: not fa-opt %s "--fa-tile-attention=block-m=64 block-n=-8" 2>&1 | FileCheck %s --check-prefix=NEG
// RUN: not fa-opt %s "--fa-tile-attention=block-m=1000000" 2>&1 | FileCheck %s --check-prefix=HUGE
// NEGM: error: tile sizes must be positive (or 0 for the default), got block-m=-1 block-n=16
// NEG: error: tile sizes must be positive (or 0 for the default), got block-m=64 block-n=-8
// HUGE: error: tile sizes must be at most 65536, got block-m=1000000 block-n=0
func.func @f(%q: tensor<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>) -> tensor<1x1x16x16xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>)
                    outs(%o : tensor<1x1x16x16xf16>) -> tensor<1x1x16x16xf16>
  return %0 : tensor<1x1x16x16xf16>
}
