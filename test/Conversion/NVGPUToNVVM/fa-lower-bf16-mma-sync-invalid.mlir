// RUN: fa-opt %s -split-input-file -verify-diagnostics "--pass-pipeline=builtin.module(gpu.module(fa-lower-bf16-mma-sync))"
// RUN: not fa-opt %s -split-input-file --fa-gpu-to-nvvm-pipeline 2>&1 | FileCheck %s

// A bf16 mma.sync of a shape the pass does not lower is an error: upstream's
// convert-nvgpu-to-nvvm would report it and leave the op, and the pipeline
// would succeed with an nvgpu op in its NVVM output.
// CHECK: error: 'nvgpu.mma.sync' op has bf16 operands: only m16n8k16 bf16 x bf16 -> f32 is handled
gpu.module @m {
  gpu.func @k8(%a: vector<2x2xbf16>, %b: vector<1x2xbf16>, %c: vector<2x2xf32>, %o: memref<2x2xf32>) kernel {
    // expected-error @+1 {{'nvgpu.mma.sync' op has bf16 operands: only m16n8k16 bf16 x bf16 -> f32 is handled}}
    %d = nvgpu.mma.sync(%a, %b, %c) {mmaShape = [16, 8, 8]} : (vector<2x2xbf16>, vector<1x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    %i = arith.constant 0 : index
    vector.store %d, %o[%i, %i] : memref<2x2xf32>, vector<2x2xf32>
    gpu.return
  }
}
