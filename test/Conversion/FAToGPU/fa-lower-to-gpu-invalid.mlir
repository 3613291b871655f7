// RUN: fa-opt %s -split-input-file -verify-diagnostics --fa-tile-attention --fa-fuse-online-softmax --fa-lower-to-gpu -o /dev/null
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=24" --fa-fuse-online-softmax --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=BLOCKN
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=chip=sm_70" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=wmma" 2>&1 | FileCheck %s --check-prefix=STRATEGY
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=UNFUSED
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=128" --fa-fuse-online-softmax "--fa-lower-to-gpu=stages=4" 2>&1 | FileCheck %s --check-prefix=SMEM
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=256" --fa-fuse-online-softmax --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=REGS
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=40" --fa-fuse-online-softmax --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=BLOCKM
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=stages=1" 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=16 block-n=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=key-warps=3" 2>&1 | FileCheck %s --check-prefix=KWSLICE
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=16 block-n=48" --fa-fuse-online-softmax "--fa-lower-to-gpu=warps=16" 2>&1 | FileCheck %s --check-prefix=KWFROMWARPS
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=warps=100000" 2>&1 | FileCheck %s --check-prefix=WARPSHUGE
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=key-warps=9" 2>&1 | FileCheck %s --check-prefix=KWRANGE
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=key-warps=3" 2>&1 | FileCheck %s --check-prefix=KWWARPS
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=warps=3 key-warps=2" 2>&1 | FileCheck %s --check-prefix=KWDIV
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=chip=sm_90a strategy=hopper-ws key-warps=2" 2>&1 | FileCheck %s --check-prefix=KWHOPPER

// CHIP: error: unsupported chip 'sm_70': fa-mlir builds kernels for sm_80, sm_86, sm_87, sm_89, sm_90, sm_90a
// STRATEGY: error: strategy must be mma-sync, hopper-ws or auto, got 'wmma'
// UNFUSED: error: not a fused attention tile a GPU strategy can implement: its softmax is not fused (fa.softmax_stage = "row_max"); run fa-fuse-online-softmax first
// BLOCKN: error: block-n must be a multiple of 16 and at most 256 for m16n8k16 tensor cores, got 24
// BLOCKM: error: block-m must be a multiple of 16 for the mma-sync strategy, got 40
// STAGES: error: stages must be 0 (the strategy's choice) or in [2, 4] (a ring of one block cannot overlap loads with the tensor cores), got 1
// KWSLICE: error: block-n (64) must split into key-warps (3) slices of whole 16-key steps
// Key-warps the chooser took from --warps (16 warps over block-m 16's one
// warp of rows): the message says where they came from, and a warps error
// does not show them as given.
// KWFROMWARPS: error: block-n (48) must split into key-warps (16) slices of whole 16-key steps (warps 16 over block-m 16's 1 warps of rows: the others split the keys; give fewer warps or a larger block-m)
// WARPSHUGE: error: warps must be in [1, 16], got 100000{{$}}
// KWRANGE: error: key-warps must be 0 (the strategy's choice) or in [1, 8], got 9
// KWWARPS: error: warps must be in [1, 16], got 24 (8 warps of rows times key-warps 3)
// KWDIV: error: key-warps (2) must divide warps (3)
// KWHOPPER: error: key-warps is an option of the mma-sync strategy; hopper-ws splits no key block among warps, got 2

func.func @ok_bf16(%q: tensor<1x1x?x128xbf16>, %k: tensor<1x1x?x128xbf16>,
                   %v: tensor<1x1x?x128xbf16>, %o: tensor<1x1x?x128xbf16>)
    -> tensor<1x1x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x1x?x128xbf16>, tensor<1x1x?x128xbf16>, tensor<1x1x?x128xbf16>)
                    outs(%o : tensor<1x1x?x128xbf16>) -> tensor<1x1x?x128xbf16>
  return %0 : tensor<1x1x?x128xbf16>
}

// -----

func.func @f32(%q: tensor<1x1x?x64xf32>, %k: tensor<1x1x?x64xf32>,
               %v: tensor<1x1x?x64xf32>, %o: tensor<1x1x?x64xf32>)
    -> tensor<1x1x?x64xf32> {
  // expected-error @+1 {{the mma-sync strategy needs f16 or bf16 Q/K/V, got 'f32' (f32 attention runs only on the CPU path)}}
  %0 = fa.attention ins(%q, %k, %v : tensor<1x1x?x64xf32>, tensor<1x1x?x64xf32>, tensor<1x1x?x64xf32>)
                    outs(%o : tensor<1x1x?x64xf32>) -> tensor<1x1x?x64xf32>
  return %0 : tensor<1x1x?x64xf32>
}

// -----

func.func @head_dim_32(%q: tensor<1x1x?x32xf16>, %k: tensor<1x1x?x32xf16>,
                       %v: tensor<1x1x?x32xf16>, %o: tensor<1x1x?x32xf16>)
    -> tensor<1x1x?x32xf16> {
  // expected-error @+1 {{the mma-sync strategy supports D == Dv in {64, 128, 192, 256}, got D = 32, Dv = 32}}
  %0 = fa.attention ins(%q, %k, %v : tensor<1x1x?x32xf16>, tensor<1x1x?x32xf16>, tensor<1x1x?x32xf16>)
                    outs(%o : tensor<1x1x?x32xf16>) -> tensor<1x1x?x32xf16>
  return %0 : tensor<1x1x?x32xf16>
}

