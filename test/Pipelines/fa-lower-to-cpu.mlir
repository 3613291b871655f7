// fa-lower-to-cpu (lib/Pipelines/CPUPipeline.cpp): fa.attention, or the
// tensor IR that fa-tile-attention and fa-fuse-online-softmax made of it,
// becomes LLVM-dialect IR for mlir-runner; no fa, tensor, linalg, scf,
// memref, bufferization, arith, math, cf, func or cast op is left. What it
// computes is checked by test/Numerics/attention-cpu-example.test and every
// %cpu_run test.
// DEFINE: %{none_left} = --implicit-check-not=fa. --implicit-check-not=tensor. --implicit-check-not=linalg. --implicit-check-not=cf. --implicit-check-not=memref. --implicit-check-not=bufferization. --implicit-check-not=affine. --implicit-check-not=arith. --implicit-check-not=math. --implicit-check-not=func. --implicit-check-not=unrealized_conversion_cast
// RUN: fa-opt %s -split-input-file --fa-lower-to-cpu | FileCheck %s --check-prefixes=CHECK,FUSED %{none_left}
// fuse=false keeps the exact three-loop softmax.
// RUN: fa-opt %s -split-input-file "--fa-lower-to-cpu=fuse=false" | FileCheck %s --check-prefixes=CHECK,EXACT %{none_left}
// Already tiled, or tiled and fused, elsewhere: lowered as given (there is
// nothing left to tile, or to fuse).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=16 block-n=16" | fa-opt -split-input-file "--fa-lower-to-cpu=fuse=false" | FileCheck %s --check-prefixes=CHECK,EXACT %{none_left}
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=16 block-n=16" --fa-fuse-online-softmax | fa-opt -split-input-file --fa-lower-to-cpu | FileCheck %s --check-prefixes=CHECK,FUSED %{none_left}

// The fused loop computes exp2 of log2-domain scores, the exact one exp.
// CHECK-LABEL: llvm.func @f32_causal_lse(
// FUSED-NOT:     llvm.intr.exp(
// FUSED:         llvm.intr.exp2(
// FUSED-NOT:     llvm.intr.exp(
// EXACT-NOT:     llvm.intr.exp2(
// EXACT:         llvm.intr.exp(
// EXACT-NOT:     llvm.intr.exp2(
// CHECK:         llvm.intr.log(
// CHECK:         llvm.return
func.func @f32_causal_lse(%q: tensor<1x2x20x16xf32>, %k: tensor<1x2x30x16xf32>,
                          %v: tensor<1x2x30x8xf32>, %o: tensor<1x2x20x8xf32>,
                          %lse: tensor<1x2x20xf32>)
    -> (tensor<1x2x20x8xf32>, tensor<1x2x20xf32>) {
  %out, %l = fa.attention
      ins(%q, %k, %v : tensor<1x2x20x16xf32>, tensor<1x2x30x16xf32>,
                       tensor<1x2x30x8xf32>)
      outs(%o, %lse : tensor<1x2x20x8xf32>, tensor<1x2x20xf32>)
      causal = <top_left> -> tensor<1x2x20x8xf32>, tensor<1x2x20xf32>
  return %out, %l : tensor<1x2x20x8xf32>, tensor<1x2x20xf32>
}

// -----

// bf16 with dynamic sizes and grouped-query heads. The bf16 <-> f32
// conversions are integer arithmetic (arith-expand), not fpext/fptrunc (an
// f32 -> bf16 fptrunc is a call to __truncsfbf2 on x86-64).
// CHECK-LABEL: llvm.func @bf16_dynamic_gqa(
// CHECK-NOT:     llvm.fp{{ext|trunc}}
// CHECK:         llvm.bitcast %{{.*}} : bf16 to i16
// CHECK-NOT:     llvm.fp{{ext|trunc}}
// CHECK:         llvm.bitcast %{{.*}} : i16 to bf16
// CHECK-NOT:     llvm.fp{{ext|trunc}}
// CHECK:         llvm.return
func.func @bf16_dynamic_gqa(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                            %v: tensor<?x2x?x16xbf16>, %o: tensor<?x4x?x16xbf16>)
    -> tensor<?x4x?x16xbf16> {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>,
                       tensor<?x2x?x16xbf16>)
      outs(%o : tensor<?x4x?x16xbf16>) causal = <bottom_right>
      -> tensor<?x4x?x16xbf16>
  return %out : tensor<?x4x?x16xbf16>
}
