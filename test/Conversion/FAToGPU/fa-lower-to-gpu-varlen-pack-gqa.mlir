// Packed GQA tiles of variable-length batches on the mma-sync strategy:
// one block per (query tile of block_m / G positions of the longest
// sequence, key/value head, sequence); the kernel reads the G query heads
// of its group at its sequence's rows through the [1, H, n, D] views of the
// packed operands, and the launch JSON gives the grid's y as k.size[1].
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 pack-gqa" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 pack-gqa" --fa-fuse-online-softmax --canonicalize --cse --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 pack-gqa" --fa-fuse-online-softmax > %t.mlir
// K/V with one head where the tile packs 4 of 8 query heads a head:
// RUN: sed 's/tensor<?x2x128xbf16>/tensor<?x1x128xbf16>/g' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=HEADS
// Hand-edited tiles the strategy must refuse, not miscompile:
// the Q tokens collapsed token-major (no transpose to [G, n, D]),
// RUN: sed 's/tensor.collapse_shape [%]transposed \[\[0, 1\], \[2\]\] : tensor<4x?x128xbf16>/tensor.collapse_shape %extracted_slice [[0, 1], [2]] : tensor<?x4x128xbf16>/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=QORDER
// the Q tile's first head the key/value head instead of head * G,
// RUN: sed 's/extract_slice %arg0\[%21, %15, 0\]/extract_slice %arg0[%21, %arg9, 0]/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=QHEAD
// the output's [G, n, Dv] written as n heads of G tokens,
// RUN: sed 's/insert_slice [%]transposed_29 into %arg11\[%39, %15, 0\] \[%14, 4, 128\] \[1, 1, 1\] : tensor<?x4x128xbf16>/insert_slice %expanded into %arg11[%39, %15, 0] [4, %14, 128] [1, 1, 1] : tensor<4x?x128xbf16>/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=OROW
// the LSE written at the key/value head,
// RUN: sed 's/into %arg12\[%15, %39\]/into %arg12[%arg9, %39]/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=LROW
// a grid over the query heads, and one that drops the last tile.
// RUN: sed 's/%dim_3 = tensor.dim %arg1, %c1_2 : tensor<?x2x128xbf16>/%dim_3 = tensor.dim %arg0, %c1_2 : tensor<?x8x128xbf16>/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=GRID
// RUN: sed 's/%1 = arith.ceildivui %arg7, %c16/%1 = arith.divui %arg7, %c16/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=GRID
// hopper-ws does not build packed or variable-length tiles.
// RUN: not fa-opt %t.mlir --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=HOPPER

// The grid: (ceildiv(max_seqlen_q, 16), Hkv = 2, B).
// CHECK-LABEL: func.func @varlen
// CHECK:         gpu.launch_func @[[NAME:fa_attention_bf16_d128_bm64_bn64_w4_s2_lse_[0-9a-f]+_gqa4_varlen]]::@[[NAME]] blocks in (%[[TILES:[0-9]+]], %c2, %{{[0-9]+}})
// CHECK:       gpu.func @[[NAME]]
// CHECK-SAME:    fa.launch = {{{.*}}pack_gqa = 4 : i64{{.*}}varlen = true
// CHECK:         nvgpu.device_async_copy
// CHECK:         nvgpu.mma.sync

// HEADS: error: not a fused attention tile a GPU strategy can implement: a packed tile needs static head counts with Hq = G * Hkv (G = pack_gqa)
// QORDER: error: not a fused attention tile a GPU strategy can implement: the Q tile of a packed variable-length tile must be its [n, G, D] slice transposed to [G, n, D] and collapsed into G * n rows
// QHEAD: error: not a fused attention tile a GPU strategy can implement: the Q tile of a variable-length tile must be the slice [base + start : base + start + n, h, :] of its packed operand, base the sequence's first row
// OROW: error: not a fused attention tile a GPU strategy can implement: a packed variable-length tile writes rows [cu_q[b] + first row, ... + rows) of its G query heads
// LROW: error: not a fused attention tile a GPU strategy can implement: a packed variable-length tile writes rows [cu_q[b] + first row, ... + rows) of its G query heads
// GRID: error: not a fused attention tile a GPU strategy can implement: the packed tiles of a variable-length tile must cover (offsets - 1, Hkv, ceildiv(max_seqlen_q, block_m / G)) with max_seqlen_q defined outside the tile
// HOPPER: error: the hopper-ws strategy does not build packed GQA tiles (pack_gqa); use strategy=mma-sync or auto

func.func @varlen(%q: tensor<?x8x128xbf16>, %k: tensor<?x2x128xbf16>, %v: tensor<?x2x128xbf16>,
                  %o: tensor<?x8x128xbf16>, %lse: tensor<8x?xf32>,
                  %cu_q: tensor<?xi32>, %cu_k: tensor<?xi32>, %max_q: index)
    -> (tensor<?x8x128xbf16>, tensor<8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x2x128xbf16>, tensor<?x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x128xbf16>, tensor<8x?xf32>)
      varlen(%cu_q, %cu_k : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %max_q
      causal = <bottom_right>
      -> tensor<?x8x128xbf16>, tensor<8x?xf32>
  return %r, %l : tensor<?x8x128xbf16>, tensor<8x?xf32>
}
