// What the hopper-ws strategy cannot build is a compile-time error that
// names the value and what would work; the pass then fails.
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws chip=sm_90" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=256 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=BLOCKM
// Under one warpgroup (the schedule's budgets divide by warpgroups): the
// same error, not a crash.
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=16 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=BLOCKM16
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-n=24 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=BLOCKN
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws warps=4" 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws stages=5" 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-n=128 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=REGS
// Three consumer warpgroups and the producer share the register file:
// 160 registers a consumer thread after setmaxnreg.
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=192 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=REGS3
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws stages=4" 2>&1 | FileCheck %s --check-prefix=SMEM
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper" 2>&1 | FileCheck %s --check-prefix=DEFAULTS
// The defaults of the strategy: 128 x 128 tiles up to D = 128, 128 x 64
// beyond; 192 x 128 at D = 64 without a mask or a mod (with --block-n
// above 128, 128 rows).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws block-n=144" 2>&1 | FileCheck %s --check-prefix=WIDE
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" 2>&1 | FileCheck %s --check-prefix=TILES

// CHIP: error: the hopper-ws strategy needs sm_90a (wgmma), got 'sm_90'; use strategy=mma-sync
// BLOCKM: error: block-m must be 64, 128 or 192 for the hopper-ws strategy (64 rows per consumer warpgroup, at most three), got 256
// BLOCKM16: error: block-m must be 64, 128 or 192 for the hopper-ws strategy (64 rows per consumer warpgroup, at most three), got 16
// BLOCKN: error: block-n must be a multiple of 16 in [16, 256] for wgmma, got 24
// WARPS: error: the hopper-ws strategy runs one consumer warpgroup (4 warps) per 64 rows of block-m and one producer warpgroup: warps must be 0 or 12, got 4
// STAGES: error: stages must be 0 (the strategy's choice) or in [2, 4] (a ring of one block cannot overlap loads with the tensor cores), got 5
// REGS: error: tile too large for registers: block-m=128 block-n=128 at D=256 needs 192 fragment registers per thread in the serial schedule (budget 184 for each of the 256 consumer threads); use a smaller block-n or block-m
// REGS3: error: tile too large for registers: block-m=192 block-n=128 at D=128 needs 128 fragment registers per thread in the serial schedule (budget 104 for each of the 384 consumer threads); use a smaller block-n or block-m
// SMEM: error: the tile needs 328880 bytes of shared memory, more than the 232432 a block of sm_90a can have; use fewer stages or smaller tiles
// DEFAULTS: error: defaults-for must be mma-sync, hopper-ws or auto, got 'hopper'
// TILES: fa.attention_tile = {block_m = 128 : i64, block_n = 64 : i64}
// TILES: fa.attention_tile = {block_m = 128 : i64, block_n = 128 : i64}
// TILES: fa.attention_tile = {block_m = 192 : i64, block_n = 128 : i64}
// TILES: fa.attention_tile = {block_m = 128 : i64, block_n = 128 : i64}
// TILES: fa.attention_tile = {block_m = 128 : i64, block_n = 128 : i64}
// TILES: fa.attention_tile = {block_m = 128 : i64, block_n = 128 : i64}
// WIDE-COUNT-6: fa.attention_tile = {block_m = 128 : i64, block_n = 144 : i64}

func.func @d256(%q: tensor<1x1x?x256xbf16>, %k: tensor<1x1x?x256xbf16>,
                %v: tensor<1x1x?x256xbf16>, %o: tensor<1x1x?x256xbf16>)
    -> tensor<1x1x?x256xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x1x?x256xbf16>, tensor<1x1x?x256xbf16>, tensor<1x1x?x256xbf16>)
                    outs(%o : tensor<1x1x?x256xbf16>) -> tensor<1x1x?x256xbf16>
  return %0 : tensor<1x1x?x256xbf16>
}

// -----

func.func @d128(%q: tensor<1x1x?x128xf16>, %k: tensor<1x1x?x128xf16>,
                %v: tensor<1x1x?x128xf16>, %o: tensor<1x1x?x128xf16>)
    -> tensor<1x1x?x128xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x1x?x128xf16>, tensor<1x1x?x128xf16>, tensor<1x1x?x128xf16>)
                    outs(%o : tensor<1x1x?x128xf16>) -> tensor<1x1x?x128xf16>
  return %0 : tensor<1x1x?x128xf16>
}

// -----

// D = 64: 192 rows without a mask or a mod; 128 with a causal mask, a
// mask_mod, a score_mod or a variable-length batch.
func.func @d64(%q: tensor<1x1x?x64xbf16>, %k: tensor<1x1x?x64xbf16>,
               %v: tensor<1x1x?x64xbf16>, %o: tensor<1x1x?x64xbf16>)
    -> tensor<1x1x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>)
                    outs(%o : tensor<1x1x?x64xbf16>) -> tensor<1x1x?x64xbf16>
  %1 = fa.attention ins(%q, %k, %v : tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>)
                    outs(%0 : tensor<1x1x?x64xbf16>) causal = <top_left>
                    -> tensor<1x1x?x64xbf16>
  %2 = fa.attention ins(%q, %k, %v : tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>)
                    outs(%1 : tensor<1x1x?x64xbf16>)
                    mask_mod {
                    ^bb0(%b: index, %h: index, %qi: index, %ki: index):
                      %ok = arith.cmpi ne, %qi, %ki : index
                      fa.yield %ok : i1
                    } -> tensor<1x1x?x64xbf16>
  %3 = fa.attention ins(%q, %k, %v : tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>, tensor<1x1x?x64xbf16>)
                    outs(%2 : tensor<1x1x?x64xbf16>)
                    score_mod {
                    ^bb0(%s: f32, %b: index, %h: index, %qi: index, %ki: index):
                      %t = math.tanh %s : f32
                      fa.yield %t : f32
                    } -> tensor<1x1x?x64xbf16>
  return %3 : tensor<1x1x?x64xbf16>
}
