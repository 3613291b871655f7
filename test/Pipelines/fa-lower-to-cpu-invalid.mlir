// What fa-lower-to-cpu cannot lower is an error at the op, with exit code 1
// and no IR printed (neither the op nor a partly lowered module).
// RUN: fa-opt %s -split-input-file --fa-lower-to-cpu -verify-diagnostics
// RUN: not fa-opt %s -split-input-file --fa-lower-to-cpu 2>&1 | FileCheck %s --check-prefix=NO-IR --implicit-check-not=llvm.func --implicit-check-not="see current operation"
// Bad options: the pipeline's option parser, or fa-tile-attention's check.
// RUN: not fa-opt %s --fa-lower-to-cpu=bogus=1 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not fa-opt %s "--fa-lower-to-cpu=fuse=maybe" 2>&1 | FileCheck %s --check-prefix=FUSE
// RUN: not fa-opt %s -split-input-file "--fa-lower-to-cpu=block-m=-16" 2>&1 | FileCheck %s --check-prefix=BLOCKM --implicit-check-not=llvm.func
// An option error is reported once, not for every function of the module
// (the CPU example has three, a declaration among them).
// RUN: not fa-opt %fa_src_root/examples/attention-cpu.mlir "--fa-lower-to-cpu=block-m=-1" 2>&1 | grep -c "error:" | FileCheck %s --check-prefix=ONCE
// ONCE: {{^1$}}
// RUN: not fa-opt %s -split-input-file "--fa-lower-to-cpu=backward-dq=atomic" 2>&1 | FileCheck %s --check-prefix=DQ --implicit-check-not=llvm.func

// fa-lower-to-gpu's output (launches of GPU kernels) is reported before
// bufferization, whose verifier would otherwise fail far from the cause.
// RUN: fa-opt %S/../../examples/attention.mlir --fa-tile-attention --fa-fuse-online-softmax --fa-lower-to-gpu | not fa-opt --fa-lower-to-cpu 2>&1 | FileCheck %s --check-prefix=LOWERED --implicit-check-not=memref.alloc
// LOWERED: error: 'gpu.launch_func' was not lowered to the LLVM dialect: the CPU lowering covers fa.attention and the func, scf, cf, linalg, tensor, bufferization, memref, affine, arith, math, index and vector ops of its tiles, not GPU kernels

// UNKNOWN: no such option bogus
// FUSE: 'maybe' is invalid value for boolean argument
// DQ: for the --backward-dq option: Cannot find option named 'atomic'!
// BLOCKM: error: tile sizes must be positive (or 0 for the default), got block-m=-16
module attributes {gpu.container_module} {
  // NO-IR: :[[@LINE+2]]:3: error: 'gpu.module' was not lowered to the LLVM dialect
  // expected-error @+1 {{'gpu.module' was not lowered to the LLVM dialect: the CPU lowering covers fa.attention and the func, scf, cf, linalg, tensor, bufferization, memref, affine, arith, math, index and vector ops of its tiles}}
  gpu.module @kernels {
    gpu.func @kernel(%a: memref<4xf32>) kernel {
      gpu.return
    }
  }
  func.func @main() {
    %buffer = memref.alloc() : memref<4xf32>
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@kernel blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1) args(%buffer : memref<4xf32>)
    return
  }
}

// -----

// A score_mod op that has no LLVM lowering (math.erf is not an intrinsic)
// is reported where the region has it.
func.func @erf_score_mod(%q: tensor<1x1x4x4xf32>, %k: tensor<1x1x4x4xf32>,
                         %v: tensor<1x1x4x4xf32>, %o: tensor<1x1x4x4xf32>)
    -> tensor<1x1x4x4xf32> {
  %out = fa.attention
      ins(%q, %k, %v : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>,
                       tensor<1x1x4x4xf32>)
      outs(%o : tensor<1x1x4x4xf32>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        // NO-IR: :[[@LINE+2]]:14: error: 'math.erf' was not lowered to the LLVM dialect
        // expected-error @+1 {{'math.erf' was not lowered to the LLVM dialect}}
        %e = math.erf %s : f32
        fa.yield %e : f32
      } -> tensor<1x1x4x4xf32>
  return %out : tensor<1x1x4x4xf32>
}

// -----

// A TMA tensor map (host side of a hopper-ws kernel) has no CPU meaning.
func.func @tensor_map(%k: memref<1x1x64x128xbf16>) -> !llvm.ptr {
  // NO-IR: :[[@LINE+2]]:10: error: 'fa.tensor_map' was not lowered to the LLVM dialect
  // expected-error @+1 {{'fa.tensor_map' was not lowered to the LLVM dialect}}
  %map = fa.tensor_map %k box [64, 128, 1, 1]
      : memref<1x1x64x128xbf16> -> !llvm.ptr
  return %map : !llvm.ptr
}

// -----

// A backward op whose score_mod cannot be differentiated: one error at the
// op, a note at the op that has no derivative rule.
func.func @backward(%q: tensor<1x2x64x64xf16>, %lse: tensor<1x2x64xf32>) -> tensor<1x2x64x64xf16> {
  // NO-IR: :[[@LINE+2]]:10: error: cannot differentiate the score_mod with respect to the score: 'math.floor'
  // expected-error @+1 {{cannot differentiate the score_mod with respect to the score: 'math.floor' uses a value that depends on the score and has no derivative rule}}
  %0:3 = fa.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64xf32>) outs(%q, %q, %q : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        // expected-note @+1 {{the op that cannot be differentiated}}
        %f = math.floor %s : f32
        fa.yield %f : f32
      } -> tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>
  return %0#0 : tensor<1x2x64x64xf16>
}
