// RUN: fa-opt %s -split-input-file -verify-diagnostics --fa-lower-math-to-nvvm | FileCheck %s
// RUN: fa-opt %s -split-input-file -verify-diagnostics --fa-lower-math-to-nvvm \
// RUN:   --convert-gpu-to-nvvm | FileCheck %s --check-prefix=NVVM

// f32 math that allows approximation (afn) becomes the bare MUFU
// instructions; fma and maxnumf become LLVM intrinsics, not libdevice.
// CHECK-LABEL: func.func @approx
// CHECK-DAG:     %[[LN2:.*]] = llvm.mlir.constant(0.693147182 : f32) : f32
// CHECK-DAG:     %[[E:.*]] = llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"(%{{.*}}) : (f32) -> f32
// CHECK-DAG:     %[[L2:.*]] = llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"(%{{.*}}) : (f32) -> f32
// CHECK:         %[[L:.*]] = llvm.fmul %[[L2]], %[[LN2]] : f32
// CHECK:         %[[F:.*]] = llvm.call_intrinsic "llvm.fma.f32"(%{{.*}}, %{{.*}}, %{{.*}}) : (f32, f32, f32) -> f32
// CHECK:         %[[M:.*]] = llvm.intr.maxnum(%{{.*}}, %{{.*}}) : (f32, f32) -> f32
// CHECK:         %[[T:.*]] = llvm.inline_asm "tanh.approx.f32 $0, $1;", "=f,f"
// CHECK:         %[[S:.*]] = llvm.call_intrinsic "llvm.nvvm.sin.approx.ftz.f"
// CHECK-NOT:     math.
// CHECK:         return %[[E]], %[[L]], %[[F]], %[[M]], %[[T]], %[[S]]
func.func @approx(%x: f32, %y: f32) -> (f32, f32, f32, f32, f32, f32) {
  %e = math.exp2 %x fastmath<afn> : f32
  %l = math.log %x fastmath<afn> : f32
  %f = math.fma %x, %y, %x : f32
  %m = arith.maxnumf %x, %y : f32
  %t = math.tanh %x fastmath<afn> : f32
  %s = math.sin %x fastmath<afn> : f32
  return %e, %l, %f, %m, %t, %s : f32, f32, f32, f32, f32, f32
}

// -----

// Without afn (other flags do not allow approximation) the results are
// accurate: polynomial approximations (f16 computed in f32), expansions
// into them, or LLVM intrinsics NVPTX implements. Nothing is left for
// libdevice.
// CHECK-LABEL: func.func @exact
// CHECK-NOT:     math.
// CHECK:         llvm.call_intrinsic "llvm.exp2.f32"
// CHECK-NOT:     math.
// CHECK:         llvm.call_intrinsic "llvm.sqrt.f32"
// CHECK:         llvm.call_intrinsic "llvm.floor.f32"
// CHECK:         llvm.call_intrinsic "llvm.abs.i32"
// CHECK-NOT:     math.
// CHECK:         return
func.func @exact(%x: f32, %h: f16, %i: i32) -> (f32, f16, f32, f32, f32, f32, f32, i32) {
  %e = math.exp2 %x fastmath<nnan> : f32
  %t = math.tanh %h fastmath<afn> : f16
  %l = math.log %x : f32
  %c = math.cosh %x : f32
  %p = math.powf %x, %x : f32
  %q = math.sqrt %x : f32
  %f = math.floor %x : f32
  %a = math.absi %i : i32
  return %e, %t, %l, %c, %p, %q, %f, %a : f32, f16, f32, f32, f32, f32, f32, i32
}

// -----

// log10 is log2 times log10(2): with afn one MUFU.LG2, otherwise the
// accurate log2 (bf16 computed in f32).
// CHECK-LABEL: func.func @log10
// CHECK:         %[[L2:.*]] = llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"(%arg0) : (f32) -> f32
// CHECK:         %[[C:.*]] = arith.constant 3.010300e-01 : f32
// CHECK:         %[[A:.*]] = arith.mulf %[[L2]], %[[C]] fastmath<afn> : f32
// CHECK-NOT:     math.
// CHECK:         %[[C2:.*]] = arith.constant 3.010300e-01 : f32
// CHECK:         %[[X:.*]] = arith.mulf %{{.*}}, %[[C2]] : f32
// CHECK:         arith.extf %arg1 : bf16 to f32
// CHECK-NOT:     math.
// CHECK:         %[[C3:.*]] = arith.constant 3.007810e-01 : bf16
// CHECK:         %[[B:.*]] = arith.mulf %{{.*}}, %[[C3]] : bf16
// CHECK:         return %[[A]], %[[X]], %[[B]]
func.func @log10(%x: f32, %h: bf16) -> (f32, f32, bf16) {
  %a = math.log10 %x fastmath<afn> : f32
  %e = math.log10 %x : f32
  %b = math.log10 %h : bf16
  return %a, %e, %b : f32, f32, bf16
}

// -----

