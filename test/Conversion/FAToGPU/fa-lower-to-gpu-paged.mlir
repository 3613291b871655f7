// Paged tiles (fa.attention's paged) on the mma-sync strategy: the fixed
// grid (query tile, head, batch); the kernel reads its sequence's key count
// from cache_seqlens as the IR does, and copies each K and V block through
// the block table (block_id.z's row), one lookup per page the block uses,
// shared by the K and V copies.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax --canonicalize --cse --fa-lower-to-gpu | FileCheck %s
// A page of 16 rows and blocks of 64: four lookups a block, for the 8 K
// and 8 V copies of each thread.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s --check-prefix=LOOKUPS
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax > %t.mlir
// Hand-edited tiles the strategy must refuse, not miscompile:
// the V rows read from sequence 0,
// RUN: sed 's/fa.paged_rows %arg2\[%arg7,/fa.paged_rows %arg2[%c0_4,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=VSEQ
// the K rows read from sequence 0,
// RUN: sed 's/fa.paged_rows %arg1\[%arg7,/fa.paged_rows %arg1[%c0_4,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=KSEQ
// the K rows from key 0 in every block,
// RUN: sed '0,/rows(%arg12, /s//rows(%c0_4, /' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=KSTART
// the key count of another sequence (the head's),
// RUN: sed 's/tensor.extract %arg6\[%arg7\]/tensor.extract %arg6[%arg8]/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=LENGTH
// The same edits under hopper-ws (and auto, which picks it here): refused.
// RUN: sed 's/tensor.extract %arg6\[%arg7\]/tensor.extract %arg6[%arg8]/' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=LENGTH
// RUN: sed 's/fa.paged_rows %arg2\[%arg7,/fa.paged_rows %arg2[%c0_4,/' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=VSEQ
// RUN: sed '0,/rows(%arg12, /s//rows(%c0_4, /' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=auto 2>&1 | FileCheck %s --check-prefix=KSTART
// hopper-ws builds this tile too (fa-lower-to-gpu-hopper-paged.mlir has
// its loads), and so does auto on sm_90a (pages of a multiple of 8 rows);
// the producer gathers its 16-row pieces with cp.async (paged-loads=auto).
// RUN: fa-opt %t.mlir --fa-lower-to-gpu=strategy=hopper-ws | FileCheck %s --check-prefix=HOPPER
// RUN: fa-opt %t.mlir --fa-lower-to-gpu=strategy=auto | FileCheck %s --check-prefix=HOPPER
// Packed GQA tiles: the grid's heads are the caches' (dimension 2).
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 pack-gqa" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s --check-prefix=PACK
// On sm_80 auto picks mma-sync.
// RUN: fa-opt %t.mlir "--fa-lower-to-gpu=strategy=auto chip=sm_80" | FileCheck %s --check-prefix=AUTO
// Split-KV (with packed GQA tiles): the partial kernel reads the pages, the
// combine merges its parts.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 split-kv=auto pack-gqa" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s --check-prefix=SPLIT

// CHECK-LABEL: func.func @paged
// CHECK-SAME:    %[[Q:[a-z0-9]+]]: tensor<?x8x?x128xbf16>, %{{[a-z0-9]+}}: tensor<?x16x2x128xbf16>, %{{[a-z0-9]+}}: tensor<?x16x2x128xbf16>, %{{[a-z0-9]+}}: tensor<?x8x?x128xbf16>, %{{[a-z0-9]+}}: tensor<?x8x?xf32>, %[[T:[a-z0-9]+]]: tensor<?x?xi32>, %[[N:[a-z0-9]+]]: tensor<?xi32>
// CHECK-DAG:     %[[TB:.*]] = bufferization.to_buffer %[[T]]
// CHECK-DAG:     %[[NB:.*]] = bufferization.to_buffer %[[N]]
// The grid: (ceildiv(Nq, 64), Hq, B).
// CHECK:         %[[NQ:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<?x8x?x128xbf16>
// CHECK:         %[[TILES:.*]] = arith.ceildivui %[[NQ]], %{{.*}} : index
// CHECK:         %[[B:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<?x8x?x128xbf16>
// CHECK:         gpu.launch_func @[[K:fa_attention_bf16_d128_bm64_bn64_w4_s2_lse_[0-9a-f]+_paged16]]::@[[K]] blocks in (%[[TILES]], %{{.*}}, %[[B]])
// CHECK-SAME:      args(%{{.*}} : memref<?x8x?x128xbf16, {{.*}}>, %{{.*}} : memref<?x16x2x128xbf16, {{.*}}>, %{{.*}} : memref<?x16x2x128xbf16, {{.*}}>, %{{.*}} : memref<?x8x?x128xbf16, {{.*}}>, %{{.*}} : memref<?x8x?xf32, {{.*}}>, %[[TB]] : memref<?x?xi32, strided<[?, ?], offset: ?>>, %[[NB]] : memref<?xi32, strided<[?], offset: ?>>)
// CHECK:         gpu.func @[[K]](%{{[a-z0-9]+}}: memref<?x8x?x128xbf16, {{.*}}>, %[[KT:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[KN:[a-z0-9]+]]: memref<?xi32, {{.*}}>)
// CHECK-SAME:      fa.launch = {{{.*}}page_size = 16
// The sequence's key count, as the IR reads it.
// CHECK:           memref.load %[[KN]]
// Each block's pages: row block_id.z of the table.
// CHECK:           memref.load %[[KT]][%block_id_z, %{{.*}}]
// CHECK:           nvgpu.device_async_copy
// CHECK-NOT:       memref.dim %{{.*}}, %c2 : memref<?x16x2x128xbf16

