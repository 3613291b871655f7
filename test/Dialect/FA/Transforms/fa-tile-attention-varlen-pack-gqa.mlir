// fa-tile-attention pack-gqa on variable-length batches: a tile holds the
// G = Hq / Hkv query heads of one key/value head at block_m / G positions
// of its sequence. The packed tokens [n, G, D] are transposed to [G, n, D]
// and collapsed head-major into G * n rows (the rows of a fixed-length
// packed tile); the output goes back through the inverse transpose, and
// the LSE [Hq, Tq] takes its [G, n] rows as they are. The grid is
// (B, Hkv, ceildiv(max_seqlen_q, block_m / G)).
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 pack-gqa" | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 pack-gqa" --fa-fuse-online-softmax | FileCheck %s --check-prefix=FUSED
// Dynamic head counts cannot be packed.
// RUN: sed 's/x8x128/x?x128/g; s/tensor<8x?xf32>/tensor<?x?xf32>/g' %s | not fa-opt "--fa-tile-attention=pack-gqa" 2>&1 | FileCheck %s --check-prefix=DYNAMIC
// Nor can zero query heads (a group of none; the packing divides by it).
// RUN: sed 's/x8x128/x0x128/g; s/tensor<8x?xf32>/tensor<0x?xf32>/g' %s | not fa-opt "--fa-tile-attention=pack-gqa" 2>&1 | FileCheck %s --check-prefix=ZERO

// CHECK-LABEL: func.func @varlen
// CHECK-SAME:    %[[Q:[a-z0-9]+]]: tensor<?x8x128xbf16>, %[[K:[a-z0-9]+]]: tensor<?x2x128xbf16>, %[[V:[a-z0-9]+]]: tensor<?x2x128xbf16>, %[[O:[a-z0-9]+]]: tensor<?x8x128xbf16>, %[[L:[a-z0-9]+]]: tensor<8x?xf32>, %[[CQ:[a-z0-9]+]]: tensor<?xi32>, %[[CK:[a-z0-9]+]]: tensor<?xi32>, %[[M:[a-z0-9]+]]: index
// Hkv key/value heads; 16 positions of 4 heads a tile.
// CHECK:         %[[HKV:.*]] = tensor.dim %[[K]], %c1
// CHECK:         %[[TILES:.*]] = arith.ceildivui %[[M]], %c16
// CHECK:         scf.forall (%[[B:.*]], %[[H:.*]], %[[T:.*]]) in (%{{.*}}, %[[HKV]], %[[TILES]]) shared_outs(%[[OS:.*]] = %[[O]], %[[LS:.*]] = %[[L]])
// CHECK:           %[[START:.*]] = arith.muli %[[T]], %c16
// CHECK:           %[[QB:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK:           %[[ROWS:.*]] = arith.maxsi %{{.*}}, %c0
// CHECK:           %[[HEAD:.*]] = arith.muli %[[H]], %c4
// CHECK:           %[[TOKEN:.*]] = arith.addi %[[QB]], %[[START]]
// CHECK:           %[[QS:.*]] = tensor.extract_slice %[[Q]][%[[TOKEN]], %[[HEAD]], 0] [%[[ROWS]], 4, 128] [1, 1, 1] : tensor<?x8x128xbf16> to tensor<?x4x128xbf16>
// CHECK:           %[[QT:.*]] = linalg.transpose ins(%[[QS]] : tensor<?x4x128xbf16>) outs(%{{.*}} : tensor<4x?x128xbf16>) permutation = [1, 0, 2]
// CHECK:           %[[QTILE:.*]] = tensor.collapse_shape %[[QT]] {{\[\[}}0, 1], [2]] : tensor<4x?x128xbf16> into tensor<?x128xbf16>
// K and V: one head, the tile's key/value head.
// CHECK:           tensor.extract_slice %[[K]][%{{.*}}, %[[H]], 0] [%{{.*}}, 1, 128]
// CHECK:           linalg.generic {{.*}} ins(%[[QTILE]], %{{.*}} : tensor<?x128xbf16>, tensor<?x128xbf16>) {{.*}} {fa.role = "qk"}
// The scores' query position: row % positions, from the tile's start.
// CHECK:           fa.role = "scores"
// CHECK:             linalg.index 0
// CHECK-NEXT:        arith.remui %{{.*}}, %[[ROWS]]
// CHECK:           %[[OTOKEN:.*]] = arith.addi %[[QB]], %[[START]]
// CHECK:           %[[OE:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [4, %[[ROWS]], 128] : tensor<?x128xbf16> into tensor<4x?x128xbf16>
// CHECK:           %[[OT:.*]] = linalg.transpose ins(%[[OE]] : tensor<4x?x128xbf16>) outs(%{{.*}} : tensor<?x4x128xbf16>) permutation = [1, 0, 2]
// CHECK:           %[[LE:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [4, %[[ROWS]]] : tensor<?xf32> into tensor<4x?xf32>
// CHECK:           scf.forall.in_parallel
// CHECK-NEXT:        tensor.parallel_insert_slice %[[OT]] into %[[OS]][%[[OTOKEN]], %[[HEAD]], 0] [%[[ROWS]], 4, 128] [1, 1, 1] : tensor<?x4x128xbf16> into tensor<?x8x128xbf16>
// CHECK-NEXT:        tensor.parallel_insert_slice %[[LE]] into %[[LS]][%[[HEAD]], %[[OTOKEN]]] [4, %[[ROWS]]] [1, 1] : tensor<4x?xf32> into tensor<8x?xf32>
// CHECK:         } {fa.attention_tile = {block_m = 64 : i64, block_n = 64 : i64, pack_gqa = 4 : i64}

