// fa-tile-attention on a paged KV cache: the tiles are the fixed-length
// ones (batch, head, query tile); each reads its sequence's key count from
// cache_seqlens, aligns its causal mask with it and reads every key block
// through the block table (fa.paged_rows), which fusion carries unchanged
// and fa-expand-paged-rows turns into a gather.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax | FileCheck %s --check-prefix=FUSED
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64" --fa-fuse-online-softmax --fa-expand-paged-rows | FileCheck %s --check-prefix=EXPAND
// pack-gqa: the 4 query heads of a key/value head share its pages.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 pack-gqa" | FileCheck %s --check-prefix=PACK
// split-kv: the rule bounds the keys by max_pages * page_size; each tile
// shares out its own sequence's blocks among the parts.
// RUN: fa-opt %s "--fa-tile-attention=block-m=64 block-n=64 split-kv=auto" | FileCheck %s --check-prefix=SPLIT

// CHECK-LABEL: func.func @paged
// CHECK-SAME:    %[[Q:[a-z0-9]+]]: tensor<?x8x?x128xbf16>, %[[K:[a-z0-9]+]]: tensor<?x16x2x128xbf16>, %[[V:[a-z0-9]+]]: tensor<?x16x2x128xbf16>, %{{[a-z0-9]+}}: tensor<?x8x?x128xbf16>, %{{[a-z0-9]+}}: tensor<?x8x?xf32>, %[[T:[a-z0-9]+]]: tensor<?x?xi32>, %[[N:[a-z0-9]+]]: tensor<?xi32>
// Heads are dimension 2 of the caches.
// CHECK:         tensor.dim %[[K]], %c2
// CHECK:         scf.forall (%[[B:.*]], %[[H:.*]], %[[TILE:.*]]) in
// CHECK:           %[[NK32:.*]] = tensor.extract %[[N]][%[[B]]] : tensor<?xi32>
// CHECK:           %[[NK:.*]] = arith.index_cast %[[NK32]] : i32 to index
// The bottom-right diagonal of this sequence: nk_b - Nq.
// CHECK:           %[[SHIFT:.*]] = arith.subi %[[NK]], %{{.*}} : index
// CHECK:           %[[KVH:.*]] = arith.divui %[[H]], %{{.*}} : index
// The key loops end at min(nk_b, the causal end).
// CHECK:           %[[END:.*]] = arith.minsi %[[NK]], %{{.*}} : index
// CHECK:           tensor.extract_slice %[[Q]][%[[B]], %[[H]], %{{.*}}, 0]
// CHECK:           scf.for %[[J:.*]] = %{{.*}} to %[[END]] step %{{.*}}
// CHECK:             %[[LEFT:.*]] = arith.subi %[[NK]], %[[J]] : index
// CHECK:             %[[COLS:.*]] = arith.minsi %{{.*}}, %[[LEFT]] : index
// CHECK:             fa.paged_rows %[[K]][%[[B]], %[[KVH]]] pages(%[[T]]) rows(%[[J]], %[[COLS]]) : tensor<?x16x2x128xbf16>, tensor<?x?xi32> -> tensor<?x128xbf16>
// CHECK:           } {fa.softmax_stage = "row_max"}
// CHECK:           fa.paged_rows %[[V]][%[[B]], %[[KVH]]] pages(%[[T]])
// CHECK:           } {fa.softmax_stage = "weighted_values"}

// FUSED:         scf.for
// FUSED:           fa.paged_rows %{{.*}}[%{{.*}}, %{{.*}}] pages(%{{.*}}) rows
// FUSED:           fa.paged_rows %{{.*}}[%{{.*}}, %{{.*}}] pages(%{{.*}}) rows
// FUSED:         } {fa.softmax_stage = "online"}

// Row r of a block is key j + r: page table[b, (j + r) / 16], row
// (j + r) % 16.
// EXPAND-NOT:    fa.paged_rows
// EXPAND:        tensor.generate
// EXPAND-NEXT:   ^bb0(%[[R:.*]]: index, %[[D:.*]]: index):
// EXPAND-NEXT:     %[[P:.*]] = arith.addi %{{.*}}, %[[R]] : index
// EXPAND-NEXT:     %[[SLOT:.*]] = arith.divui %[[P]], %c16 : index
// EXPAND-NEXT:     %[[IN:.*]] = arith.remui %[[P]], %c16 : index
// EXPAND-NEXT:     %[[E:.*]] = tensor.extract %{{.*}}[%{{.*}}, %[[SLOT]]] : tensor<?x?xi32>
// EXPAND-NEXT:     %[[PAGE:.*]] = arith.index_cast %[[E]] : i32 to index
// EXPAND-NEXT:     tensor.extract %{{.*}}[%[[PAGE]], %[[IN]], %{{.*}}, %[[D]]] : tensor<?x16x2x128xbf16>
// EXPAND:        } {fa.softmax_stage = "online"}

// SPLIT-LABEL: func.func @paged
// SPLIT-SAME:    %[[T:[a-z0-9]+]]: tensor<?x?xi32>, %[[N:[a-z0-9]+]]: tensor<?xi32>
// SPLIT:         %[[MAXP:.*]] = tensor.dim %[[T]], %c1{{.*}} : tensor<?x?xi32>
// SPLIT:         %[[BOUND:.*]] = arith.muli %[[MAXP]], %c16 : index
// SPLIT:         %[[BLOCKS:.*]] = arith.ceildivui %[[BOUND]], %c64{{.*}} : index
// SPLIT:         %[[S:.*]] = fa.split_count %{{.*}}, %[[BLOCKS]] max = 128
// SPLIT:         scf.forall (%[[P:.*]], %[[B:.*]], %{{.*}}, %{{.*}}) in (%[[S]],
// SPLIT:           %[[NK32:.*]] = tensor.extract %[[N]][%[[B]]] : tensor<?xi32>
// SPLIT:           %[[NK:.*]] = arith.index_cast %[[NK32]] : i32 to index
// SPLIT:           %[[OWN:.*]] = arith.ceildivui %[[NK]], %c64{{.*}} : index
// SPLIT:           %[[CHUNK:.*]] = arith.ceildivui %[[OWN]], %[[S]] : index
// SPLIT:           %[[FIRST:.*]] = arith.muli %[[P]], %[[CHUNK]] : index
// SPLIT:           %[[LO:.*]] = arith.muli %[[FIRST]], %c64{{.*}} : index
// SPLIT:           scf.for %{{.*}} = %[[LO]] to
// SPLIT:             fa.paged_rows
// SPLIT:         } {fa.attention_tile = {block_m = 64 : i64, block_n = 64 : i64, split_kv}
// SPLIT:         fa.split_combine
// PACK-LABEL: func.func @paged
// PACK:         %[[HKV:.*]] = tensor.dim %arg1, %c2{{.*}} : tensor<?x16x2x128xbf16>
// PACK:         scf.forall (%[[B:.*]], %[[G:.*]], %{{.*}}) in (%{{.*}}, %[[HKV]], %{{.*}})
// PACK:           fa.paged_rows %arg1[%[[B]], %[[G]]] pages(%arg5)
// PACK:         } {fa.attention_tile = {block_m = 64 : i64, block_n = 64 : i64, pack_gqa = 4 : i64}
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
