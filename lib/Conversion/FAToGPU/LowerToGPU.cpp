//===- LowerToGPU.cpp - fa-lower-to-gpu -----------------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Fused attention tile (scf.forall) -> gpu.module kernel + gpu.launch_func.
// The kernel body comes from a strategy (MmaSyncAttentionKernel.cpp); this
// file holds the strategy-independent parts: options, the host-side launch
// and the launch metadata.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/FAToGPU/FAToGPU.h"
#include "fa/Conversion/Passes.h"

#include "fa/Dialect/FA/IR/FAOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FALOWERTOGPU
#include "fa/Conversion/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;
using namespace mlir::fa;

std::optional<GPUStrategyKind> mlir::fa::parseGPUStrategy(StringRef name) {
  if (name == "mma-sync")
    return GPUStrategyKind::MmaSync;
  if (name == "hopper-ws")
    return GPUStrategyKind::HopperWarpSpecialized;
  if (name == "auto")
    return GPUStrategyKind::Auto;
  return std::nullopt;
}

ArrayRef<GPUTarget> mlir::fa::getKnownGPUTargets() {
  // Opt-in dynamic shared memory per block (CUDA programming guide, table
  // of compute capabilities).
  static const GPUTarget known[] = {
      {"sm_80", 80, 166912}, {"sm_86", 86, 101376}, {"sm_87", 87, 166912},
      {"sm_89", 89, 101376}, {"sm_90", 90, 232448}, {"sm_90a", 90, 232448}};
  return known;
}

FailureOr<GPUTarget>
mlir::fa::parseGPUTarget(StringRef chip,
                         function_ref<InFlightDiagnostic()> emitError) {
  for (const GPUTarget &target : getKnownGPUTargets())
    if (target.chip == chip)
      return target;
  InFlightDiagnostic diag = emitError();
  diag << "unsupported chip '" << chip << "': fa-mlir builds kernels for ";
  llvm::interleaveComma(getKnownGPUTargets(), diag,
                        [&](const GPUTarget &t) { diag << t.chip; });
  return failure();
}

