//===- BackwardKernelConfig.cpp - What a backward kernel needs ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The schedule facts of the backward kernels that the host side and the
// runtimes read (arguments, threads, shared memory) and the checks that a
// strategy can build a stage's kernel: mma.sync (MmaSyncBackwardKernel.cpp)
// and its wgmma form on sm_90a (WgmmaBackwardBlock.cpp).
//
//===----------------------------------------------------------------------===//

#include "MmaSyncBackwardEmitter.h"
#include "Wgmma.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

SmallVector<Type> BackwardKernelSpec::getArgumentTypes() const {
  SmallVector<Type> types;
  for (RankedTensorType type :
       {query, key, value, output, gradOutput, lse, delta, gradQueryAccumulator,
        gradQuery, gradKey, gradValue})
    if (type)
      types.push_back(getKernelArgumentType(type));
  for (RankedTensorType capture : captures)
    types.push_back(
        getKernelArgumentType(capture, /*unitInnermostStride=*/false));
  return types;
}

int64_t mlir::fa::getBackwardThreads(const BackwardStageTile &stage) {
  if (isRowWise(stage))
    return 128;
  return getTileShape(stage).first / 16 * 32;
}

int64_t mlir::fa::getBackwardSharedMemoryBytes(const BackwardStageTile &stage,
                                               const BackwardKernelSpec &spec,
                                               const BackwardConfig &config) {
  if (isRowWise(stage))
    return 0;
  auto [tileRows, streamRows] = getTileShape(stage);
  int64_t headDim = spec.query.getShape()[3];
  // wgmma: the same tiles and rings as slabs, dS^T as one slab of
  // block_m columns, the LSE and delta ring, the dQ boxes of every warp,
  // the load barriers and room to align the base to the swizzle period.
  if (config.wgmma)
    return getWgmmaBackwardLayout(stage, headDim, config).total;
  // Two tiles and two rings of 16-bit elements (and dS^T, fused).
  int64_t bytes = 2 * 2 * headDim * (tileRows + config.stages * streamRows);
  if (stage.stage == BackwardTileAttr::fused)
    bytes += 2 * tileRows * getGradScoresPitch(stage);
  return bytes;
}

/// 32-bit registers a thread holds in fragments: accumulators of the
/// gradients, S and dP of a block, and P and dS repacked.
static int64_t getBackwardFragmentRegisters(const BackwardStageTile &stage,
                                            int64_t headDim) {
  auto [tileRows, streamRows] = getTileShape(stage);
  (void)tileRows;
  int64_t gradients = isKeyTiled(stage) ? 2 : 1;
  int64_t registers = gradients * headDim / 2 + streamRows + streamRows / 2;
  // fused: one unit of dQ (16 rows in f32) on top.
  if (stage.stage == BackwardTileAttr::fused)
    registers += getGradQueryChunk(registers) / 2;
  return registers;
}

/// Beyond this ptxas spills (255 per thread, minus addresses and
/// temporaries).
static constexpr int64_t kBackwardRegisterBudget = 208;

/// The wgmma fused kernel's accumulators per thread: dK and dV (D / 2
/// each), S^T and dP^T (block_m / 2 each) and dQ's share.
static int64_t getWgmmaBackwardRegisters(const BackwardStageTile &stage,
                                         int64_t headDim) {
  int64_t streamRows = getTileShape(stage).second;
  return headDim + streamRows + getWgmmaGradQueryColumns(stage, headDim) / 2;
}

/// The wgmma kernel's accumulators need no fragments beside them (P and
/// dS replace S and dP), so its budget is higher; measured: 224 at D =
/// 128 over two warpgroups does not spill.
static constexpr int64_t kWgmmaBackwardRegisterBudget = 224;

/// What the wgmma form of the backward needs beyond the common checks.
static LogicalResult
verifyWgmmaBackward(const BackwardStageTile &stage, int64_t headDim,
                    const GPUTarget &target,
                    function_ref<InFlightDiagnostic()> emitError) {
  if (!hasWgmma(target.chip)) {
    emitError() << "the hopper-ws backward needs wgmma (sm_90a), got "
                << target.chip << "; use strategy=mma-sync";
    return failure();
  }
  if (stage.stage != BackwardTileAttr::fused) {
    emitError() << "the hopper-ws backward builds the fused stage "
                   "(dq=accumulate), got the "
                << stage.stage << " stage; tile with dq=accumulate or use "
                << "strategy=mma-sync";
    return failure();
  }
  auto [tileRows, streamRows] = getTileShape(stage);
  if (tileRows != 64 && tileRows != 128) {
    emitError() << "the hopper-ws backward gives each warpgroup 64 keys of "
                   "its tile: block-n must be 64 or 128, got "
                << tileRows;
    return failure();
  }
  // A warpgroup computes dQ of one or more whole 64-query M tiles, and
  // the statistics of a block are copied a row per thread.
  if (streamRows != 64 && !(streamRows == 128 && tileRows == 128)) {
    emitError() << "the hopper-ws backward streams blocks of 64 query rows "
                   "(the M of dQ's warpgroup MMA), or 128 with block-n = "
                   "128 (a warpgroup per 64 of them): got block-m = "
                << streamRows << " with block-n = " << tileRows;
    return failure();
  }
  int64_t registers = getWgmmaBackwardRegisters(stage, headDim);
  if (registers > kWgmmaBackwardRegisterBudget) {
    emitError() << "the hopper-ws backward needs " << registers
                << " accumulator registers per thread at D = " << headDim
                << " with block-m = " << streamRows
                << " and block-n = " << tileRows << " (budget "
                << kWgmmaBackwardRegisterBudget
                << "); use block-m = 64 and block-n = 128, which split dQ "
                   "over two warpgroups";
    return failure();
  }
  // dQ leaves in boxes of 32 columns (TMA's tensor reduction).
  int64_t columns = getWgmmaGradQueryColumns(stage, headDim);
  if (columns % kGradQueryBoxColumns != 0) {
    emitError() << "the hopper-ws backward adds dQ to its accumulator in "
                   "boxes of "
                << kGradQueryBoxColumns << " columns, but a warpgroup computes "
                << columns << " of D = " << headDim
                << " with block-m = " << streamRows
                << " and block-n = " << tileRows;
    return failure();
  }
  return success();
}

