// Variable-length tiles (fa.attention's varlen) on the mma-sync strategy:
// one block per (query tile of the longest sequence, head, sequence); the
// kernel reads its sequence's offsets and lengths from cu_seqlens_q/k, as
// the IR computes them, and sees the packed [T, H, D] operands as
// [1, H, n, D] views of its sequence.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax --canonicalize --cse --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax > %t.mlir
// Hand-edited tiles the strategy must refuse, not miscompile:
// the keys' first row read from the query offsets,
// RUN: sed 's/tensor.extract %arg6\[%arg8\]/tensor.extract %arg5[%arg8]/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=KBASE
// the V tile at the key position instead of its packed row,
// RUN: sed 's/tensor.extract_slice %arg2\[%41,/tensor.extract_slice %arg2[%arg13,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=VROW
// the output written without its sequence's first row,
// RUN: sed 's/into %arg11\[%38,/into %arg11[%4,/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=OROW
// a tile past the end of its sequence with negative rows (no clamp),
// RUN: sed 's/\[%15, 1, 128\] \[1, 1, 1\] : tensor<?x8x128xbf16> to/[%14, 1, 128] [1, 1, 1] : tensor<?x8x128xbf16> to/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=CLAMP
// and one query tile a position up to max_seqlen_q.
// RUN: sed 's/in (%0, %dim_1, %2)/in (%0, %dim_1, %arg7)/' %t.mlir | not fa-opt --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=GRID
// hopper-ws builds the tile (fa-lower-to-gpu-hopper-varlen.mlir) and
// refuses the same edits.
// RUN: fa-opt %t.mlir --fa-lower-to-gpu=strategy=hopper-ws | FileCheck %s --check-prefix=HOPPER
// RUN: sed 's/tensor.extract %arg6\[%arg8\]/tensor.extract %arg5[%arg8]/' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=KBASE
// RUN: sed 's/tensor.extract_slice %arg2\[%41,/tensor.extract_slice %arg2[%arg13,/' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=VROW
// RUN: sed 's/into %arg11\[%38,/into %arg11[%4,/' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=OROW
// RUN: sed 's/\[%15, 1, 128\] \[1, 1, 1\] : tensor<?x8x128xbf16> to/[%14, 1, 128] [1, 1, 1] : tensor<?x8x128xbf16> to/' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=CLAMP
// RUN: sed 's/in (%0, %dim_1, %2)/in (%0, %dim_1, %arg7)/' %t.mlir | not fa-opt --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=GRID
// split-kv does not tile them (pack-gqa: fa-lower-to-gpu-varlen-pack-gqa.mlir).
// RUN: not fa-opt %s "--fa-tile-attention=split-kv=auto" 2>&1 | FileCheck %s --check-prefix=SPLIT

