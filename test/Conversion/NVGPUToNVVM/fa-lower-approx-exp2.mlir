// RUN: fa-opt %s -split-input-file --fa-lower-approx-exp2 | FileCheck %s
// RUN: fa-opt %s -split-input-file --fa-lower-approx-exp2 \
// RUN:   --convert-gpu-to-nvvm | FileCheck %s --check-prefix=NVVM

// An f32 exp2 that allows approximation becomes the bare MUFU instruction.
// CHECK-LABEL: func.func @approx
// CHECK:         %[[E:.*]] = llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"(%{{.*}}) : (f32) -> f32
// CHECK-NOT:     math.exp2
// CHECK:         return %[[E]]
func.func @approx(%x: f32) -> f32 {
  %e = math.exp2 %x fastmath<afn> : f32
  return %e : f32
}

// -----

// Other fast-math flags alone do not allow it; nor does f16. Both stay for
// the upstream (libdevice) lowering.
// CHECK-LABEL: func.func @exact
// CHECK:         math.exp2 %{{.*}} fastmath<nnan> : f32
// CHECK:         math.exp2 %{{.*}} fastmath<afn> : f16
// CHECK-NOT:     llvm.call_intrinsic
// CHECK-LABEL: gpu.module @m
func.func @exact(%x: f32, %h: f16) -> (f32, f16) {
  %e = math.exp2 %x fastmath<nnan> : f32
  %f = math.exp2 %h fastmath<afn> : f16
  return %e, %f : f32, f16
}

// -----

// Inside a kernel, next to upstream's conversion: only the exact one goes to
// libdevice.
// NVVM-LABEL: llvm.func @kernel
// NVVM:         llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// NVVM:         llvm.call @__nv_exp2f
gpu.module @m {
  gpu.func @kernel(%x: f32, %out: memref<2xf32>) kernel {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %a = math.exp2 %x fastmath<afn> : f32
    %e = math.exp2 %x : f32
    memref.store %a, %out[%c0] : memref<2xf32>
    memref.store %e, %out[%c1] : memref<2xf32>
    gpu.return
  }
}
