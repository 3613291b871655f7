// RUN: fa-opt %s -split-input-file --fa-lower-math-to-nvvm | FileCheck %s
// RUN: fa-opt %s -split-input-file --fa-lower-math-to-nvvm \
// RUN:   --convert-gpu-to-nvvm | FileCheck %s --check-prefix=NVVM

// f32 exp2 and log that allow approximation become the bare MUFU
// instructions; fma and maxnumf become LLVM intrinsics, not libdevice.
// CHECK-LABEL: func.func @approx
// CHECK-DAG:     %[[LN2:.*]] = llvm.mlir.constant(0.693147182 : f32) : f32
// CHECK-DAG:     %[[E:.*]] = llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"(%{{.*}}) : (f32) -> f32
// CHECK-DAG:     %[[L2:.*]] = llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"(%{{.*}}) : (f32) -> f32
// CHECK:         %[[L:.*]] = llvm.fmul %[[L2]], %[[LN2]] : f32
// CHECK:         %[[F:.*]] = llvm.intr.fma(%{{.*}}, %{{.*}}, %{{.*}}) : (f32, f32, f32) -> f32
// CHECK:         %[[M:.*]] = llvm.intr.maxnum(%{{.*}}, %{{.*}}) : (f32, f32) -> f32
// CHECK-NOT:     math.
// CHECK:         return %[[E]], %[[L]], %[[F]], %[[M]]
func.func @approx(%x: f32, %y: f32) -> (f32, f32, f32, f32) {
  %e = math.exp2 %x fastmath<afn> : f32
  %l = math.log %x fastmath<afn> : f32
  %f = math.fma %x, %y, %x : f32
  %m = arith.maxnumf %x, %y : f32
  return %e, %l, %f, %m : f32, f32, f32, f32
}

// -----

// Other fast-math flags alone do not allow it; nor does f16. Both stay for
// the upstream (libdevice) lowering.
// CHECK-LABEL: func.func @exact
// CHECK:         math.exp2 %{{.*}} fastmath<nnan> : f32
// CHECK:         math.exp2 %{{.*}} fastmath<afn> : f16
// CHECK:         math.log %{{.*}} : f32
// CHECK-NOT:     llvm.call_intrinsic
// CHECK-LABEL: gpu.module @m
func.func @exact(%x: f32, %h: f16) -> (f32, f16, f32) {
  %e = math.exp2 %x fastmath<nnan> : f32
  %f = math.exp2 %h fastmath<afn> : f16
  %l = math.log %x : f32
  return %e, %f, %l : f32, f16, f32
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
