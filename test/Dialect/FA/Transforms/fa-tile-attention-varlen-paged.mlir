// fa-tile-attention on packed variable-length queries against a paged
// cache (varlen(cu_seqlens_q) with paged(...)): the tiles are the varlen
// ones (sequence, head, query tile of the longest sequence), each slicing
// its queries from cu_q[b] and writing its rows back there; the keys are
// the paged ones, cache_seqlens[b] of them read through the block table,
// and the causal diagonal is the sequence's own, nk_b - nq_b.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax | FileCheck %s --check-prefix=FUSED
// As for varlen, split-KV tiles do not take packed queries yet (packed GQA
// tiles: fa-tile-attention-varlen-pack-gqa.mlir).
// RUN: not fa-opt %s "--fa-tile-attention=split-kv=auto" 2>&1 | FileCheck %s --check-prefix=SPLIT

// CHECK-LABEL: func.func @varlen_paged
// CHECK-SAME:    %[[Q:[a-z0-9]+]]: tensor<?x8x128xbf16>, %[[K:[a-z0-9]+]]: tensor<?x16x2x128xbf16>, %[[V:[a-z0-9]+]]: tensor<?x16x2x128xbf16>, %[[O:[a-z0-9]+]]: tensor<?x8x128xbf16>, %[[L:[a-z0-9]+]]: tensor<8x?xf32>, %[[CQ:[a-z0-9]+]]: tensor<?xi32>, %[[M:[a-z0-9]+]]: index, %[[T:[a-z0-9]+]]: tensor<?x?xi32>, %[[N:[a-z0-9]+]]: tensor<?xi32>
// The grid: (B = offsets - 1, Hq, ceildiv(max_seqlen_q, block_m)).
// CHECK:         %[[OFFSETS:.*]] = tensor.dim %[[CQ]], %{{.*}} : tensor<?xi32>
// CHECK:         %[[B:.*]] = arith.subi %[[OFFSETS]], %{{.*}} : index
// Heads are dimension 2 of the caches.
// CHECK:         tensor.dim %[[K]], %c2
// CHECK:         %[[TILES:.*]] = arith.ceildivui %[[M]], %{{.*}} : index
// CHECK:         scf.forall (%[[SEQ:.*]], %[[H:.*]], %[[TILE:.*]]) in (%[[B]], %{{.*}}, %[[TILES]]) shared_outs(%[[OS:.*]] = %[[O]], %[[LS:.*]] = %[[L]])
// CHECK:           %[[FIRST:.*]] = arith.muli %[[TILE]], %{{.*}} : index
// CHECK:           %[[NEXT:.*]] = arith.addi %[[SEQ]], %{{.*}} : index
// CHECK:           %[[QB32:.*]] = tensor.extract %[[CQ]][%[[SEQ]]] : tensor<?xi32>
// CHECK:           %[[QBASE:.*]] = arith.index_cast %[[QB32]] : i32 to index
// CHECK:           tensor.extract %[[CQ]][%[[NEXT]]]
// CHECK:           %[[NQ:.*]] = arith.subi %{{.*}}, %[[QBASE]] : index
// No key offsets: the sequence's keys are its cache_seqlens.
// CHECK-NOT:       tensor.extract %[[CQ]]
// CHECK:           %[[NK32:.*]] = tensor.extract %[[N]][%[[SEQ]]] : tensor<?xi32>
// CHECK:           %[[NK:.*]] = arith.index_cast %[[NK32]] : i32 to index
// The bottom-right diagonal of this sequence: nk_b - nq_b.
// CHECK:           %[[SHIFT:.*]] = arith.subi %[[NK]], %[[NQ]] : index
// CHECK:           %[[LEFT:.*]] = arith.subi %[[NQ]], %[[FIRST]] : index
// CHECK:           %[[MIN:.*]] = arith.minsi %{{.*}}, %[[LEFT]] : index
// CHECK:           %[[ROWS:.*]] = arith.maxsi %[[MIN]], %{{.*}} : index
// CHECK:           %[[KVH:.*]] = arith.divui %[[H]], %{{.*}} : index
// The key loops end at min(nk_b, the causal end of the tile's last row).
// CHECK:           %[[LAST:.*]] = arith.addi %[[FIRST]], %[[ROWS]] : index
// CHECK:           arith.addi %[[LAST]], %[[SHIFT]] : index
// CHECK:           %[[END:.*]] = arith.minsi %[[NK]], %{{.*}} : index
// CHECK:           %[[QROW:.*]] = arith.addi %[[QBASE]], %[[FIRST]] : index
// CHECK:           tensor.extract_slice %[[Q]][%[[QROW]], %[[H]], 0] [%[[ROWS]], 1, 128] [1, 1, 1] : tensor<?x8x128xbf16> to tensor<?x128xbf16>
// CHECK:           scf.for %[[J:.*]] = %{{.*}} to %[[END]] step %{{.*}}
// CHECK:             %[[KLEFT:.*]] = arith.subi %[[NK]], %[[J]] : index
// CHECK:             %[[COLS:.*]] = arith.minsi %{{.*}}, %[[KLEFT]] : index
// CHECK:             fa.paged_rows %[[K]][%[[SEQ]], %[[KVH]]] pages(%[[T]]) rows(%[[J]], %[[COLS]]) : tensor<?x16x2x128xbf16>, tensor<?x?xi32> -> tensor<?x128xbf16>
// CHECK:             fa.role = "scores"
// CHECK:           } {fa.softmax_stage = "row_max"}
// CHECK:           fa.paged_rows %[[V]][%[[SEQ]], %[[KVH]]] pages(%[[T]])
// CHECK:           } {fa.softmax_stage = "weighted_values"}
// CHECK:           %[[TOKEN:.*]] = arith.addi %[[QBASE]], %[[FIRST]] : index
// CHECK:           scf.forall.in_parallel
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[OS]][%[[TOKEN]], %[[H]], 0] [%[[ROWS]], 1, 128] [1, 1, 1] : tensor<?x128xbf16> into tensor<?x8x128xbf16>
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[LS]][%[[H]], %[[TOKEN]]] [1, %[[ROWS]]] [1, 1] : tensor<?xf32> into tensor<8x?xf32>

// FUSED:         scf.for
// FUSED:           fa.paged_rows %{{.*}}[%{{.*}}, %{{.*}}] pages(%{{.*}}) rows
// FUSED:           fa.paged_rows %{{.*}}[%{{.*}}, %{{.*}}] pages(%{{.*}}) rows
// FUSED:         } {fa.softmax_stage = "online"}
// FUSED-NOT:     fa.softmax_stage = "{{row_max|row_sum|weighted_values}}"

// SPLIT: error: 'fa.attention' op split-kv does not support variable-length batches yet

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
