// RUN: fa-opt %s -split-input-file --fa-lower-bf16-mma-sync | FileCheck %s

// CHECK-LABEL: func.func @bf16
// CHECK-COUNT-4: vector.bitcast %{{.*}} : vector<2xbf16> to vector<1xi32>
// CHECK-COUNT-2: vector.bitcast %{{.*}} : vector<2xbf16> to vector<1xi32>
// CHECK:         %[[D:.*]] = nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK-COUNT-4: llvm.extractvalue %[[D]]
// CHECK:         vector.from_elements {{.*}} : vector<2x2xf32>
// CHECK-NOT:     nvgpu.mma.sync
func.func @bf16(%a: vector<4x2xbf16>, %b: vector<2x2xbf16>, %c: vector<2x2xf32>) -> vector<2x2xf32> {
  %d = nvgpu.mma.sync(%a, %b, %c) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
  return %d : vector<2x2xf32>
}

// -----

// f16 is left to the upstream convert-nvgpu-to-nvvm.
// CHECK-LABEL: func.func @f16
// CHECK:         nvgpu.mma.sync
// CHECK-NOT:     nvvm.mma.sync
func.func @f16(%a: vector<4x2xf16>, %b: vector<2x2xf16>, %c: vector<2x2xf32>) -> vector<2x2xf32> {
  %d = nvgpu.mma.sync(%a, %b, %c) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
  return %d : vector<2x2xf32>
}

// -----

// A fragment is unpacked once, right after its definition, and every
// mma.sync that reads it (here in both branches) shares the registers.
// CHECK-LABEL: func.func @shared
// CHECK:         vector.broadcast %{{.*}} : bf16 to vector<4x2xbf16>
// CHECK-COUNT-4: vector.bitcast %{{.*}} : vector<2xbf16> to vector<1xi32>
// CHECK:         vector.broadcast %{{.*}} : bf16 to vector<2x2xbf16>
// CHECK-COUNT-2: vector.bitcast %{{.*}} : vector<2xbf16> to vector<1xi32>
// CHECK:         scf.if
// CHECK-NOT:     vector.bitcast
// CHECK:         nvvm.mma.sync
// CHECK:         } else {
// CHECK-NOT:     vector.bitcast
// CHECK:         nvvm.mma.sync
// CHECK-NOT:     vector.bitcast
// CHECK:         return
func.func @shared(%x: bf16, %y: bf16, %c: vector<2x2xf32>, %p: i1) -> vector<2x2xf32> {
  %a = vector.broadcast %x : bf16 to vector<4x2xbf16>
  %b = vector.broadcast %y : bf16 to vector<2x2xbf16>
  %r = scf.if %p -> vector<2x2xf32> {
    %d = nvgpu.mma.sync(%a, %b, %c) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    scf.yield %d : vector<2x2xf32>
  } else {
    %d = nvgpu.mma.sync(%a, %b, %c) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    scf.yield %d : vector<2x2xf32>
  }
  return %r : vector<2x2xf32>
}