// The same tiles against a paged cache: heads from dimension 2 of the pool.
// CHECK-LABEL: func.func @varlen_paged
// CHECK-SAME:    %{{[a-z0-9]+}}: tensor<?x8x128xbf16>,
// CHECK-SAME:    %[[PK:[a-z0-9]+]]: tensor<?x16x2x128xbf16>
// CHECK:         %[[PHKV:.*]] = tensor.dim %[[PK]], %c2
// CHECK:         %[[PTILES:.*]] = arith.ceildivui %{{.*}}, %c16
// CHECK:         scf.forall (%{{.*}}, %[[PH:.*]], %{{.*}}) in (%{{.*}}, %[[PHKV]], %[[PTILES]])
// CHECK:           linalg.transpose {{.*}} permutation = [1, 0, 2]
// CHECK:           fa.paged_rows %{{.*}}[%{{.*}}, %[[PH]]] pages(%{{.*}}) rows
// CHECK:           fa.paged_rows %{{.*}}[%{{.*}}, %[[PH]]] pages(%{{.*}}) rows
// CHECK:           linalg.transpose {{.*}} permutation = [1, 0, 2]
// CHECK:         } {fa.attention_tile = {block_m = 64 : i64, block_n = 64 : i64, pack_gqa = 4 : i64}

// FUSED-LABEL: func.func @varlen
// FUSED:         linalg.transpose {{.*}} permutation = [1, 0, 2]
// FUSED:         } {fa.softmax_stage = "online"}
// FUSED-NOT:     fa.softmax_stage = "{{row_max|row_sum|weighted_values}}"
// FUSED:         linalg.transpose {{.*}} permutation = [1, 0, 2]
// FUSED-LABEL: func.func @varlen_paged
// FUSED:         } {fa.softmax_stage = "online"}

// DYNAMIC: error: 'fa.attention' op pack-gqa needs static head counts, got Hq = ? and Hkv = 2
// ZERO: error: 'fa.attention' op pack-gqa packs a group's query heads into a tile, and a group needs heads: got Hq = 0 and Hkv = 2

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
