// Paged tiles hopper-ws does not build, refused with a message (and
// built by mma-sync under strategy=auto): pages of 12 rows, which TMA
// cannot read into the 128-byte-swizzled slabs, fixed-length or packed
// variable-length queries. (Packed queries against pages of 16 or 64 rows
// it builds, auto too: fa-lower-to-gpu-hopper-varlen-paged.mlir.)
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=REFUSED
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto" | FileCheck %s --check-prefix=AUTO

// REFUSED: error: the hopper-ws strategy reads pages of a multiple of 8 rows (TMA into 128-byte-swizzled slabs); this cache's pages hold 12; use strategy=mma-sync or auto
// AUTO-LABEL: func.func @pages12
// AUTO:       gpu.func @{{.*}}_paged12(
// AUTO-SAME:    strategy = "mma-sync"
func.func @pages12(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x12x2x128xbf16>, %v: tensor<?x12x2x128xbf16>,
                   %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x12x2x128xbf16>, tensor<?x12x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}


// -----

// REFUSED: error: the hopper-ws strategy reads pages of a multiple of 8 rows (TMA into 128-byte-swizzled slabs); this cache's pages hold 12; use strategy=mma-sync or auto
// AUTO-LABEL: func.func @varlen_pages12
// AUTO:       gpu.func @{{.*}}_varlen_paged12(
// AUTO-SAME:    strategy = "mma-sync"
func.func @varlen_pages12(%q: tensor<?x8x128xbf16>, %k: tensor<?x12x2x128xbf16>, %v: tensor<?x12x2x128xbf16>,
                          %o: tensor<?x8x128xbf16>, %cu_q: tensor<?xi32>, %max_q: index,
                          %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x12x2x128xbf16>, tensor<?x12x2x128xbf16>)
      outs(%o : tensor<?x8x128xbf16>)
      varlen(%cu_q : tensor<?xi32>) max_seqlen_q = %max_q
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x128xbf16>
  return %r : tensor<?x8x128xbf16>
}
