// An op in a hand-edited kernel that no conversion of the GPU lowering
// handles (here tensor.empty and tensor.extract; the first is named) is an
// error at the op's location that names it (fa-check-lowered-to-llvm
// gpu-modules=true, the lowering's last step), not an
// unrealized_conversion_cast that the translation to LLVM IR cannot take:
// exit code 1, no IR dump, no PTX written.

// RUN: rm -rf %t && mkdir -p %t
// RUN: not fa-compile %s -o %t/k --format=ptx 2>&1 | FileCheck %s
// RUN: not ls %t/k.ptx
// RUN: not fa-opt %s --fa-gpu-to-nvvm-pipeline 2>&1 | FileCheck %s
// The check alone, on the kernel as it stands: the same message.
// RUN: not fa-opt %s --fa-check-lowered-to-llvm=gpu-modules=true 2>&1 | FileCheck %s --check-prefix=ALONE
// RUN: not fa-opt %s "--fa-check-lowered-to-llvm=gpu-modules=true kernels-only=true" 2>&1 | FileCheck %s --check-prefix=BOTH

// CHECK: fa-compile-unlowered-op.mlir:[[@LINE+16]]:12: error: 'tensor.empty' was not lowered to the LLVM and NVVM dialects: the GPU lowering covers
// CHECK-NOT: unrealized_conversion_cast
// CHECK-NOT: llvm.func
// ALONE: error: 'gpu.func' was not lowered to the LLVM and NVVM dialects
// BOTH: error: fa-check-lowered-to-llvm: kernels-only and gpu-modules are two different checks; give one

module attributes {gpu.container_module} {
  gpu.module @kernel {
    gpu.func @kernel(%q: memref<1x1x64x64xbf16>, %k: memref<1x1x64x64xbf16>,
                     %v: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16>)
        kernel attributes {
          fa.launch = {block_m = 64 : i64, block_n = 64 : i64,
                       chip = "sm_90a", dynamic_shared_memory = 0 : i64,
                       lse = false, stages = 2 : i64, strategy = "mma-sync",
                       threads = 128 : i64, warps = 4 : i64}} {
      %c0 = arith.constant 0 : index
      %t = tensor.empty() : tensor<4xbf16>
      %x = tensor.extract %t[%c0] : tensor<4xbf16>
      memref.store %x, %o[%c0, %c0, %c0, %c0] : memref<1x1x64x64xbf16>
      gpu.return
    }
  }
}
