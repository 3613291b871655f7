//===- MmaSyncSchedule.cpp - Tiles and budgets of the mma.sync kernel -----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// How the mma-sync strategy shapes its kernel (warps, rows per warp, Q in
// registers or not) and what it refuses: the register and shared-memory
// budgets, and the tile sizes the m16n8k16 tensor cores can use.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/FAToGPU/FAToGPU.h"

using namespace mlir;
using namespace mlir::fa;

int64_t mlir::fa::getMmaSyncMergeFloats(const AttentionKernelSpec &spec,
                                        const MmaSyncConfig &config) {
  // A thread's output accumulators and its rows' max and sums (two, or
  // three with the exact sum).
  int64_t rowTiles = config.rowTilesPerWarp();
  return rowTiles * (spec.getValueHeadDim() / 8 * 4 + 2 * 3);
}

int64_t mlir::fa::getMmaSyncSharedMemoryBytes(const AttentionKernelSpec &spec,
                                              const MmaSyncConfig &config) {
  int64_t elementBytes = 2;
  int64_t query = config.blockM * spec.getHeadDim();
  int64_t keys = config.stages * config.blockN * spec.getHeadDim();
  int64_t values = config.stages * config.blockN * spec.getValueHeadDim();
  int64_t tiles = (query + keys + values) * elementBytes;
  // Key-split warps merge through the same memory after the key loop: the
  // states of every group but the first, in f32.
  int64_t merge = (config.keyWarps - 1) * config.rowWarps() * 32 *
                  getMmaSyncMergeFloats(spec, config) * 4;
  return std::max(tiles, merge);
}

/// 32-bit registers a thread holds for its fragments (Q, S, O and the
/// softmax state); beyond the budget ptxas spills.
static int64_t getFragmentRegisters(const AttentionKernelSpec &spec,
                                    const MmaSyncConfig &config) {
  int64_t rowTiles = config.rowTilesPerWarp();
  int64_t query =
      config.queryInRegisters ? rowTiles * (spec.getHeadDim() / 16) * 4 : 8;
  int64_t scores = rowTiles * (config.keySlice() / 8) * 4;
  int64_t output = rowTiles * (spec.getValueHeadDim() / 8) * 4;
  return query + scores + output + rowTiles * 4;
}

/// Fragment registers beyond which ptxas spills (255 per thread, minus
/// addresses and temporaries); the automatic schedule stays further below.
static constexpr int64_t kRegisterBudget = 216;
static constexpr int64_t kPreferredRegisters = 200;

void mlir::fa::chooseMmaSyncSchedule(const AttentionKernelSpec &spec,
                                     const GPUTarget &target,
                                     MmaSyncConfig &config) {
  auto fits = [&](MmaSyncConfig c) {
    return getFragmentRegisters(spec, c) <= kPreferredRegisters;
  };
  // 32 rows per warp (FlashAttention-2's shape: each K/V fragment feeds two
  // MMAs, half the shared-memory reads of 16 rows) when S and O of two row
  // tiles fit in registers, with Q kept in registers if it fits too, else
  // re-read from shared memory per block; otherwise 16 rows per warp. On
  // the H200 that made D = 64 (Q in registers) 1.3x and D = 128 at
  // block-n 48 (Q re-read) 1.1x faster than 16 rows per warp
  // (benchmarks/results/2026-11-20-h200-tune.md, 2026-11-21-h200-d128.md).
  // Key-split warps: a tile of fewer than 64 rows (16 per warp) would
  // leave its block with fewer than 4 warps, and one warp issues every
  // copy of a block slowly; groups of warps then split each key block
  // instead, up to 4 warps (slices of whole 16-key steps). Decoding's tiles
  // hold a few query rows: the tensor cores compute their keys rather than
  // padding rows.
  if (config.keyWarps == 0) {
    int64_t rowWarps = std::max<int64_t>(config.blockM / 16, 1);
    config.keyWarps = 1;
    if (config.warps != 0) {
      if (config.warps > rowWarps && config.warps % rowWarps == 0) {
        config.keyWarps = config.warps / rowWarps;
        config.keyWarpsFromWarps = true;
      }
    } else if (config.blockM < 64 && config.blockM % 16 == 0) {
      for (int64_t k = 4 / rowWarps; k > 1; --k)
        if ((config.blockN / 16) % k == 0 && config.blockN % 16 == 0) {
          config.keyWarps = k;
          break;
        }
      if (config.keyWarps > 1)
        config.warps = rowWarps * config.keyWarps;
    }
  } else if (config.keyWarps > 1 && config.warps == 0) {
    // Key groups of 16 rows a warp.
    config.warps = std::max<int64_t>(config.blockM / 16, 1) * config.keyWarps;
  }
  if (config.warps == 0) {
    MmaSyncConfig wide = config;
    wide.warps = config.blockM / 32;
    wide.queryInRegisters = false;
    config.warps = config.blockM % 32 == 0 && wide.warps > 0 && fits(wide)
                       ? wide.warps
                       : config.blockM / 16;
  }
  MmaSyncConfig withQuery = config;
  withQuery.queryInRegisters = true;
  config.queryInRegisters = fits(withQuery);
  // A key-split tile reads K and V for a few rows: a third slot keeps one
  // more block in flight. On the H200 (bf16, Nq 1, 16-row tiles under CUDA
  // graphs, three runs, benchmarks/results/2026-12-02-h200-decode-stages.md)
  // 3 slots were 1.05x 2 at D = 128 GQA, Nk 8192 (70.0-72.7 against
  // 72.7-73.8 us a call) and within the runs' 2% noise elsewhere (D 64,
  // 256, MHA, Nk 65536). 4 slots, one block per SM at D = 128, were as fast
  // at Nk 8192 and up to 2% slower at 65536, 1.26x slower at D = 256 (one
  // 2-warp block per SM), and halve the blocks the split rule can fill.
  if (config.stages == 0) {
    MmaSyncConfig deeper = config;
    deeper.stages = 3;
    config.stages =
        config.keyWarps > 1 && getMmaSyncSharedMemoryBytes(spec, deeper) <=
                                   target.getMaxDynamicSharedMemory()
            ? 3
            : kDefaultStages;
  }
}