// LOOKUPS:       gpu.func
// LOOKUPS-COUNT-4: memref.load %arg5[%block_id_z
// LOOKUPS-NOT:   memref.load %arg5[%block_id_z
// LOOKUPS:       scf.for
// LOOKUPS-COUNT-4: memref.load %arg5[%block_id_z
// LOOKUPS-NOT:   memref.load %arg5[%block_id_z
// LOOKUPS:       gpu.return

// VSEQ: error: not a fused attention tile a GPU strategy can implement: the V rows of a paged tile must be the K rows' (same block table, sequence, head and keys)
// KSEQ: error: not a fused attention tile a GPU strategy can implement: a paged tile reads the pages of its own sequence (the batch index)
// KSTART: error: not a fused attention tile a GPU strategy can implement: the K rows of a paged tile must start at the block's first key
// LENGTH: error: not a fused attention tile a GPU strategy can implement: a key block of a paged tile must hold min(block_n, cache_seqlens[b] - start) keys
// HOPPER: gpu.func @fa_attention_bf16_d128_bm64_bn64_wg1_s2_wgmma_cpasync_lse_{{[0-9a-f]+}}_paged16(
// HOPPER-SAME: strategy = "hopper-ws", tensor_maps = [{argument = 0 : i64, box = [64, 64, 1, 1]}, {argument = 1 : i64, box = [64, 1, 16, 1]}, {argument = 2 : i64, box = [64, 1, 16, 1]}
// (Hkv = 2, static.)
// PACK:         gpu.launch_func @[[K:fa_attention_bf16_d128_bm64_bn64_w4_s2_lse_[0-9a-f]+_gqa4_paged16]]::@[[K]] blocks in (%{{.*}}, %c2{{.*}}, %{{.*}})
// SPLIT:       %[[S:.*]] = fa.split_count
// SPLIT:       gpu.launch_func @[[P:fa_attention_bf16_d128_bm64_bn64_w4_s2_lse_[0-9a-f]+_gqa4_paged16_splitkv]]::@[[P]]
// SPLIT-SAME:    memref<?x?xi32, {{.*}}>, %{{.*}} : memref<?xi32, {{.*}}>)
// SPLIT:       gpu.launch_func @[[C:fa_attention_combine_bf16_d128_bm64_lse_[0-9a-f]+]]::@[[C]]
// SPLIT:       gpu.func @[[P]](
// SPLIT-SAME:    %[[PL:[a-z0-9]+]]: memref<?x?x8x?xf32, {{.*}}>, %[[T:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[N:[a-z0-9]+]]: memref<?xi32, {{.*}}>)
// SPLIT-SAME:    split_stage = "partial"
// The part (x / tiles) takes its share of its own sequence's blocks:
// ceildiv(ceildiv(nk_b, 64), S), S read from the partial LSE.
// SPLIT:         %[[PART:.*]] = arith.divui %block_id_x, %{{.*}} : index
// SPLIT:         %[[NK32:.*]] = memref.load %[[N]]
// SPLIT:         %[[NK:.*]] = arith.index_cast %[[NK32]] : i32 to index
// SPLIT:         %[[OWN:.*]] = arith.ceildivui %[[NK]], %c64{{.*}} : index
// SPLIT:         %[[S:.*]] = memref.dim %[[PL]], %c0
// SPLIT:         %[[CHUNK:.*]] = arith.ceildivui %[[OWN]], %[[S]] : index
// SPLIT:         arith.muli %[[PART]], %[[CHUNK]] : index
// SPLIT:         memref.load %[[T]][%block_id_z
// SPLIT:         nvgpu.device_async_copy
// AUTO: gpu.func @fa_attention_bf16_d128_bm64_bn64_w4_s2_lse_{{[0-9a-f]+}}_paged16
func.func @paged(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
                 %o: tensor<?x8x?x128xbf16>, %lse: tensor<?x8x?xf32>,
                 %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %r, %l : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}
