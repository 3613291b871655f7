// fa-compile verifies the IR once, after its last pass (fa-opt, and so the
// other tests, after every pass). IR that the lowering turns into something
// invalid is still an error there: the op's own diagnostic, then where it
// was found, exit code 1, no IR dump and no PTX written. `optimize_none`
// passes through the GPU-to-NVVM conversion onto the llvm.func, which
// requires `no_inline` beside it.

// RUN: rm -rf %t && mkdir -p %t
// RUN: not fa-compile %s -o %t/k --format=ptx 2>&1 | FileCheck %s
// RUN: not ls %t/k.ptx
// RUN: not fa-opt %s --fa-gpu-to-nvvm-pipeline 2>&1 | FileCheck %s --check-prefix=OPT

// CHECK: error: 'llvm.func' op with optimize_none must also be no_inline
// CHECK-NEXT: gpu.func @kernel
// CHECK: error: the kernels lowered to NVVM do not verify; no PTX was generated
// CHECK-NOT: see current operation
// CHECK-NOT: llvm.func

// OPT: error: 'llvm.func' op with optimize_none must also be no_inline

module attributes {gpu.container_module} {
  gpu.module @kernel {
    gpu.func @kernel(%q: memref<1x1x64x64xbf16>, %k: memref<1x1x64x64xbf16>,
                     %v: memref<1x1x64x64xbf16>, %o: memref<1x1x64x64xbf16>)
        kernel attributes {
          optimize_none,
          fa.launch = {block_m = 64 : i64, block_n = 64 : i64,
                       chip = "sm_90a", dynamic_shared_memory = 0 : i64,
                       lse = false, stages = 2 : i64, strategy = "mma-sync",
                       threads = 128 : i64, warps = 4 : i64}} {
      gpu.return
    }
  }
}
