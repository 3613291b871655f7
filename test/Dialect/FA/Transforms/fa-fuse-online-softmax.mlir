// RUN: fa-opt %s "--fa-tile-attention=block-m=32 block-n=16" --fa-fuse-online-softmax | FileCheck %s
// RUN: fa-opt %s --fa-fuse-online-softmax | FileCheck %s --check-prefix=UNTILED

// The three loops become one that carries (running max, running sum,
// accumulator); scale*log2(e) = 0.125 * 1.4427 is folded into the scores and
// the loop uses exp2 only.
// CHECK-LABEL: func.func @causal_lse
// CHECK:         scf.forall
// CHECK-NOT:       fa.softmax_stage = "row_max"
// CHECK:           %[[F:.*]]:3 = scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[M:.*]] = %{{.*}}, %[[S:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>)
// CHECK:             fa.role = "scores"
// CHECK:             arith.constant 0.180336878 : f32
// CHECK:             fa.role = "running_max"
// CHECK:             arith.maximumf
// CHECK-NOT:         math.exp %
// CHECK:             fa.role = "rescale"
// CHECK:             math.exp2
// CHECK:             fa.role = "probabilities"
// CHECK:             math.exp2
// CHECK:             fa.role = "rescale_sum"
// CHECK:             fa.role = "row_sum"
// CHECK:             fa.role = "rescale_acc"
// CHECK:             fa.role = "weighted_values"
// CHECK:             scf.yield
// CHECK:           } {fa.softmax_stage = "online"}
// CHECK-NOT:       scf.for
// CHECK:           fa.role = "max_natural_log"
// CHECK:           arith.constant 0.693147182 : f32
// CHECK:           fa.role = "normalize"
// CHECK:           arith.divf
// CHECK:           math.log
// CHECK:           tensor.parallel_insert_slice

// Without tiling there is nothing to fuse: the op is left as it is.
// UNTILED-LABEL: func.func @causal_lse
// UNTILED:         fa.attention
func.func @causal_lse(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x4x?x64xbf16>,
                      %o: tensor<1x4x?x64xbf16>, %l: tensor<1x4x?xf32>)
    -> (tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>) {
  %0, %1 = fa.attention ins(%q, %k, %k : tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>)
                        outs(%o, %l : tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>)
                        scale = 0.125 causal = <top_left> -> tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>
  return %0, %1 : tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>
}