// -----

func.func @value_dim_differs(%q: tensor<1x1x?x128xf16>, %k: tensor<1x1x?x128xf16>,
                             %v: tensor<1x1x?x64xf16>, %o: tensor<1x1x?x64xf16>)
    -> tensor<1x1x?x64xf16> {
  // expected-error @+1 {{the mma-sync strategy supports D == Dv in {64, 128, 192, 256}, got D = 128, Dv = 64}}
  %0 = fa.attention ins(%q, %k, %v : tensor<1x1x?x128xf16>, tensor<1x1x?x128xf16>, tensor<1x1x?x64xf16>)
                    outs(%o : tensor<1x1x?x64xf16>) -> tensor<1x1x?x64xf16>
  return %0 : tensor<1x1x?x64xf16>
}

// -----

// D = 256 builds with the default tiles (Q is re-read from shared memory);
// larger tiles run out of registers, more stages out of shared memory.
// REGS: error: tile too large for registers: block-m=64 block-n=256 warps=4 at D=256 needs 268 fragment registers per thread (budget 216); use more warps or a smaller block-n
// SMEM: error: the tile needs 278528 bytes of shared memory, more than the 232432 a block of sm_90a can have; use fewer stages or smaller tiles
func.func @big_head_dim(%q: tensor<1x1x?x256xbf16>, %k: tensor<1x1x?x256xbf16>,
                        %v: tensor<1x1x?x256xbf16>, %o: tensor<1x1x?x256xbf16>)
    -> tensor<1x1x?x256xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x1x?x256xbf16>, tensor<1x1x?x256xbf16>, tensor<1x1x?x256xbf16>)
                    outs(%o : tensor<1x1x?x256xbf16>) -> tensor<1x1x?x256xbf16>
  return %0 : tensor<1x1x?x256xbf16>
}

// -----

// A capture that is the output's init tensor (or a view of it) shares the
// output's buffer, which other blocks overwrite while this one reads it:
// refused, not a race. (A capture of Q is read-only: fine.)
func.func @capture_of_output(%q: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>)
    -> tensor<1x2x?x64xf16> {
  %cast = tensor.cast %o : tensor<1x2x?x64xf16> to tensor<?x?x?x64xf16>
  // expected-error @+1 {{a capture ('tensor<?x?x?x64xf16>') shares its buffer with the init tensor of an output, which the kernel overwrites while other blocks read it; capture a copy of it}}
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
                    outs(%o : tensor<1x2x?x64xf16>)
                    captures(%q, %cast : tensor<1x2x?x64xf16>, tensor<?x?x?x64xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %a: tensor<1x2x?x64xf16>, %c: tensor<?x?x?x64xf16>):
      %z = arith.constant 0 : index
      %x = tensor.extract %c[%b, %h, %j, %z] : tensor<?x?x?x64xf16>
      %w = tensor.extract %a[%b, %h, %j, %z] : tensor<1x2x?x64xf16>
      %e = arith.extf %x : f16 to f32
      %f = arith.extf %w : f16 to f32
      %y = arith.addf %s, %e : f32
      %u = arith.addf %y, %f : f32
      fa.yield %u : f32
    } -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}

// -----

// The other way round: the output's init is a view of the captured tensor.
func.func @output_views_capture(%q: tensor<1x2x?x64xf16>, %buf: tensor<?x?x?x64xf16>)
    -> tensor<1x2x?x64xf16> {
  %o = tensor.cast %buf : tensor<?x?x?x64xf16> to tensor<1x2x?x64xf16>
  // expected-error @+1 {{a capture ('tensor<?x?x?x64xf16>') shares its buffer with the init tensor of an output}}
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
                    outs(%o : tensor<1x2x?x64xf16>)
                    captures(%buf : tensor<?x?x?x64xf16>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %c: tensor<?x?x?x64xf16>):
      %z = arith.constant 0 : index
      %x = tensor.extract %c[%b, %h, %j, %z] : tensor<?x?x?x64xf16>
      %e = arith.extf %x : f16 to f32
      %y = arith.addf %s, %e : f32
      fa.yield %y : f32
    } -> tensor<1x2x?x64xf16>
  return %0 : tensor<1x2x?x64xf16>
}

// -----

// Static sizes past the grid's limits (65535 in y and z): no runtime could
// launch the kernel.
func.func @too_many_heads(%q: tensor<1x70000x?x64xf16>, %k: tensor<1x70000x?x64xf16>,
                          %v: tensor<1x70000x?x64xf16>, %o: tensor<1x70000x?x64xf16>)
    -> tensor<1x70000x?x64xf16> {
  // expected-error @+1 {{the kernel's grid has 70000 heads in y, and a launch takes at most 65535 there}}
  %0 = fa.attention ins(%q, %k, %v : tensor<1x70000x?x64xf16>, tensor<1x70000x?x64xf16>, tensor<1x70000x?x64xf16>)
      outs(%o : tensor<1x70000x?x64xf16>) -> tensor<1x70000x?x64xf16>
  return %0 : tensor<1x70000x?x64xf16>
}