// The accurate tanh: upstream's rational approximation x p(x^2) / q(x^2)
// on x clamped to [-7.99, 7.99], whose division becomes a reciprocal and a
// Newton step. That is exact enough (the residual fma is exact) and needs
// no range check only because q has positive coefficients, so q(x^2) lies
// in [q(0), q(64)] = [4.9e-3, 0.95]: the constants below pin q. bf16 is
// computed in f32.
// CHECK-LABEL: func.func @accurate_tanh
// CHECK-NOT:     arith.divf
// CHECK-DAG:     %[[CLAMP:.*]] = arith.constant 7.99881172 : f32
// CHECK-DAG:     %[[Q0:.*]] = arith.constant 0.00489352504 : f32
// CHECK-DAG:     %[[Q1:.*]] = arith.constant 0.00226843474 : f32
// CHECK-DAG:     %[[Q2:.*]] = arith.constant 1.18534706E-4 : f32
// CHECK-DAG:     %[[Q3:.*]] = arith.constant 1.19825836E-6 : f32
// CHECK:         %[[X2:.*]] = arith.mulf %[[X:.*]], %[[X]] : f32
// CHECK:         %[[P:.*]] = arith.mulf %[[X]], %{{.*}} : f32
// CHECK:         %[[A:.*]] = llvm.call_intrinsic "llvm.fma.f32"(%[[X2]], %[[Q3]], %[[Q2]])
// CHECK:         %[[B:.*]] = llvm.call_intrinsic "llvm.fma.f32"(%[[X2]], %[[A]], %[[Q1]])
// CHECK:         %[[Q:.*]] = llvm.call_intrinsic "llvm.fma.f32"(%[[X2]], %[[B]], %[[Q0]])
// CHECK:         %[[R:.*]] = llvm.call_intrinsic "llvm.nvvm.rcp.approx.ftz.f"(%[[Q]])
// CHECK:         %[[Y:.*]] = llvm.fmul %[[P]], %[[R]] : f32
// CHECK:         %[[NQ:.*]] = llvm.fneg %[[Q]] : f32
// CHECK:         %[[E:.*]] = llvm.call_intrinsic "llvm.fma.f32"(%[[NQ]], %[[Y]], %[[P]])
// CHECK:         %[[T:.*]] = llvm.call_intrinsic "llvm.fma.f32"(%[[E]], %[[R]], %[[Y]])
// CHECK:         arith.select %{{.*}}, %[[X]], %[[T]] : f32
// CHECK:         arith.extf %{{.*}} : bf16 to f32
// CHECK:         llvm.call_intrinsic "llvm.nvvm.rcp.approx.ftz.f"
// CHECK:         arith.truncf %{{.*}} : f32 to bf16
// The user's own division stays IEEE.
// CHECK:         arith.divf %{{.*}}, %{{.*}} : f32
// CHECK-NOT:     math.
// CHECK:         return
func.func @accurate_tanh(%x: f32, %h: bf16, %y: f32) -> (f32, bf16, f32) {
  %t = math.tanh %x : f32
  %u = math.tanh %h fastmath<nnan> : bf16
  %d = arith.divf %x, %y : f32
  return %t, %u, %d : f32, bf16, f32
}

// -----

// What cannot be lowered without libdevice is an error that names it.
func.func @f64(%x: f64) -> f64 {
  // expected-error @+1 {{fa-lower-math-to-nvvm: cannot lower 'math.tanh' on 'f64' without libdevice}}
  %t = math.tanh %x : f64
  return %t : f64
}

// -----

// Floats LLVM has no type for (f8, tf32) are named too, not turned into
// calls of intrinsics that do not exist.
func.func @f8(%x: f8E4M3FN) -> f8E4M3FN {
  // expected-error @+1 {{fa-lower-math-to-nvvm: cannot lower 'math.sqrt' on 'f8E4M3FN' without libdevice}}
  %0 = math.sqrt %x : f8E4M3FN
  return %0 : f8E4M3FN
}

// -----

func.func @tf32(%x: tf32) -> tf32 {
  // expected-error @+1 {{fa-lower-math-to-nvvm: cannot lower 'math.absf' on 'tf32' without libdevice}}
  %0 = math.absf %x : tf32
  return %0 : tf32
}

// -----

// Integers of any width take llvm.abs (i1 included: the verifier of the
// regions allows it).
// CHECK-LABEL: func.func @abs_i1
// CHECK:         llvm.call_intrinsic "llvm.abs.i1"
func.func @abs_i1(%x: i1) -> i1 {
  %0 = math.absi %x : i1
  return %0 : i1
}

// -----

// An index (a distance |q_idx - kv_idx| computed on positions) is taken
// through i64: LLVM has no index type, and no libdevice is needed.
// CHECK-LABEL: func.func @abs_index
// CHECK:         %[[W:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK:         %[[A:.*]] = llvm.call_intrinsic "llvm.abs.i64"(%[[W]], %{{.*}}) : (i64, i1) -> i64
// CHECK:         arith.index_cast %[[A]] : i64 to index
func.func @abs_index(%x: index) -> index {
  %0 = math.absi %x : index
  return %0 : index
}

// -----

// Vector math is refused with a message (the kernels' math is scalar).
func.func @vector(%x: vector<4xf32>) -> vector<4xf32> {
  // expected-error @+1 {{fa-lower-math-to-nvvm: 'math.tanh' on 'vector<4xf32>': only scalar math is lowered}}
  %t = math.tanh %x : vector<4xf32>
  return %t : vector<4xf32>
}

// -----

// Inside a kernel, next to upstream's conversion: no libdevice call.
// NVVM-LABEL: llvm.func @kernel
// NVVM:         llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// NVVM:         llvm.call_intrinsic "llvm.exp2.f32"
// NVVM-NOT:     llvm.call @__nv
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
