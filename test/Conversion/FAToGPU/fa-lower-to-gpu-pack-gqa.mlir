// Packed GQA tiles (fa-tile-attention pack-gqa) on the mma-sync strategy:
// one block per (packed tile, key/value head, batch), the 4 query heads
// of a group in one tile; split or not.
// RUN: fa-opt %s "--fa-tile-attention=block-m=16 block-n=64 pack-gqa" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=16 block-n=64 pack-gqa split-kv=auto" --fa-fuse-online-softmax --canonicalize --cse --fa-lower-to-gpu | FileCheck %s --check-prefix=SPLIT
// RUN: fa-opt %s "--fa-tile-attention=block-m=16 block-n=64 pack-gqa" --fa-fuse-online-softmax > %t.mlir
// The Q tile of the key/value head's index instead of its first query head.
// RUN: sed 's/tensor.extract_slice %arg0\[%arg5, %6,/tensor.extract_slice %arg0[%arg5, %arg6,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=QHEAD
// The output written at the key/value head's index.
// RUN: sed 's/into %arg8\[%arg5, %6,/into %arg8[%arg5, %arg6,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=OHEAD
// The attribute says 2 heads a tile (8 positions), the IR packs 4.
// RUN: sed 's/pack_gqa = 4 : i64/pack_gqa = 2 : i64/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=ATTR
// More heads than rows, and the mark gone (the IR still packs).
// RUN: sed 's/pack_gqa = 4 : i64/pack_gqa = 32 : i64/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=BADATTR
// RUN: sed 's/, pack_gqa = 4 : i64//' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=NOATTR
// hopper-ws does not build packed tiles.
// K/V with one head where the tile packs 4 of 8 query heads a head:
// RUN: sed 's/x2x?x128xbf16/x1x?x128xbf16/g' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=HEADS
// RUN: not fa-opt %t.mlir --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=HOPPER
// Dynamic head counts, and more heads in a group than rows in a tile.
// RUN: sed 's/x2x/x?x/g' %s | not fa-opt --fa-tile-attention=pack-gqa 2>&1 | FileCheck %s --check-prefix=DYNAMIC
// RUN: not fa-opt %s "--fa-tile-attention=pack-gqa block-m=2" 2>&1 | FileCheck %s --check-prefix=GROUP

// CHECK-LABEL: func.func @decode
// CHECK:         bufferization.to_buffer
// CHECK:         %[[TILES:.*]] = arith.ceildivui %{{.*}}, %c4{{.*}} : index
// CHECK:         gpu.launch_func {{ *}}@[[K:fa_attention_bf16_d128_bm16_bn64_w4_s3_kw4_lse_[0-9a-f]+_gqa4]]::@[[K]] blocks in (%[[TILES]], %c2{{.*}}, %{{.*}})
// CHECK:         gpu.func @[[K]]({{.*}} kernel attributes {fa.launch = {{{.*}}pack_gqa = 4 : i64

// SPLIT-LABEL: func.func @decode
// SPLIT:         gpu.launch_func {{ *}}@[[P:fa_attention_bf16_d128_bm16_bn64_w4_s3_kw4_lse_[0-9a-f]+_gqa4_splitkv]]::@[[P]] blocks in (%{{.*}}, %c2{{.*}}, %{{.*}})
// SPLIT:         gpu.launch_func {{ *}}@[[C:fa_attention_combine_bf16_d128_bm16_lse_[0-9a-f]+]]::@[[C]] blocks in (%{{.*}}, %c8{{.*}}, %{{.*}})
// SPLIT:         gpu.func @[[P]]({{.*}}pack_gqa = 4 : i64, split_stage = "partial"
// The combine runs over query heads; its launch info keeps the partial's
// pack_gqa for the metadata's split section.
// SPLIT:         gpu.func @[[C]]
// SPLIT-SAME:      pack_gqa = 4 : i64, split_stage = "combine"

// QHEAD: error: not a fused attention tile a GPU strategy can implement: the Q tile must be the slice [b, h * G : h * G + G, start:start+n, :] of its operand (G = pack_gqa)
// OHEAD: error: not a fused attention tile a GPU strategy can implement: a packed tile writes rows [first row, first row + rows) of its G query heads
// ATTR: error: uses the query tile index of a packed tile with 8 positions; expected only 'tile * 8'
// BADATTR: error: 'fa.attention_tile' must be {block_m = M : i64, block_n = N : i64} with positive M and N (and optionally split_kv and pack_gqa = G with 1 < G <= M)
// NOATTR: error: uses the query tile index of a tile with block_m = 16; expected only 'tile * 16'
// HEADS: error: not a fused attention tile a GPU strategy can implement: a packed tile needs static head counts with Hq = G * Hkv (G = pack_gqa)
// HOPPER: error: the hopper-ws strategy does not build packed GQA tiles (pack_gqa); use strategy=mma-sync or auto
// DYNAMIC: error: 'fa.attention' op pack-gqa needs static head counts, got Hq = 8 and Hkv = ?
// GROUP: error: 'fa.attention' op pack-gqa puts the 4 query heads of a group in one tile of block-m = 2 rows; block-m must be at least 4
func.func @decode(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>,
                  %v: tensor<?x2x?x128xbf16>, %o: tensor<?x8x?x128xbf16>,
                  %l: tensor<?x8x?xf32>)
    -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %r, %lse = fa.attention
      ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>,
                       tensor<?x2x?x128xbf16>)
      outs(%o, %l : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>)
      causal = <bottom_right> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %r, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}
