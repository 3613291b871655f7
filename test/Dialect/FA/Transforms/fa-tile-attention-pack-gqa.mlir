// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=16 block-n=64 pack-gqa split-kv=auto" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=64 pack-gqa" --fa-fuse-online-softmax | FileCheck %s --check-prefix=ONE
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=16 block-n=64 pack-gqa split-kv=auto" --fa-fuse-online-softmax --canonicalize --cse | FileCheck %s --check-prefix=CANON

// Packed GQA: the forall runs over key/value heads; a tile holds the 4
// query heads of its group at 16 / 4 = 4 positions, collapsed head-major
// into its rows; the outputs are expanded back into [4, n] slices.
// CHECK-LABEL: func.func @decode
// CHECK-DAG:     %[[NQ:.*]] = tensor.dim %arg0, %c2
// CHECK-DAG:     %[[HKV:.*]] = tensor.dim %arg1, %c1
// CHECK:         %[[TILES:.*]] = arith.ceildivui %[[NQ]], %c4 : index
// CHECK:         %[[BH:.*]] = arith.muli %{{.*}}, %[[HKV]] : index
// CHECK:         %[[ALL:.*]] = arith.muli %[[BH]], %[[TILES]] : index
// CHECK:         %[[S:.*]] = fa.split_count %[[ALL]], %{{.*}} max = 128
// CHECK:         scf.forall (%[[SPLIT:.*]], %[[B:.*]], %[[KVH:.*]], %[[T:.*]]) in (%[[S]], %{{.*}}, %[[HKV]], %[[TILES]])
// CHECK:           %[[FIRST:.*]] = arith.muli %[[T]], %c4 : index
// CHECK:           %[[N:.*]] = arith.minsi %c4, %{{.*}} : index
// CHECK:           %[[HEAD:.*]] = arith.muli %[[KVH]], %{{.*}} : index
// CHECK:           %[[Q:.*]] = tensor.extract_slice %arg0[%[[B]], %[[HEAD]], %[[FIRST]], 0] [1, 4, %[[N]], 128] [1, 1, 1, 1] : tensor<?x32x?x128xbf16> to tensor<4x?x128xbf16>
// CHECK:           tensor.collapse_shape %[[Q]] {{\[}}[0, 1], [2]] : tensor<4x?x128xbf16> into tensor<?x128xbf16>
// CHECK:           tensor.extract_slice %arg1[%[[B]], %[[KVH]], %{{.*}}, 0] [1, 1, %{{.*}}, 128]
// The scores body: position first + r % n, query head h * 4 + r / n.
// CHECK:           fa.role = "scores"
// CHECK:             %[[R:.*]] = linalg.index 0 : index
// CHECK:             %[[DH:.*]] = arith.divui %[[R]], %[[N]] : index
// CHECK:             %[[QH:.*]] = arith.addi %[[HEAD]], %[[DH]] : index
// CHECK:             %[[RR:.*]] = arith.remui %[[R]], %[[N]] : index
// CHECK:             %[[QI:.*]] = arith.addi %[[FIRST]], %[[RR]] : index
// CHECK:             tensor.extract %{{.*}}[%[[QH]]] : tensor<32xf32>
// CHECK:           %[[O:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [4, %[[N]], 128] : tensor<?x128xf32> into tensor<4x?x128xf32>
// CHECK:           %[[L:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [4, %[[N]]] : tensor<?xf32> into tensor<4x?xf32>
// CHECK:           tensor.parallel_insert_slice %[[O]] into %{{.*}}[%[[SPLIT]], %[[B]], %[[HEAD]], %[[FIRST]], 0] [1, 1, 4, %[[N]], 128]
// CHECK:           tensor.parallel_insert_slice %[[L]] into %{{.*}}[%[[SPLIT]], %[[B]], %[[HEAD]], %[[FIRST]]] [1, 1, 4, %[[N]]]
// CHECK:         } {fa.attention_tile = {block_m = 16 : i64, block_n = 64 : i64, pack_gqa = 4 : i64, split_kv}
// The combine runs over query heads as for any split.
// CHECK:         fa.split_combine = {block_m = 16 : i64}

// One kernel, block-m 64: 16 positions of each of the 4 heads.
// ONE-LABEL: func.func @decode
// ONE:         scf.forall
// ONE:           tensor.extract_slice %arg0[{{.*}}] [1, 4, %{{.*}}, 128]
// ONE:           } {fa.softmax_stage = "online"}
// ONE:           fa.role = "store"
// ONE:           tensor.expand_shape
// ONE:         } {fa.attention_tile = {block_m = 64 : i64, block_n = 64 : i64, pack_gqa = 4 : i64}

// Canonicalized (constants folded, the unused head count gone): the
// packed contract survives.
// CANON-LABEL: func.func @decode
// CANON:         tensor.collapse_shape
// CANON:         fa.attention_tile = {block_m = 16 : i64, block_n = 64 : i64, pack_gqa = 4 : i64, split_kv}
func.func @decode(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x8x?x128xbf16>,
                  %v: tensor<?x8x?x128xbf16>, %o: tensor<?x32x?x128xbf16>,
                  %l: tensor<?x32x?xf32>, %slopes: tensor<32xf32>)
    -> (tensor<?x32x?x128xbf16>, tensor<?x32x?xf32>) {
  %r, %lse = fa.attention
      ins(%q, %k, %v : tensor<?x32x?x128xbf16>, tensor<?x8x?x128xbf16>,
                       tensor<?x8x?x128xbf16>)
      outs(%o, %l : tensor<?x32x?x128xbf16>, tensor<?x32x?xf32>)
      captures(%slopes : tensor<32xf32>)
      causal = <bottom_right>
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
           %sl: tensor<32xf32>):
        %m = tensor.extract %sl[%h] : tensor<32xf32>
        %d = arith.subi %j, %i : index
        %di = arith.index_cast %d : index to i64
        %df = arith.sitofp %di : i64 to f32
        %bias = arith.mulf %m, %df : f32
        %t = arith.addf %s, %bias : f32
        fa.yield %t : f32
      }
      -> tensor<?x32x?x128xbf16>, tensor<?x32x?xf32>
  return %r, %lse : tensor<?x32x?x128xbf16>, tensor<?x32x?xf32>
}

// -----

// MHA (one query head per key/value head) is not packed.
// CHECK-LABEL: func.func @mha
// CHECK-NOT:     collapse_shape
// CHECK:         fa.attention_tile = {block_m = 16 : i64, block_n = 64 : i64, split_kv}
func.func @mha(%q: tensor<2x8x1x64xf16>, %k: tensor<2x8x100x64xf16>,
               %v: tensor<2x8x100x64xf16>, %o: tensor<2x8x1x64xf16>)
    -> tensor<2x8x1x64xf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<2x8x1x64xf16>,
                        tensor<2x8x100x64xf16>, tensor<2x8x100x64xf16>)
      outs(%o : tensor<2x8x1x64xf16>) -> tensor<2x8x1x64xf16>
  return %r : tensor<2x8x1x64xf16>
}
