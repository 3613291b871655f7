// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=32 block-n=16" | FileCheck %s

// One forall over (batch, head, query tile); three loops over key blocks,
// each recomputing the scores: the exact, unfused softmax.
// CHECK-LABEL: func.func @gqa_causal_lse
// CHECK:         %[[GROUP:.*]] = arith.divui %{{.*}}, %{{.*}} : index
// CHECK:         %[[C32:.*]] = arith.constant 32 : index
// CHECK:         %[[TILES:.*]] = arith.ceildivui %{{.*}}, %[[C32]] : index
// CHECK:         %[[SHIFT:.*]] = arith.subi
// CHECK:         scf.forall (%[[B:.*]], %[[H:.*]], %[[T:.*]]) in (%{{.*}}, %{{.*}}, %[[TILES]]) shared_outs(%[[O:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}})
// CHECK:           %[[KVH:.*]] = arith.divui %[[H]], %[[GROUP]] : index
// CHECK:           tensor.extract_slice %{{.*}}[%[[B]], %[[H]], %{{.*}}, 0] [1, 1, %{{.*}}, 64] [1, 1, 1, 1] : tensor<2x8x?x64xf16> to tensor<?x64xf16>
// CHECK:           scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[C16:.*]] iter_args
// CHECK:             tensor.extract_slice %{{.*}}[%[[B]], %[[KVH]], %{{.*}}, 0]
// CHECK:             linalg.generic {{.*}} {fa.role = "qk"}
// CHECK:             fa.role = "scores"
// CHECK:             arith.cmpi sle
// CHECK:             arith.maximumf
// CHECK:           } {fa.softmax_stage = "row_max"}
// CHECK:           scf.for
// CHECK:             fa.role = "scores"
// CHECK:             math.exp
// CHECK:           } {fa.softmax_stage = "row_sum"}
// CHECK:           scf.for
// CHECK:             fa.role = "scores"
// CHECK:             fa.role = "probabilities"
// CHECK:             arith.divf
// CHECK:             tensor.extract_slice %{{.*}}[%[[B]], %[[KVH]], %{{.*}}, 0] [1, 1, %{{.*}}, 32]
// CHECK:             fa.role = "weighted_values"
// CHECK:           } {fa.softmax_stage = "weighted_values"}
// CHECK:           arith.truncf %{{.*}} : f32 to f16
// CHECK:           math.log
// CHECK:           scf.forall.in_parallel
// CHECK:             tensor.parallel_insert_slice %{{.*}} into %[[O]]
// CHECK:             tensor.parallel_insert_slice %{{.*}} into %[[L]]
// CHECK:         } {fa.attention_tile = {block_m = 32 : i64, block_n = 16 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
// CHECK-NOT:     fa.attention ins
func.func @gqa_causal_lse(%q: tensor<2x8x?x64xf16>, %k: tensor<2x2x?x64xf16>,
                          %v: tensor<2x2x?x32xf16>, %o: tensor<2x8x?x32xf16>,
                          %l: tensor<2x8x?xf32>)
    -> (tensor<2x8x?x32xf16>, tensor<2x8x?xf32>) {
  %0, %1 = fa.attention ins(%q, %k, %v : tensor<2x8x?x64xf16>, tensor<2x2x?x64xf16>, tensor<2x2x?x32xf16>)
                        outs(%o, %l : tensor<2x8x?x32xf16>, tensor<2x8x?xf32>)
                        causal = <bottom_right> -> tensor<2x8x?x32xf16>, tensor<2x8x?xf32>
  return %0, %1 : tensor<2x8x?x32xf16>, tensor<2x8x?xf32>
}

// -----

// Dynamic head counts: the GQA rule is checked at run time.
// CHECK-LABEL: func.func @dynamic_heads
// CHECK:         cf.assert %{{.*}}, "fa.attention: number of key/value heads must be positive"
// CHECK:         cf.assert %{{.*}}, "fa.attention: number of query heads must be a multiple of the number of key/value heads"
// Without a causal mask the key loop runs to Nk and nothing is masked.
// CHECK-NOT:     arith.cmpi sgt
// CHECK:         scf.forall
func.func @dynamic_heads(%q: tensor<?x?x?x16xf32>, %k: tensor<?x?x?x16xf32>,
                         %o: tensor<?x?x?x16xf32>) -> tensor<?x?x?x16xf32> {
  %0 = fa.attention ins(%q, %k, %k : tensor<?x?x?x16xf32>, tensor<?x?x?x16xf32>, tensor<?x?x?x16xf32>)
                    outs(%o : tensor<?x?x?x16xf32>) -> tensor<?x?x?x16xf32>
  return %0 : tensor<?x?x?x16xf32>
}