LogicalResult mlir::fa::verifyMmaSyncConfig(
    const AttentionKernelSpec &spec, const MmaSyncConfig &config,
    const GPUTarget &target, function_ref<InFlightDiagnostic()> emitError) {
  Type element = spec.getElementType();
  if (!element.isF16() && !element.isBF16()) {
    emitError() << "the mma-sync strategy needs f16 or bf16 Q/K/V, got "
                << element << " (f32 attention runs only on the CPU path)";
    return failure();
  }
  int64_t headDim = spec.getHeadDim();
  if (failed(verifyHeadDims("the mma-sync strategy", headDim,
                            spec.getValueHeadDim(), emitError)))
    return failure();
  if (config.warps <= 0 || config.warps > 16) {
    InFlightDiagnostic diag = emitError();
    diag << "warps must be in [1, 16], got " << config.warps;
    if (config.keyWarps > 1 && !config.keyWarpsFromWarps &&
        config.warps % config.keyWarps == 0)
      diag << " (" << config.rowWarps() << " warps of rows times key-warps "
           << config.keyWarps << ")";
    return failure();
  }
  if (config.keyWarps < 1 || config.warps % config.keyWarps != 0) {
    emitError() << "key-warps (" << config.keyWarps << ") must divide warps ("
                << config.warps << ")";
    return failure();
  }
  if (config.blockM % (16 * config.rowWarps()) != 0 ||
      config.rowTilesPerWarp() > 2) {
    emitError() << "block-m (" << config.blockM
                << ") must be 16 or 32 rows per warp times the warps of a "
                   "key group ("
                << config.rowWarps() << ")";
    return failure();
  }
  if (config.keyWarps > 1 && config.blockN % (16 * config.keyWarps) != 0) {
    InFlightDiagnostic diag = emitError();
    diag << "block-n (" << config.blockN << ") must split into key-warps ("
         << config.keyWarps << ") slices of whole 16-key steps";
    if (config.keyWarpsFromWarps)
      diag << " (warps " << config.warps << " over block-m " << config.blockM
           << "'s " << config.rowWarps()
           << " warps of rows: the others split the keys; give fewer warps "
              "or a larger block-m)";
    return failure();
  }
  if (config.blockN % 16 != 0 || config.blockN > 256) {
    emitError() << "block-n must be a multiple of 16 and at most 256 for "
                   "m16n8k16 tensor cores, got "
                << config.blockN;
    return failure();
  }
  if (config.stages < 2 || config.stages > 4) {
    emitError() << "stages must be in [2, 4] (a ring of one block cannot "
                   "overlap loads with the tensor cores), got "
                << config.stages;
    return failure();
  }
  if (failed(verifyExp2Emulation(config.emulatedExp2, emitError)))
    return failure();
  int64_t registers = getFragmentRegisters(spec, config);
  if (registers > kRegisterBudget) {
    emitError() << "tile too large for registers: block-m=" << config.blockM
                << " block-n=" << config.blockN << " warps=" << config.warps
                << " at D=" << headDim << " needs " << registers
                << " fragment registers per thread (budget " << kRegisterBudget
                << "); use more warps or a smaller block-n";
    return failure();
  }
  int64_t smem = getMmaSyncSharedMemoryBytes(spec, config);
  if (smem > target.getMaxDynamicSharedMemory()) {
    emitError() << "the tile needs " << smem
                << " bytes of shared memory, more than the "
                << target.getMaxDynamicSharedMemory() << " a block of "
                << target.chip << " can have; use fewer stages or smaller "
                << "tiles";
    return failure();
  }
  return success();
}
