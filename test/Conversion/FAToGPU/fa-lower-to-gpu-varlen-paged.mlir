// fa-lower-to-gpu on packed variable-length queries against a paged cache:
// the kernel takes the query offsets and then the block table and the key
// counts (no key offsets), views its sequence's Q, O and LSE rows as a
// fixed-length attention (as a varlen kernel does) and reads K and V from
// the pool through the block table's row of its sequence (as a paged
// kernel does), with the key count and the causal diagonal the IR computes.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax --canonicalize --cse --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax > %t.mlir
// Hand-edited tiles. The Q rows without the sequence's first row:
// RUN: sed 's/tensor.extract_slice %arg0\[%19,/tensor.extract_slice %arg0[%4,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=QROW
// the pages of another sequence:
// RUN: sed 's/fa.paged_rows %arg1\[%arg9,/fa.paged_rows %arg1[%arg10,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=KSEQ
// the key count of another sequence:
// RUN: sed 's/tensor.extract %arg8\[%arg9\]/tensor.extract %arg8[%arg10]/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=LENGTH
// the output rows without the sequence's first row:
// RUN: sed 's/into %arg12\[%36,/into %arg12\[%4,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=OROW
// A new scale in the scores body is what the kernel multiplies by:
// RUN: sed 's/0.127517432 : f32/0.5 : f32/' %t.mlir | fa-opt --fa-lower-to-gpu | FileCheck %s --check-prefix=SCALE
// hopper-ws builds the same tile (its kernel:
// fa-lower-to-gpu-hopper-varlen-paged.mlir), strategy=auto included, and
// checks the tile alike:
// RUN: fa-opt %t.mlir --fa-lower-to-gpu=strategy=hopper-ws | FileCheck %s --check-prefix=HOPPER
// RUN: sed 's/fa.paged_rows %arg1\[%arg9,/fa.paged_rows %arg1[%arg10,/' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=KSEQ
// RUN: fa-opt %t.mlir --fa-lower-to-gpu=strategy=auto | FileCheck %s --check-prefix=AUTO

// CHECK-LABEL: func.func @varlen_paged
// CHECK-SAME:    %[[CQ:[a-z0-9]+]]: tensor<?xi32>, %[[M:[a-z0-9]+]]: index, %[[T:[a-z0-9]+]]: tensor<?x?xi32>, %[[N:[a-z0-9]+]]: tensor<?xi32>
// CHECK-DAG:     %[[CQB:.*]] = bufferization.to_buffer %[[CQ]]
// CHECK-DAG:     %[[TB:.*]] = bufferization.to_buffer %[[T]]
// CHECK-DAG:     %[[NB:.*]] = bufferization.to_buffer %[[N]]
// The grid: (ceildiv(max_seqlen_q, 64), Hq, offsets - 1).
// CHECK:         %[[TILES:.*]] = arith.ceildivui %[[M]], %{{.*}} : index
// CHECK:         %[[OFFSETS:.*]] = tensor.dim %[[CQ]], %{{.*}} : tensor<?xi32>
// CHECK:         %[[SEQS:.*]] = arith.subi %[[OFFSETS]], %{{.*}} : index
// CHECK:         gpu.launch_func @[[K:fa_attention_bf16_d128_bm64_bn64_w4_s2_lse_[0-9a-f]+_varlen_paged16]]::@[[K]] blocks in (%[[TILES]], %{{.*}}, %[[SEQS]])
// CHECK-SAME:      args(%{{.*}} : memref<?x8x128xbf16, {{.*}}>, %{{.*}} : memref<?x16x2x128xbf16, {{.*}}>, %{{.*}} : memref<?x16x2x128xbf16, {{.*}}>, %{{.*}} : memref<?x8x128xbf16, {{.*}}>, %{{.*}} : memref<8x?xf32, {{.*}}>, %[[CQB]] : memref<?xi32, strided<[?], offset: ?>>, %[[TB]] : memref<?x?xi32, strided<[?, ?], offset: ?>>, %[[NB]] : memref<?xi32, strided<[?], offset: ?>>)
// CHECK:         gpu.func @[[K]](%{{[a-z0-9]+}}: memref<?x8x128xbf16, {{.*}}>, %{{[a-z0-9]+}}: memref<8x?xf32, {{.*}}>, %[[KCQ:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %[[KT:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[KN:[a-z0-9]+]]: memref<?xi32, {{.*}}>)
// CHECK-SAME:      fa.launch = {{{.*}}page_size = 16{{.*}}varlen = true
// The sequence's first query row and its query count, from the offsets;
// its key count from cache_seqlens.
// CHECK:         %[[SEQ:.*]] = gpu.block_id z
// CHECK:         memref.load %[[KCQ]]
// CHECK:         memref.load %[[KCQ]]
// CHECK:         memref.load %[[KN]]
// Q, O and the LSE seen as the sequence's rows; K and V stay the pool.
// CHECK-COUNT-3: memref.reinterpret_cast {{.*}} sizes: [1, 8, %{{.*}}
// CHECK-NOT:     memref.reinterpret_cast {{.*}} sizes: [1, 2,
// CHECK:         memref.load %[[KT]][%[[SEQ]], %{{.*}}] : memref<?x?xi32, {{.*}}>
// CHECK:         nvvm.cp.async.commit.group

// QROW: error: not a fused attention tile a GPU strategy can implement: the Q tile of a variable-length tile must start at cu_q[b] + the tile's first row
// KSEQ: error: not a fused attention tile a GPU strategy can implement: a paged tile reads the pages of its own sequence (the batch index)
// LENGTH: error: not a fused attention tile a GPU strategy can implement: a key block of a paged tile must hold min(block_n, cache_seqlens[b] - start) keys
// OROW: error: not a fused attention tile a GPU strategy can implement: a variable-length tile writes rows [cu_q[b] + first row, ... + rows) of its head
// SCALE: gpu.func
// SCALE-NOT: 1.275{{[0-9]*}}e-01 : f32
// SCALE: 5.000000e-01 : f32
// HOPPER: gpu.func @{{.*}}_wgmma_{{.*}}_varlen_paged16(
// HOPPER-SAME: strategy = "hopper-ws"
// AUTO: gpu.func @{{.*}}_wgmma_{{.*}}_varlen_paged16(
// AUTO-SAME: strategy = "hopper-ws"

func.func @varlen_paged(%q: tensor<?x8x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
                        %o: tensor<?x8x128xbf16>, %lse: tensor<8x?xf32>, %cu_q: tensor<?xi32>, %max_q: index,
                        %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> (tensor<?x8x128xbf16>, tensor<8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x128xbf16>, tensor<8x?xf32>)
      varlen(%cu_q : tensor<?xi32>) max_seqlen_q = %max_q
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x128xbf16>, tensor<8x?xf32>
  return %r, %l : tensor<?x8x128xbf16>, tensor<8x?xf32>
}
