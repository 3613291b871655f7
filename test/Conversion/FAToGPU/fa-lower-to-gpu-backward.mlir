// The backward pass has no GPU strategy yet: fa-lower-to-gpu refuses the op
// and its tiled form with one error at the op's location, instead of passing
// the foralls through to code that would run them on the host.
// RUN: not fa-opt %s --fa-lower-to-gpu 2>&1 | FileCheck %s
// RUN: not fa-opt %s --fa-tile-attention-backward --fa-lower-to-gpu 2>&1 | FileCheck %s

// CHECK: :[[@LINE+5]]:{{[0-9]+}}: error: fa.attention_backward has no GPU strategy yet; its tiled form (fa-tile-attention-backward) runs on the CPU (fa-lower-to-cpu)
// CHECK-NOT: see current operation
// CHECK-NOT: gpu.launch_func
func.func @backward(%q: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>)
    -> tensor<1x2x?x64xf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>) outs(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) causal = <top_left> -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xf16>
}
