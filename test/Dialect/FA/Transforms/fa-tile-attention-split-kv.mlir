// RUN: fa-opt %s -split-input-file "--fa-tile-attention=split-kv=auto block-m=16 block-n=64" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=split-kv=4 block-m=16 block-n=64" | FileCheck %s --check-prefix=FIXED
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=split-kv=auto block-m=16 block-n=64" --fa-fuse-online-softmax | FileCheck %s --check-prefix=FUSED
// RUN: not fa-opt %s "--fa-tile-attention=split-kv=0" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not fa-opt %s "--fa-tile-attention=split-kv=129" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not fa-opt %s "--fa-tile-attention=split-kv=some" 2>&1 | FileCheck %s --check-prefix=BAD

// Split-KV: the forall gains a leading split dimension whose count is
// fa.split_count of (B * Hq * tiles, key blocks); split s walks key blocks
// [s * c, (s + 1) * c) of what the tile sees and writes f32 partials; the
// combine forall merges them into O and the LSE.
// CHECK-LABEL: func.func @decode
// CHECK:         %[[BLOCKS:.*]] = arith.ceildivui %{{.*}}, %c64 : index
// CHECK:         arith.muli
// CHECK:         %[[TILES:.*]] = arith.muli
// CHECK:         %[[S:.*]] = fa.split_count %[[TILES]], %[[BLOCKS]] max = 128
// CHECK:         %[[CHUNK:.*]] = arith.ceildivui %[[BLOCKS]], %[[S]] : index
// CHECK:         %[[PO:.*]] = tensor.empty(%[[S]], %{{.*}}, %{{.*}}) : tensor<?x?x32x?x128xf32>
// CHECK:         %[[PL:.*]] = tensor.empty(%[[S]], %{{.*}}, %{{.*}}) : tensor<?x?x32x?xf32>
// CHECK:         %[[P:.*]]:2 = scf.forall (%[[SPLIT:.*]], %[[B:.*]], %[[H:.*]], %[[T:.*]]) in (%[[S]], {{.*}}) shared_outs(%{{.*}} = %[[PO]], %{{.*}} = %[[PL]])
// CHECK:           %[[END:.*]] = arith.maxsi
// CHECK-NEXT:      %[[END:.*]] = arith.minsi %{{.*}}, %{{.*}} : index
// CHECK:           %[[FIRST:.*]] = arith.muli %[[SPLIT]], %[[CHUNK]] : index
// CHECK:           %[[LO:.*]] = arith.muli %[[FIRST]], %{{.*}} : index
// CHECK:           %[[NEXT:.*]] = arith.addi %[[FIRST]], %[[CHUNK]] : index
// CHECK:           %[[HI0:.*]] = arith.muli %[[NEXT]], %{{.*}} : index
// CHECK:           %[[HI:.*]] = arith.minsi %[[END]], %[[HI0]] : index
// CHECK:           scf.for %{{.*}} = %[[LO]] to %[[HI]] step
// CHECK:           } {fa.softmax_stage = "row_sum"}
// CHECK:           %[[ACC:.*]] = scf.for
// CHECK:           } {fa.softmax_stage = "weighted_values"}
// CHECK-NOT:       fa.role = "store"
// CHECK:           fa.role = "lse"
// CHECK:           tensor.parallel_insert_slice %[[ACC]] into %{{.*}}[%[[SPLIT]], %[[B]], %[[H]], %{{.*}}, 0] [1, 1, 1, %{{.*}}, 128]
// CHECK:           tensor.parallel_insert_slice %{{.*}} into %{{.*}}[%[[SPLIT]], %[[B]], %[[H]], %{{.*}}] [1, 1, 1, %{{.*}}]
// CHECK:         } {fa.attention_tile = {block_m = 16 : i64, block_n = 64 : i64, split_kv}, mapping = [#gpu.block<linear_dim_3>, #gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
// CHECK:         scf.forall (%[[CB:.*]], %[[CH:.*]], %[[CT:.*]]) in
// CHECK:           tensor.extract_slice %[[P]]#1[0, %[[CB]], %[[CH]], %{{.*}}] [%{{.*}}, 1, 1, %{{.*}}] [1, 1, 1, 1] : tensor<?x?x32x?xf32> to tensor<?x?xf32>
// CHECK:           tensor.extract_slice %[[P]]#0[0, %[[CB]], %[[CH]], %{{.*}}, 0] [%{{.*}}, 1, 1, %{{.*}}, 128]
// CHECK:           fa.role = "combine_max"
// CHECK:           fa.role = "combine_weights"
// CHECK:           math.exp
// CHECK:           fa.role = "combine_sum"
// CHECK:           fa.role = "combine_acc"
// CHECK:           fa.role = "normalize"
// CHECK:           outs(%{{.*}} : tensor<?x128xbf16>) attrs = {fa.role = "store"}
// CHECK:           fa.role = "lse"
// CHECK:         } {fa.split_combine = {block_m = 16 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}

// A fixed count needs no fa.split_count.
// FIXED-LABEL: func.func @decode
// FIXED-NOT:     fa.split_count
// FIXED:         %[[C4:.*]] = arith.constant 4 : index
// FIXED:         tensor.empty(%{{.*}}, %{{.*}}) : tensor<4x?x32x?x128xf32>
// FIXED:         scf.forall ({{.*}}) in (4, {{.*}})

// The online softmax fuses in the split tile as in any other.
// FUSED-LABEL: func.func @decode
// FUSED:         scf.for {{.*}} {
// FUSED:         } {fa.softmax_stage = "online"}
// FUSED:         fa.split_combine

// BAD: split-kv must be none, auto or a count in [1, 128]
func.func @decode(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x8x?x128xbf16>,
                  %v: tensor<?x8x?x128xbf16>, %o: tensor<?x32x?x128xbf16>,
                  %l: tensor<?x32x?xf32>)
    -> (tensor<?x32x?x128xbf16>, tensor<?x32x?xf32>) {
  %r, %lse = fa.attention
      ins(%q, %k, %v : tensor<?x32x?x128xbf16>, tensor<?x8x?x128xbf16>,
                       tensor<?x8x?x128xbf16>)
      outs(%o, %l : tensor<?x32x?x128xbf16>, tensor<?x32x?xf32>)
      causal = <bottom_right> -> tensor<?x32x?x128xbf16>, tensor<?x32x?xf32>
  return %r, %lse : tensor<?x32x?x128xbf16>, tensor<?x32x?xf32>
}
