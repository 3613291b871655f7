// fa-tile-attention on a variable-length batch: tiles over (sequence,
// head, query tile of the longest sequence); each reads its sequence's
// first rows and lengths from the offsets, slices the packed operands from
// there, masks causally with its own lengths and writes its rows back.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=32" | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=32" --fa-fuse-online-softmax | FileCheck %s --check-prefix=FUSED

// CHECK-LABEL: func.func @varlen
// CHECK-SAME:    %[[Q:[a-z0-9]+]]: tensor<?x8x128xbf16>, %[[K:[a-z0-9]+]]: tensor<?x2x128xbf16>, %[[V:[a-z0-9]+]]: tensor<?x2x128xbf16>, %[[O:[a-z0-9]+]]: tensor<?x8x128xbf16>, %[[L:[a-z0-9]+]]: tensor<8x?xf32>, %[[CQ:[a-z0-9]+]]: tensor<?xi32>, %[[CK:[a-z0-9]+]]: tensor<?xi32>, %[[M:[a-z0-9]+]]: index
// CHECK:         %[[OFFSETS:.*]] = tensor.dim %[[CQ]], %{{.*}} : tensor<?xi32>
// CHECK:         %[[B:.*]] = arith.subi %[[OFFSETS]], %{{.*}} : index
// CHECK:         %[[TILES:.*]] = arith.ceildivui %[[M]], %{{.*}} : index
// CHECK:         scf.forall (%[[SEQ:.*]], %[[H:.*]], %[[T:.*]]) in (%[[B]], %{{.*}}, %[[TILES]]) shared_outs(%[[OS:.*]] = %[[O]], %[[LS:.*]] = %[[L]])
// CHECK:           %[[FIRST:.*]] = arith.muli %[[T]], %{{.*}} : index
// CHECK:           %[[NEXT:.*]] = arith.addi %[[SEQ]], %{{.*}} : index
// CHECK:           %[[QB32:.*]] = tensor.extract %[[CQ]][%[[SEQ]]] : tensor<?xi32>
// CHECK:           %[[QBASE:.*]] = arith.index_cast %[[QB32]] : i32 to index
// CHECK:           tensor.extract %[[CQ]][%[[NEXT]]]
// CHECK:           %[[NQ:.*]] = arith.subi %{{.*}}, %[[QBASE]] : index
// CHECK:           %[[KB32:.*]] = tensor.extract %[[CK]][%[[SEQ]]] : tensor<?xi32>
// CHECK:           %[[KBASE:.*]] = arith.index_cast %[[KB32]] : i32 to index
// CHECK:           tensor.extract %[[CK]][%[[NEXT]]]
// CHECK:           %[[NK:.*]] = arith.subi %{{.*}}, %[[KBASE]] : index
// The bottom-right diagonal of this sequence: Nk - Nq.
// CHECK:           %[[SHIFT:.*]] = arith.subi %[[NK]], %[[NQ]] : index
// CHECK:           %[[LEFT:.*]] = arith.subi %[[NQ]], %[[FIRST]] : index
// CHECK:           %[[MIN:.*]] = arith.minsi %{{.*}}, %[[LEFT]] : index
// CHECK:           %[[ROWS:.*]] = arith.maxsi %[[MIN]], %{{.*}} : index
// CHECK:           %[[QROW:.*]] = arith.addi %[[QBASE]], %[[FIRST]] : index
// CHECK:           tensor.extract_slice %[[Q]][%[[QROW]], %[[H]], 0] [%[[ROWS]], 1, 128] [1, 1, 1] : tensor<?x8x128xbf16> to tensor<?x128xbf16>
// CHECK:           scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}}
// CHECK:             %[[KROW:.*]] = arith.addi %[[KBASE]], %[[J]] : index
// CHECK:             tensor.extract_slice %[[K]][%[[KROW]], %{{.*}}, 0] [%{{.*}}, 1, 128] [1, 1, 1] : tensor<?x2x128xbf16> to tensor<?x128xbf16>
// CHECK:             fa.role = "scores"
// CHECK:           } {fa.softmax_stage = "row_max"}
// CHECK:           %[[TOKEN:.*]] = arith.addi %[[QBASE]], %[[FIRST]] : index
// CHECK:           scf.forall.in_parallel
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[OS]][%[[TOKEN]], %[[H]], 0] [%[[ROWS]], 1, 128] [1, 1, 1] : tensor<?x128xbf16> into tensor<?x8x128xbf16>
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[LS]][%[[H]], %[[TOKEN]]] [1, %[[ROWS]]] [1, 1] : tensor<?xf32> into tensor<8x?xf32>

// FUSED: scf.for
// FUSED: tensor.extract_slice %{{.*}} : tensor<?x2x128xbf16> to tensor<?x128xbf16>
// FUSED: tensor.extract_slice %{{.*}} : tensor<?x2x128xbf16> to tensor<?x128xbf16>
// FUSED: fa.softmax_stage = "online"
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
