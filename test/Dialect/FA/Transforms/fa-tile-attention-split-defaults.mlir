// The default tile of split tiles (no block-m / block-n given): 16 rows,
// 64-key blocks up to D = 128 and 32 beyond (mma-sync splits the blocks
// among key-split warps; the decode tiles,
// benchmarks/results/2026-12-02-h200-decode-key-warps.md); a packed tile's
// default block-m grows to hold its group (up to 128 heads); given sizes
// win, and a group larger than a given block-m is an error.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=split-kv=auto" | FileCheck %s --check-prefix=SPLIT
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=split-kv=auto pack-gqa" | FileCheck %s --check-prefix=PACK
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=split-kv=auto defaults-for=auto" | FileCheck %s --check-prefix=SPLIT
// RUN: fa-opt %s -split-input-file "--fa-tile-attention" | FileCheck %s --check-prefix=ONE
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=split-kv=3 block-m=16 block-n=32" | FileCheck %s --check-prefix=GIVEN
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=split-kv=auto pack-gqa block-m=64" 2>&1 | FileCheck %s --check-prefix=SMALL

// SPLIT-LABEL: func.func @d128
// SPLIT:         {fa.attention_tile = {block_m = 16 : i64, block_n = 64 : i64, split_kv}
// PACK-LABEL:  func.func @d128
// PACK:          {fa.attention_tile = {block_m = 16 : i64, block_n = 64 : i64, pack_gqa = 4 : i64, split_kv}
// ONE-LABEL:   func.func @d128
// ONE:           {fa.attention_tile = {block_m = 128 : i64, block_n = 48 : i64}
// GIVEN-LABEL: func.func @d128
// GIVEN:         {fa.attention_tile = {block_m = 16 : i64, block_n = 32 : i64, split_kv}
func.func @d128(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x8x?x128xbf16>, %v: tensor<?x8x?x128xbf16>, %o: tensor<?x32x?x128xbf16>) -> tensor<?x32x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x32x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>) outs(%o : tensor<?x32x?x128xbf16>) -> tensor<?x32x?x128xbf16>
  return %r : tensor<?x32x?x128xbf16>
}

// -----

// SPLIT-LABEL: func.func @d256
// SPLIT:         {fa.attention_tile = {block_m = 16 : i64, block_n = 32 : i64, split_kv}
// PACK-LABEL:  func.func @d256
// PACK:          {fa.attention_tile = {block_m = 16 : i64, block_n = 32 : i64, split_kv}
func.func @d256(%q: tensor<?x8x?x256xf16>, %k: tensor<?x8x?x256xf16>, %v: tensor<?x8x?x256xf16>, %o: tensor<?x8x?x256xf16>) -> tensor<?x8x?x256xf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x256xf16>, tensor<?x8x?x256xf16>, tensor<?x8x?x256xf16>) outs(%o : tensor<?x8x?x256xf16>) -> tensor<?x8x?x256xf16>
  return %r : tensor<?x8x?x256xf16>
}

// -----

// A group of 128 query heads: the default block-m grows to 128.
// PACK-LABEL:  func.func @g128
// PACK:          {fa.attention_tile = {block_m = 128 : i64, block_n = 64 : i64, pack_gqa = 128 : i64, split_kv}
// SMALL: error: 'fa.attention' op pack-gqa puts the 128 query heads of a group in one tile of block-m = 64 rows; block-m must be at least 128
func.func @g128(%q: tensor<?x128x?x128xbf16>, %k: tensor<?x1x?x128xbf16>, %v: tensor<?x1x?x128xbf16>, %o: tensor<?x128x?x128xbf16>) -> tensor<?x128x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x128x?x128xbf16>, tensor<?x1x?x128xbf16>, tensor<?x1x?x128xbf16>) outs(%o : tensor<?x128x?x128xbf16>) -> tensor<?x128x?x128xbf16>
  return %r : tensor<?x128x?x128xbf16>
}