FailureOr<gpu::LaunchFuncOp>
mlir::fa::lowerAttentionTileToGPU(RewriterBase &rewriter, scf::ForallOp forall,
                                  const FAToGPUOptions &options) {
  FailureOr<FusedAttentionTile> tile = matchFusedAttentionTile(forall);
  if (failed(tile))
    return failure();
  AttentionKernelSpec spec = getAttentionKernelSpec(*tile);
  auto module = forall->getParentOfType<ModuleOp>();
  if (!module)
    return emitError(forall.getLoc(),
                     "fa-lower-to-gpu needs an enclosing module");

  // The strategy builds the kernel; the launch below needs its block size
  // and shared memory.
  Location loc = forall.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToEnd(module.getBody());
  auto gpuModule = gpu::GPUModuleOp::create(rewriter, loc, "fa_attention");
  FailureOr<gpu::GPUFuncOp> kernel = failure();
  int64_t blockM = tile->blockM, threads = 0, sharedMemory = 0;
  GPUStrategyKind strategy = options.strategy;
  if (strategy == GPUStrategyKind::Auto)
    strategy =
        hasWgmma(options.target.chip) &&
                isWgmmaCandidate(spec.getElementType(), spec.getHeadDim(),
                                 spec.getValueHeadDim()) &&
                wgmmaTakesOptions(tile->blockM, options.warps, options.stages)
            ? GPUStrategyKind::HopperWarpSpecialized
            : GPUStrategyKind::MmaSync;
  if (strategy == GPUStrategyKind::HopperWarpSpecialized) {
    HopperConfig config;
    config.blockM = tile->blockM;
    config.blockN = tile->blockN;
    config.stages = options.stages;
    // (A block-m the strategy cannot take is verifyHopperConfig's error.)
    if (options.warps != 0 && config.blockM % 64 == 0 &&
        options.warps != config.threads() / 32) {
      rewriter.eraseOp(gpuModule);
      return emitError(forall.getLoc(),
                       "the hopper-ws strategy runs one consumer "
                       "warpgroup (4 warps) per 64 rows of block-m "
                       "and one producer warpgroup: warps must be 0 "
                       "or ")
             << config.threads() / 32 << ", got " << options.warps;
    }
    kernel = buildHopperAttentionKernel(rewriter, gpuModule, *tile, spec,
                                        config, options.target, loc);
    threads = config.threads();
    sharedMemory = getHopperSharedMemoryBytes(spec, config);
  } else {
    MmaSyncConfig config;
    config.blockM = tile->blockM;
    config.blockN = tile->blockN;
    config.stages = options.stages;
    config.warps = options.warps;
    if (config.blockM % 16 != 0) {
      rewriter.eraseOp(gpuModule);
      return emitError(forall.getLoc(),
                       "block-m must be a multiple of 16 for the "
                       "mma-sync strategy, got ")
             << config.blockM;
    }
    chooseMmaSyncSchedule(spec, config);
    kernel = buildMmaSyncAttentionKernel(rewriter, gpuModule, *tile, spec,
                                         config, options.target, loc);
    threads = config.threads();
    sharedMemory = getMmaSyncSharedMemoryBytes(spec, config);
  }
  if (failed(kernel)) {
    rewriter.eraseOp(gpuModule);
    return failure();
  }
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  rewriter.getUnitAttr());
  // The module takes the kernel's name; two identical attentions get two
  // modules: name_0, name_1, ...
  gpuModule.setName(kernel->getName());
  SymbolTable(module).insert(gpuModule);

  rewriter.setInsertionPoint(forall);
  auto toBuffer = [&](Value tensor, bool unitInnermostStride) -> Value {
    auto type = getKernelArgumentType(cast<RankedTensorType>(tensor.getType()),
                                      unitInnermostStride);
    return bufferization::ToBufferOp::create(rewriter, loc, type, tensor);
  };
  SmallVector<Value> operands{
      toBuffer(tile->query, true), toBuffer(tile->key, true),
      toBuffer(tile->value, true), toBuffer(tile->output, true)};
  if (tile->lseOutput)
    operands.push_back(toBuffer(tile->lseOutput, true));
  for (Value capture : tile->captures)
    operands.push_back(toBuffer(capture, false));
  // The kernel's tensor maps, of the buffers above.
  FailureOr<KernelLaunchInfo> launchInfo = KernelLaunchInfo::fromAttr(
      (*kernel)->getAttrOfType<DictionaryAttr>(KernelLaunchInfo::attrName));
  if (succeeded(launchInfo))
    for (const TensorMapInfo &map : launchInfo->tensorMaps)
      operands.push_back(TensorMapOp::create(
          rewriter, loc, LLVM::LLVMPointerType::get(rewriter.getContext()),
          operands[map.argument], map.box));

  auto dim = [&](int64_t i) -> Value {
    return rewriter.createOrFold<tensor::DimOp>(loc, tile->query, i);
  };
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  gpu::KernelDim3 grid{
      rewriter.createOrFold<arith::CeilDivUIOp>(loc, dim(2), index(blockM)),
      dim(1), dim(0)};
  gpu::KernelDim3 block{index(threads), index(1), index(1)};
  Value smem = arith::ConstantOp::create(
      rewriter, loc, rewriter.getI32IntegerAttr(sharedMemory));
  auto launch = gpu::LaunchFuncOp::create(rewriter, loc, *kernel, grid, block,
                                          smem, operands);

  SmallVector<Value> results;
  for (auto [i, result] : llvm::enumerate(forall.getResults()))
    results.push_back(bufferization::ToTensorOp::create(
        rewriter, loc, result.getType(), operands[3 + i], /*restrict=*/true,
        /*writable=*/true));
  rewriter.replaceOp(forall, results);
  return launch;
}

