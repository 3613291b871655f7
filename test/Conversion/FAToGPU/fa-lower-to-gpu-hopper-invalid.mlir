// What the hopper-ws strategy cannot build is a compile-time error that
// names the value and what would work; the pass then fails.
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws chip=sm_90" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=256 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=BLOCKM
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-n=24 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=BLOCKN
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws warps=4" 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws stages=5" 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-n=128 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=REGS
// Three consumer warpgroups and the producer share the register file:
// 160 registers a consumer thread after setmaxnreg.
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=192 defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=REGS3
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws stages=4" 2>&1 | FileCheck %s --check-prefix=SMEM
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper" 2>&1 | FileCheck %s --check-prefix=DEFAULTS
// The defaults of the strategy: 128 x 128 tiles up to D = 128, 128 x 64 beyond.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" 2>&1 | FileCheck %s --check-prefix=TILES

// CHIP: error: the hopper-ws strategy needs sm_90a (wgmma), got 'sm_90'; use strategy=mma-sync
// BLOCKM: error: block-m must be 64, 128 or 192 for the hopper-ws strategy (64 rows per consumer warpgroup, at most three), got 256
// BLOCKN: error: block-n must be a multiple of 16 in [16, 256] for wgmma, got 24
// WARPS: error: the hopper-ws strategy runs one consumer warpgroup (4 warps) per 64 rows of block-m and one producer warpgroup: warps must be 0 or 12, got 4
// STAGES: error: stages must be 0 (the strategy's choice) or in [2, 4] (a ring of one block cannot overlap loads with the tensor cores), got 5
// REGS: error: tile too large for registers: block-m=128 block-n=128 at D=256 needs 224 fragment registers per thread (budget 177 for each of the 256 consumer threads); use a smaller block-n or block-m
// REGS3: error: tile too large for registers: block-m=192 block-n=128 at D=128 needs 160 fragment registers per thread (budget 97 for each of the 384 consumer threads); use a smaller block-n or block-m
// SMEM: error: the tile needs 328880 bytes of shared memory, more than the 232432 a block of sm_90a can have; use fewer stages or smaller tiles
// DEFAULTS: error: defaults-for must be mma-sync, hopper-ws or auto, got 'hopper'
// TILES: fa.attention_tile = {block_m = 128 : i64, block_n = 64 : i64}
// TILES: fa.attention_tile = {block_m = 128 : i64, block_n = 128 : i64}

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