void mlir::fa::selectWgmmaBackwardBarriers(const BackwardStageTile &stage,
                                           const BackwardKernelSpec &spec,
                                           BackwardConfig &config,
                                           const GPUTarget &target) {
  config.singleBarrier = false;
  if (!config.wgmma || stage.stage != BackwardTileAttr::fused ||
      getTileShape(stage).second != 64)
    return;
  config.singleBarrier = true;
  if (getBackwardSharedMemoryBytes(stage, spec, config) >
      target.getMaxDynamicSharedMemory())
    config.singleBarrier = false;
}

LogicalResult mlir::fa::verifyBackwardConfig(
    const BackwardStageTile &stage, const BackwardKernelSpec &spec,
    const BackwardConfig &config, const GPUTarget &target,
    function_ref<InFlightDiagnostic()> emitError) {
  Type element = spec.query.getElementType();
  if (!element.isF16() && !element.isBF16()) {
    emitError() << "the mma-sync backward needs f16 or bf16 Q/K/V, got "
                << element << " (f32 runs only on the CPU path)";
    return failure();
  }
  for (RankedTensorType type :
       {spec.key, spec.value, spec.output, spec.gradOutput, spec.gradQuery,
        spec.gradKey, spec.gradValue})
    if (type.getElementType() != element) {
      emitError() << "the backward's Q, K, V, O, dO, dQ, dK and dV must "
                     "share an element type, got "
                  << element << " and " << type.getElementType();
      return failure();
    }
  for (RankedTensorType type :
       {spec.lse, spec.delta, spec.gradQueryAccumulator})
    if (type && !type.getElementType().isF32()) {
      emitError() << "the backward's LSE, delta and dQ accumulator are f32, "
                     "got "
                  << type.getElementType();
      return failure();
    }
  int64_t headDim = spec.query.getShape()[3];
  // Every stage checks (delta and dq_convert too, with either strategy).
  if (failed(verifyHeadDims("the GPU backward", headDim,
                            spec.value.getShape()[3], emitError)))
    return failure();
  if (isRowWise(stage))
    return success();
  if (config.wgmma &&
      failed(verifyWgmmaBackward(stage, headDim, target, emitError)))
    return failure();
  if (config.singleBarrier &&
      (!config.wgmma || getTileShape(stage).second != 64)) {
    emitError() << "one barrier a block needs the hopper-ws fused kernel "
                   "with blocks of 64 queries";
    return failure();
  }
  auto [tileRows, streamRows] = getTileShape(stage);
  StringRef tileName = isKeyTiled(stage) ? "block-n" : "block-m";
  StringRef streamName = isKeyTiled(stage) ? "block-m" : "block-n";
  if (tileRows % 16 != 0 || tileRows > 256) {
    emitError() << "the " << stage.stage << " kernel gives each warp 16 rows "
                << "of its tile: " << tileName
                << " must be a multiple of 16 up to 256, got " << tileRows;
    return failure();
  }
  if (streamRows % 16 != 0) {
    emitError() << "the " << stage.stage << " kernel streams blocks of "
                << streamName
                << " rows through m16n8k16 tensor cores: " << streamName
                << " must be a multiple of 16, got " << streamRows;
    return failure();
  }
  int64_t registers = getBackwardFragmentRegisters(stage, headDim);
  if (!config.wgmma && registers > kBackwardRegisterBudget) {
    emitError() << "the " << stage.stage << " kernel needs " << registers
                << " fragment registers per thread at D = " << headDim
                << " with " << streamName << " = " << streamRows << " (budget "
                << kBackwardRegisterBudget << "); use a smaller " << streamName;
    return failure();
  }
  int64_t smem = getBackwardSharedMemoryBytes(stage, spec, config);
  if (smem > target.getMaxDynamicSharedMemory()) {
    emitError() << "the " << stage.stage << " kernel needs " << smem
                << " bytes of shared memory, more than the "
                << target.getMaxDynamicSharedMemory() << " a block of "
                << target.chip << " can have; use smaller tiles";
    return failure();
  }
  return success();
}