namespace {

struct FALowerToGPUPass : public fa::impl::FALowerToGPUBase<FALowerToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Option errors name the option, at the module's location: the module
    // itself is not part of the message.
    Location loc = module.getLoc();
    FAToGPUOptions options;
    FailureOr<GPUTarget> target =
        parseGPUTarget(chip, [&]() { return emitError(loc); });
    if (failed(target))
      return signalPassFailure();
    options.target = *target;
    std::optional<GPUStrategyKind> kind = parseGPUStrategy(strategy);
    if (!kind) {
      emitError(loc, "unknown strategy '")
          << strategy.getValue() << "': expected mma-sync, hopper-ws or auto";
      return signalPassFailure();
    }
    options.strategy = *kind;
    options.warps = warps;
    options.stages = stages;
    if (options.warps < 0) {
      emitError(loc, "warps must be 0 (the strategy's choice) or positive, "
                     "got ")
          << options.warps;
      return signalPassFailure();
    }
    if (options.stages < 2 || options.stages > 4) {
      emitError(loc, "stages must be in [2, 4] (a ring of one block cannot "
                     "overlap loads with the tensor cores), got ")
          << options.stages;
      return signalPassFailure();
    }

    // Untiled attention cannot be mapped: an error, not a silent no-op.
    WalkResult untiled = module.walk([&](AttentionOp op) {
      emitError(op.getLoc(), "fa-lower-to-gpu maps tiled attention: run "
                             "fa-tile-attention and fa-fuse-online-softmax "
                             "first (or the fa-lower-to-nvgpu-pipeline)");
      return WalkResult::interrupt();
    });
    if (untiled.wasInterrupted())
      return signalPassFailure();
    // Tiled attention whose contract was dropped cannot be mapped, and
    // must not be left behind silently.
    if (Operation *unmarked = findUnmarkedTileOp(module)) {
      emitError(unmarked->getLoc(),
                "tiled attention outside an scf.forall marked '")
          << AttentionTileAttr::attrName << "' or '"
          << BackwardTileAttr::attrName
          << "': a pass after the tiling removed the contract "
             "(canonicalization does when it rebuilds the forall, e.g. to fold "
             "a tensor.cast into it); run fa-lower-to-gpu on what "
             "fa-tile-attention and fa-fuse-online-softmax produce";
      return signalPassFailure();
    }
    // The backward pass: untiled, it cannot be mapped; tiled, each delta
    // stage and the stages that read it (key_value and query, or fused)
    // become three kernels.
    WalkResult backward = module.walk([&](AttentionBackwardOp op) {
      emitError(op.getLoc(), "fa-lower-to-gpu maps a tiled backward: run "
                             "fa-tile-attention-backward first (or the "
                             "fa-lower-to-nvgpu-pipeline)");
      return WalkResult::interrupt();
    });
    if (backward.wasInterrupted())
      return signalPassFailure();
    SmallVector<scf::ForallOp> deltaStages;
    module.walk([&](scf::ForallOp forall) {
      auto attr =
          forall->getAttrOfType<DictionaryAttr>(BackwardTileAttr::attrName);
      auto stage = attr ? attr.getAs<StringAttr>("stage") : StringAttr();
      if (stage && stage.getValue() == BackwardTileAttr::delta)
        deltaStages.push_back(forall);
    });
    SmallVector<scf::ForallOp> tiles;
    module.walk([&](scf::ForallOp forall) {
      if (forall->hasAttr(AttentionTileAttr::attrName))
        tiles.push_back(forall);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ForallOp forall : tiles)
      if (failed(lowerAttentionTileToGPU(rewriter, forall, options)))
        return signalPassFailure();
    for (scf::ForallOp delta : deltaStages)
      if (failed(lowerAttentionBackwardToGPU(rewriter, delta, options)))
        return signalPassFailure();
    // A stage no delta stage led to (its delta was not the tiling's).
    WalkResult orphan = module.walk([&](scf::ForallOp forall) {
      if (!forall->hasAttr(BackwardTileAttr::attrName))
        return WalkResult::advance();
      emitError(forall.getLoc(),
                "a backward stage that reads no delta stage's result: the "
                "stages of fa-tile-attention-backward map to kernels "
                "together");
      return WalkResult::interrupt();
    });
    if (orphan.wasInterrupted())
      return signalPassFailure();
  }
};

} // namespace