// CHECK-LABEL: func.func @varlen
// CHECK-SAME:    %[[CUQ:[a-z0-9]+]]: tensor<?xi32>, %[[CUK:[a-z0-9]+]]: tensor<?xi32>, %[[MAXQ:[a-z0-9]+]]: index
// The grid: (ceildiv(max_seqlen_q, 64), Hq, offsets - 1), after the
// kernel's buffers.
// CHECK:         bufferization.to_buffer %[[CUK]]
// CHECK:         %[[TILES:.*]] = arith.ceildivui %[[MAXQ]], %{{.*}} : index
// CHECK:         %[[OFFSETS:.*]] = tensor.dim %[[CUQ]], %{{.*}} : tensor<?xi32>
// CHECK:         %[[SEQS:.*]] = arith.subi %[[OFFSETS]], %{{.*}} : index
// CHECK:         gpu.launch_func @[[K:fa_attention_bf16_d128_bm64_bn64_w4_s2_lse_[0-9a-f]+_varlen]]::@[[K]] blocks in (%[[TILES]], %{{.*}}, %[[SEQS]])
// CHECK-SAME:      args(%{{.*}} : memref<?x8x128xbf16, strided<[?, ?, 1], offset: ?>>, %{{.*}} : memref<?x2x128xbf16, {{.*}}>, %{{.*}} : memref<?x2x128xbf16, {{.*}}>, %{{.*}} : memref<?x8x128xbf16, {{.*}}>, %{{.*}} : memref<8x?xf32, {{.*}}>, %{{.*}} : memref<?xi32, strided<[?], offset: ?>>, %{{.*}} : memref<?xi32, strided<[?], offset: ?>>)
// CHECK:         gpu.func @[[K]](%{{[a-z0-9]+}}: memref<?x8x128xbf16, {{.*}}>, %{{[a-z0-9]+}}: memref<8x?xf32, {{.*}}>, %[[KCUQ:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %[[KCUK:[a-z0-9]+]]: memref<?xi32, {{.*}}>)
// CHECK-SAME:      fa.launch = {{{.*}}varlen = true
// The sequence's first rows and lengths, from the offsets.
// CHECK-DAG:       memref.load %[[KCUQ]]
// CHECK-DAG:       memref.load %[[KCUK]]
// Q, K, V, O seen as [1, H, n, D] of the sequence, LSE as [1, Hq, n].
// CHECK:           memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [1, 8, %[[NQ:[0-9]+]], 128], strides: [0, %{{.*}}, %{{.*}}, 1] : memref<bf16> to memref<1x8x?x128xbf16, strided<[0, ?, ?, 1], offset: ?>>
// CHECK:           memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [1, 2, %[[NK:[0-9]+]], 128], strides: [0, %{{.*}}, %{{.*}}, 1]
// CHECK:           memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [1, 2, %[[NK]], 128], strides: [0, %{{.*}}, %{{.*}}, 1]
// CHECK:           memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [1, 8, %[[NQ]], 128], strides: [0, %{{.*}}, %{{.*}}, 1]
// CHECK:           memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [1, 8, %[[NQ]]], strides: [0, %{{.*}}, %{{.*}}] : memref<f32> to memref<1x8x?xf32, strided<[0, ?, ?], offset: ?>>
// A tile past the end of its sequence visits no key block.
// CHECK:           %[[SOME:.*]] = arith.cmpi sgt, %{{.*}}, %{{.*}} : index
// CHECK:           arith.select %[[SOME]], %{{.*}}, %{{.*}} : index
// CHECK:           nvgpu.mma.sync

// KBASE: error: not a fused attention tile a GPU strategy can implement: a key block of a variable-length tile must hold min(block_n, (cu_k[b + 1] - cu_k[b]) - start) keys
// VROW: error: not a fused attention tile a GPU strategy can implement: the V tile of a variable-length tile must be the slice [base + start : base + start + n, h, :] of its packed operand
// OROW: error: not a fused attention tile a GPU strategy can implement: a variable-length tile writes rows [cu_q[b] + first row, ... + rows) of its head
// CLAMP: error: not a fused attention tile a GPU strategy can implement: a variable-length tile must hold max(min(block_m, (cu_q[b + 1] - cu_q[b]) - first row), 0) rows
// GRID: error: not a fused attention tile a GPU strategy can implement: the tiles of a variable-length tile must cover (offsets - 1, Hq, ceildiv(max_seqlen_q, block_m)) with max_seqlen_q defined outside the tile
// HOPPER: gpu.launch_func @{{fa_attention_bf16_d128_bm64_bn64_wg1_s2_wgmma_lse_[0-9a-f]+_varlen}}
// SPLIT: error: 'fa.attention' op split-kv does not support variable-length batches yet
func.func @varlen(%q: tensor<?x8x128xbf16>, %k: tensor<?x2x128xbf16>, %v: tensor<?x2x128xbf16>,
                  %o: tensor<?x8x128xbf16>, %lse: tensor<8x?xf32>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>, %m: index)
    -> (tensor<?x8x128xbf16>, tensor<8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x2x128xbf16>, tensor<?x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x128xbf16>, tensor<8x?xf32>)
      varlen(%cq, %ck : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %m
      causal = <bottom_right>
      -> tensor<?x8x128xbf16>, tensor<8x?xf32>
  return %r, %l : tensor<?x8x128xbf16>, tensor<8x?xf32>
}
