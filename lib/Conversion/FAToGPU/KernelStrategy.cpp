//===- KernelStrategy.cpp - Which strategy builds a tile's kernel ---------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// strategy=auto resolved for one tile, the strategy's configuration taken
// from the options, the refusals of options the strategy does not take,
// and the kernel built.
//
//===----------------------------------------------------------------------===//

#include "KernelStrategy.h"

#include "fa/Dialect/FA/Transforms/Transforms.h"

using namespace mlir;
using namespace mlir::fa;
using mlir::fa::detail::StrategyKernel;

/// Why strategy=auto builds `tile` with mma-sync: the errors about options
/// only hopper-ws takes say it.
static std::string getAutoMmaSyncReason(const FusedAttentionTile &tile,
                                        const AttentionKernelSpec &spec,
                                        const FAToGPUOptions &options) {
  std::string reason;
  llvm::raw_string_ostream os(reason);
  os << "; strategy=auto builds this tile with mma-sync: ";
  if (tile.split)
    os << "it is a split-KV tile";
  else if (tile.packedHeads > 1)
    os << "it is a packed GQA tile";
  else if (tile.isPaged() && !isWgmmaPaging(tile.pageSize()))
    os << "its pages hold " << tile.pageSize() << " rows, not a multiple of 8";
  else if (!hasWgmma(options.target.chip))
    os << options.target.chip << " has no wgmma";
  else if (!isWgmmaCandidate(spec.getElementType(), spec.getHeadDim(),
                             spec.getValueHeadDim()))
    os << "hopper-ws takes f16 or bf16 with D == Dv in {64, 128, 192, 256}";
  else
    os << "warps, key-warps, a stage count other than 2 or a block-m not a "
          "multiple of 64 is an option of mma-sync";
  return reason;
}

/// The strategy that builds `tile`: options.strategy, or for auto hopper-ws
/// where the tile and the options allow it, else mma-sync.
static GPUStrategyKind resolveStrategy(const FusedAttentionTile &tile,
                                       const AttentionKernelSpec &spec,
                                       const FAToGPUOptions &options) {
  if (options.strategy != GPUStrategyKind::Auto)
    return options.strategy;
  if (tile.split || tile.packedHeads > 1 ||
      (tile.isPaged() && !isWgmmaPaging(tile.pageSize())))
    return GPUStrategyKind::MmaSync;
  return hasWgmma(options.target.chip) &&
                 isWgmmaCandidate(spec.getElementType(), spec.getHeadDim(),
                                  spec.getValueHeadDim()) &&
                 wgmmaTakesOptions(tile.blockM, options.warps, options.stages,
                                   options.keyWarps)
             ? GPUStrategyKind::HopperWarpSpecialized
             : GPUStrategyKind::MmaSync;
}

static FailureOr<StrategyKernel>
buildHopperKernel(RewriterBase &rewriter, gpu::GPUModuleOp module,
                  const FusedAttentionTile &tile,
                  const AttentionKernelSpec &spec,
                  const FAToGPUOptions &options, Location loc) {
  HopperConfig config;
  config.blockM = tile.blockM;
  config.blockN = tile.blockN;
  config.stages = options.stages ? options.stages : kDefaultStages;
  config.emulatedExp2 = options.exp2Emulation;
  config.columnIntervals = options.columnIntervals;
  config.persistence = options.persistence;
  config.pagedLoads = options.pagedLoads;
  chooseHopperEpilogue(options.epilogue, tile.isVarlen(), config);
  // (A block-m the strategy cannot take is verifyHopperConfig's error.)
  if (options.warps != 0 && config.blockM % 64 == 0 &&
      options.warps != config.threads() / 32)
    return emitError(loc, "the hopper-ws strategy runs one consumer "
                          "warpgroup (4 warps) per 64 rows of block-m and "
                          "one producer warpgroup: warps must be 0 or ")
           << config.threads() / 32 << ", got " << options.warps;
  if (options.keyWarps > 1)
    return emitError(loc, "key-warps is an option of the mma-sync strategy; "
                          "hopper-ws splits no key block among warps, got ")
           << options.keyWarps;
  FailureOr<gpu::GPUFuncOp> kernel = buildHopperAttentionKernel(
      rewriter, module, tile, spec, config, options.target, loc);
  if (failed(kernel))
    return failure();
  // The builder completes the schedule (chooseHopperSchedule), which may
  // add barriers: the launch takes the kernel's own figures.
  FailureOr<KernelLaunchInfo> built = KernelLaunchInfo::fromAttr(
      (*kernel)->getAttrOfType<DictionaryAttr>(KernelLaunchInfo::attrName));
  if (succeeded(built))
    return StrategyKernel{*kernel, built->threads, built->dynamicSharedMemory};
  return StrategyKernel{*kernel, config.threads(),
                        getHopperSharedMemoryBytes(spec, config)};
}

static FailureOr<StrategyKernel>
buildMmaSyncKernel(RewriterBase &rewriter, gpu::GPUModuleOp module,
                   const FusedAttentionTile &tile,
                   const AttentionKernelSpec &spec,
                   const FAToGPUOptions &options, Location loc) {
  // Options only hopper-ws takes: one error, which says why auto did not
  // pick hopper-ws.
  std::string why;
  if (options.persistence == Persistence::On)
    why = "persistent=on is an option of the hopper-ws strategy; mma-sync "
          "kernels run one tile per block";
  else if (options.epilogue == Epilogue::Staged ||
           options.epilogue == Epilogue::Tma)
    why = "epilogue=staged and epilogue=tma are options of the hopper-ws "
          "strategy; mma-sync kernels store O from the registers";
  else if (options.pagedLoads != PagedLoads::Auto)
    why = "paged-loads=tma and paged-loads=cp-async are options of the "
          "hopper-ws strategy; mma-sync kernels gather pages with cp.async";
  if (!why.empty()) {
    if (options.strategy == GPUStrategyKind::Auto)
      why += getAutoMmaSyncReason(tile, spec, options);
    return emitError(loc, why);
  }
  MmaSyncConfig config;
  config.blockM = tile.blockM;
  config.blockN = tile.blockN;
  config.stages = options.stages;
  config.warps = options.warps;
  config.keyWarps = options.keyWarps;
  config.emulatedExp2 = options.exp2Emulation;
  config.columnIntervals = options.columnIntervals;
  if (config.blockM % 16 != 0)
    return emitError(loc, "block-m must be a multiple of 16 for the mma-sync "
                          "strategy, got ")
           << config.blockM;
  chooseMmaSyncSchedule(spec, options.target, config);
  FailureOr<gpu::GPUFuncOp> kernel = buildMmaSyncAttentionKernel(
      rewriter, module, tile, spec, config, options.target, loc);
  if (failed(kernel))
    return failure();
  return StrategyKernel{*kernel, config.threads(),
                        getMmaSyncSharedMemoryBytes(spec, config)};
}

FailureOr<StrategyKernel> mlir::fa::detail::buildStrategyKernel(
    RewriterBase &rewriter, gpu::GPUModuleOp module,
    const FusedAttentionTile &tile, const AttentionKernelSpec &spec,
    const FAToGPUOptions &options, Location loc) {
  if (resolveStrategy(tile, spec, options) ==
      GPUStrategyKind::HopperWarpSpecialized)
    return buildHopperKernel(rewriter, module, tile, spec, options, loc);
  return buildMmaSyncKernel(rewriter, module, tile, spec, options, loc);
}
