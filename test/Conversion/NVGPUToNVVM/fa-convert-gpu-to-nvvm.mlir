// RUN: fa-opt %s -split-input-file --fa-convert-gpu-to-nvvm | FileCheck %s

// The kernel becomes an NVVM kernel with 64-bit indices; arith and cf go
// to LLVM through their ConvertToLLVM interfaces.
// CHECK-LABEL: gpu.module @kernels
// CHECK:         llvm.func @kernel(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64)
// CHECK-SAME:      nvvm.kernel
// CHECK:           nvvm.read.ptx.sreg.tid.x : i32
// CHECK:           llvm.sext %{{.*}} : i32 to i64
// CHECK:           llvm.icmp "slt"
// CHECK:           llvm.cond_br
// CHECK:           llvm.store
// CHECK:           llvm.return
// CHECK-NOT:     gpu.func
// CHECK-NOT:     arith.
// CHECK-NOT:     cf.
gpu.module @kernels {
  gpu.func @kernel(%out: memref<?xf32>) kernel {
    %c0 = arith.constant 0 : index
    %tid = gpu.thread_id x
    %n = memref.dim %out, %c0 : memref<?xf32>
    %inside = arith.cmpi slt, %tid, %n : index
    cf.cond_br %inside, ^store, ^done
  ^store:
    %one = arith.constant 1.0 : f32
    memref.store %one, %out[%tid] : memref<?xf32>
    cf.br ^done
  ^done:
    gpu.return
  }
}

// -----

// The pre-pass keeps upstream's in-dialect rewrites (a 64-bit shuffle is
// two 32-bit ones) and folding (the constant sum is one constant), but
// leaves the regions as they are: the block argument that nothing uses is
// still there (LLVM's simplifycfg removes it).
// CHECK-LABEL: llvm.func @shuffle64
// CHECK:         %[[FIVE:.*]] = llvm.mlir.constant(5 : i32) : i32
// CHECK-NOT:     llvm.add
// CHECK:         nvvm.shfl.sync bfly %{{.*}}, %{{.*}}, %[[FIVE]]
// CHECK:         nvvm.shfl.sync bfly %{{.*}}, %{{.*}}, %[[FIVE]]
// CHECK:         llvm.br ^[[DONE:.*]](%{{.*}} : i32)
// CHECK:       ^[[DONE]](%{{.*}}: i32):
// CHECK-NEXT:    llvm.return
gpu.module @shuffle {
  gpu.func @shuffle64(%value: f64, %out: memref<f64>) kernel {
    %c2 = arith.constant 2 : i32
    %c3 = arith.constant 3 : i32
    %offset = arith.addi %c2, %c3 : i32
    %width = arith.constant 32 : i32
    %shuffled, %valid = gpu.shuffle xor %value, %offset, %width : f64
    memref.store %shuffled, %out[] : memref<f64>
    cf.br ^done(%offset : i32)
  ^done(%unused: i32):
    gpu.return
  }
}
