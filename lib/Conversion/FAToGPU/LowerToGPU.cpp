//===- LowerToGPU.cpp - fa-lower-to-gpu -----------------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Fused attention tile (scf.forall) -> gpu.module kernel + gpu.launch_func.
// A strategy builds the kernel body (KernelStrategy.cpp picks it); this
// file holds the strategy-independent parts: the split-KV tile's combine
// kernel, the host-side launches and the launch metadata, and the pass
// with its options (FAToGPUOptions.cpp parses and checks them).
//
//===----------------------------------------------------------------------===//

#include "KernelGrid.h"
#include "KernelStrategy.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"
#include "fa/Conversion/Passes.h"

#include "fa/Dialect/FA/IR/FAOps.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
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

/// The combine forall that reads exactly the partial results of the split
/// tile `forall`.
static FailureOr<SplitCombineTile> matchSplitPartner(scf::ForallOp forall) {
  scf::ForallOp partner;
  for (Value result : forall.getResults())
    for (Operation *user : result.getUsers()) {
      bool reads = isa<tensor::ExtractSliceOp, tensor::DimOp>(user);
      auto owner =
          reads ? user->getParentOfType<scf::ForallOp>() : scf::ForallOp();
      if (!owner || !owner->hasAttr(SplitCombineAttr::attrName) ||
          (partner && owner != partner))
        return emitError(user->getLoc(),
                         "the partial results of a split-KV tile may be "
                         "read only by its fa.split_combine forall");
      partner = owner;
    }
  if (!partner)
    return emitError(forall.getLoc(),
                     "a split-KV tile whose partial results no "
                     "fa.split_combine forall reads");
  FailureOr<SplitCombineTile> combine = matchSplitCombine(partner);
  if (failed(combine))
    return failure();
  if (combine->partialOutput != forall.getResult(0) ||
      combine->partialLse != forall.getResult(1))
    return emitError(partner.getLoc(),
                     "a fa.split_combine must read the partial O and LSE "
                     "of one split-KV tile");
  // Both kernels index the queries alike.
  auto outputType = cast<RankedTensorType>(combine->output.getType());
  auto partialType = cast<RankedTensorType>(forall.getResult(0).getType());
  if (outputType.getDimSize(3) != partialType.getDimSize(4))
    return emitError(partner.getLoc(),
                     "the combine's output and the partial outputs differ "
                     "in Dv");
  return combine;
}

FailureOr<gpu::LaunchFuncOp>
mlir::fa::lowerAttentionTileToGPU(RewriterBase &rewriter, scf::ForallOp forall,
                                  const FAToGPUOptions &options) {
  FailureOr<FusedAttentionTile> tile = matchFusedAttentionTile(forall);
  if (failed(tile))
    return failure();
  if (failed(verifyCapturesNotWritten(forall.getLoc(), tile->captures,
                                      forall.getOutputs())))
    return failure();
  AttentionKernelSpec spec = getAttentionKernelSpec(*tile);
  auto module = forall->getParentOfType<ModuleOp>();
  if (!module)
    return emitError(forall.getLoc(),
                     "fa-lower-to-gpu needs an enclosing module");
  // A split tile and its combine become two kernels; the split count is a
  // constant or fa.split_count, which the runtimes evaluate.
  std::optional<SplitCombineTile> combine;
  int64_t staticSplits = 0, maxSplits = 0;
  if (tile->split) {
    FailureOr<SplitCombineTile> matched = matchSplitPartner(forall);
    if (failed(matched))
      return failure();
    combine = *matched;
    OpFoldResult count = forall.getMixedUpperBound()[0];
    auto rule = isa<Value>(count)
                    ? cast<Value>(count).getDefiningOp<SplitCountOp>()
                    : SplitCountOp();
    if (std::optional<int64_t> constant = getConstantIntValue(count)) {
      if (*constant < 1)
        return emitError(forall.getLoc(),
                         "a split-KV tile needs at least one split, got ")
               << *constant;
      staticSplits = maxSplits = *constant;
    } else if (rule) {
      maxSplits = rule.getMaxSplits();
    } else {
      return emitError(forall.getLoc(),
                       "the split count of a split-KV tile must be a "
                       "constant or fa.split_count (the rule the runtimes "
                       "evaluate), got ")
             << cast<Value>(count);
    }
    if (options.strategy == GPUStrategyKind::HopperWarpSpecialized)
      return emitError(forall.getLoc(),
                       "the hopper-ws strategy does not build split-KV "
                       "tiles; use strategy=mma-sync or auto");
  }

  if (tile->packedHeads > 1 &&
      options.strategy == GPUStrategyKind::HopperWarpSpecialized)
    return emitError(forall.getLoc(),
                     "the hopper-ws strategy does not build packed GQA tiles "
                     "(pack_gqa); use strategy=mma-sync or auto");

  // The strategy builds the kernel; the launch below needs its block size
  // and shared memory.
  Location loc = forall.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToEnd(module.getBody());
  auto gpuModule = gpu::GPUModuleOp::create(rewriter, loc, "fa_attention");
  FailureOr<detail::StrategyKernel> built = detail::buildStrategyKernel(
      rewriter, gpuModule, *tile, spec, options, loc);
  if (failed(built)) {
    rewriter.eraseOp(gpuModule);
    return failure();
  }
  gpu::GPUFuncOp kernel = built->kernel;
  std::string kind;
  if (tile->split || tile->packedHeads > 1 || tile->isVarlen() ||
      tile->isPaged()) {
    FailureOr<KernelLaunchInfo> info = KernelLaunchInfo::fromAttr(
        kernel->getAttrOfType<DictionaryAttr>(KernelLaunchInfo::attrName));
    if (failed(info)) {
      rewriter.eraseOp(gpuModule);
      return emitError(loc, "internal: the kernel has no fa.launch");
    }
    if (tile->packedHeads > 1) {
      info->packedHeads = tile->packedHeads;
      kind += "_gqa" + std::to_string(tile->packedHeads);
    }
    if (tile->isVarlen()) {
      info->varlen = true;
      kind += "_varlen";
    }
    if (tile->isPaged()) {
      info->pageSize = tile->pageSize();
      kind += "_paged" + std::to_string(tile->pageSize());
    }
    if (tile->split) {
      info->splitStage = kSplitPartialStage.str();
      info->splits = staticSplits;
      info->maxSplits = maxSplits;
      kind += "_splitkv";
    }
    kernel->setAttr(KernelLaunchInfo::attrName,
                    info->toAttr(rewriter.getContext()));
  }
  // Named by what it is, its finished IR and the tile's kind.
  appendKernelHash(kernel, kind);
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  rewriter.getUnitAttr());
  // The module takes the kernel's name; two identical attentions get two
  // modules: name_0, name_1, ...
  gpuModule.setName(kernel.getName());
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
  if (tile->isVarlen()) {
    operands.push_back(toBuffer(tile->cuSeqlensQ, false));
    if (tile->cuSeqlensK)
      operands.push_back(toBuffer(tile->cuSeqlensK, false));
  }
  if (tile->isPaged()) {
    operands.push_back(toBuffer(tile->blockTable, false));
    operands.push_back(toBuffer(tile->cacheSeqlens, false));
  }
  for (Value capture : tile->captures)
    operands.push_back(toBuffer(capture, false));
  // The kernel's tensor maps, of the buffers above.
  FailureOr<KernelLaunchInfo> launchInfo = KernelLaunchInfo::fromAttr(
      kernel->getAttrOfType<DictionaryAttr>(KernelLaunchInfo::attrName));
  if (succeeded(launchInfo))
    for (const TensorMapInfo &map : launchInfo->tensorMaps)
      operands.push_back(TensorMapOp::create(
          rewriter, loc, LLVM::LLVMPointerType::get(rewriter.getContext()),
          operands[map.argument], map.box));

  auto dim = [&](Value tensor, int64_t i) -> Value {
    return rewriter.createOrFold<tensor::DimOp>(loc, tensor, i);
  };
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  // A packed tile covers block_m / G positions of the G query heads of
  // one key/value head.
  Value heads = tile->packedHeads > 1 ? dim(tile->key, tile->isPaged() ? 2 : 1)
                                      : dim(tile->query, 1);
  gpu::KernelDim3 grid;
  if (tile->isVarlen()) {
    // (ceildiv(max_seqlen_q, block_m), heads, B): the tiles of the longest
    // sequence; B + 1 offsets.
    grid = {rewriter.createOrFold<arith::CeilDivUIOp>(loc, tile->maxSeqlenQ,
                                                      index(tile->positions())),
            heads,
            rewriter.createOrFold<arith::SubIOp>(loc, dim(tile->cuSeqlensQ, 0),
                                                 index(1))};
  } else {
    Value tiles = rewriter.createOrFold<arith::CeilDivUIOp>(
        loc, dim(tile->query, 2), index(tile->positions()));
    // A split tile's blocks: the splits of a tile are `tiles` apart in x.
    if (tile->split)
      tiles = rewriter.createOrFold<arith::MulIOp>(loc, tiles,
                                                   dim(tile->lseOutput, 0));
    grid = {tiles, heads, dim(tile->query, 0)};
  }
  if (failed(detail::verifyStaticGrid(loc, grid,
                                      {"query tiles", "heads", "sequences"})))
    return failure();
  gpu::KernelDim3 block{index(built->threads), index(1), index(1)};
  Value smem = arith::ConstantOp::create(
      rewriter, loc, rewriter.getI32IntegerAttr(built->sharedMemory));
  auto launch = gpu::LaunchFuncOp::create(rewriter, loc, kernel, grid, block,
                                          smem, operands);
  if (!combine) {
    SmallVector<Value> results;
    for (auto [i, result] : llvm::enumerate(forall.getResults()))
      results.push_back(bufferization::ToTensorOp::create(
          rewriter, loc, result.getType(), operands[3 + i], /*restrict=*/true,
          /*writable=*/true));
    rewriter.replaceOp(forall, results);
    return launch;
  }

  // The combine: its own module and launch, after the partial kernel.
  rewriter.setInsertionPointToEnd(module.getBody());
  auto combineModule =
      gpu::GPUModuleOp::create(rewriter, loc, "fa_attention_combine");
  FailureOr<KernelLaunchInfo> partialInfo = KernelLaunchInfo::fromAttr(
      kernel->getAttrOfType<DictionaryAttr>(KernelLaunchInfo::attrName));
  FailureOr<gpu::GPUFuncOp> combineKernel =
      failed(partialInfo)
          ? FailureOr<gpu::GPUFuncOp>(failure())
          : buildSplitCombineKernel(rewriter, combineModule, *combine,
                                    *partialInfo, loc);
  if (failed(combineKernel)) {
    rewriter.eraseOp(combineModule);
    return failure();
  }
  appendKernelHash(*combineKernel);
  combineModule.setName(combineKernel->getName());
  SymbolTable(module).insert(combineModule);
  rewriter.setInsertionPoint(combine->forall);
  SmallVector<Value> combineOperands{operands[3], operands[4],
                                     toBuffer(combine->output, true)};
  if (combine->lseOutput)
    combineOperands.push_back(toBuffer(combine->lseOutput, true));
  gpu::KernelDim3 combineGrid{
      rewriter.createOrFold<arith::CeilDivUIOp>(loc, dim(combine->output, 2),
                                                index(combine->blockM)),
      dim(combine->output, 1), dim(combine->output, 0)};
  gpu::KernelDim3 combineBlock{index(kSplitCombineThreads), index(1), index(1)};
  Value noSmem =
      arith::ConstantOp::create(rewriter, loc, rewriter.getI32IntegerAttr(0));
  gpu::LaunchFuncOp::create(rewriter, loc, *combineKernel, combineGrid,
                            combineBlock, noSmem, combineOperands);
  SmallVector<Value> results;
  for (auto [i, result] : llvm::enumerate(combine->forall.getResults()))
    results.push_back(bufferization::ToTensorOp::create(
        rewriter, loc, result.getType(), combineOperands[2 + i],
        /*restrict=*/true, /*writable=*/true));
  rewriter.replaceOp(combine->forall, results);
  rewriter.eraseOp(forall);
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
    // A named option's value, parsed into `result`, or one error.
    auto parse = [&](auto parser, StringRef flag, StringRef values,
                     StringRef value, auto &result) {
      auto parsed = parser(value);
      if (!parsed)
        emitError(loc, getOptionValueError(flag, values, value));
      else
        result = *parsed;
      return parsed.has_value();
    };
    if (!parse(parseGPUStrategy, "strategy", kStrategyValues, strategy,
               options.strategy) ||
        !parse(parsePersistence, "persistent", kPersistenceValues, persistent,
               options.persistence) ||
        !parse(parseEpilogue, "epilogue", kEpilogueValues, epilogue,
               options.epilogue) ||
        !parse(parsePagedLoads, "paged-loads", kPagedLoadsValues, pagedLoads,
               options.pagedLoads))
      return signalPassFailure();
    options.warps = warps;
    options.stages = stages;
    options.keyWarps = keyWarps;
    options.exp2Emulation = exp2Emulation;
    options.columnIntervals = columnIntervals;
    if (failed(verifyExp2Emulation(options.exp2Emulation,
                                   [&]() { return emitError(loc); })))
      return signalPassFailure();
    if (options.warps < 0) {
      emitError(loc, "warps must be 0 (the strategy's choice) or positive, "
                     "got ")
          << options.warps;
      return signalPassFailure();
    }
    if (options.keyWarps < 0 || options.keyWarps > 8) {
      emitError(loc, "key-warps must be 0 (the strategy's choice) or in "
                     "[1, 8], got ")
          << options.keyWarps;
      return signalPassFailure();
    }
    if (options.stages != 0 && (options.stages < 2 || options.stages > 4)) {
      emitError(loc, "stages must be 0 (the strategy's choice) or in [2, 4] "
                     "(a ring of one block cannot overlap loads with the "
                     "tensor cores), got ")
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
          << AttentionTileAttr::attrName << "', '" << BackwardTileAttr::attrName
          << "' or '" << SplitCombineAttr::attrName
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
    // The warp options shape forward kernels; a backward's kernels take
    // their warps from their tiles, and would ignore them.
    if (tiles.empty() && !deltaStages.empty() &&
        (options.warps || options.keyWarps || options.exp2Emulation ||
         options.columnIntervals)) {
      emitError(loc, "warps, key-warps, exp2-emulation and column-intervals "
                     "shape the kernels "
                     "of tiled fa.attention, and the module holds only "
                     "backward stages (whose kernels take their warps from "
                     "their tiles)");
      return signalPassFailure();
    }
    IRRewriter rewriter(&getContext());
    for (scf::ForallOp forall : tiles)
      if (failed(lowerAttentionTileToGPU(rewriter, forall, options)))
        return signalPassFailure();
    // A combine no split tile led to.
    WalkResult strayCombine = module.walk([&](scf::ForallOp forall) {
      if (!forall->hasAttr(SplitCombineAttr::attrName))
        return WalkResult::advance();
      emitError(forall.getLoc(),
                "a fa.split_combine that reads no split-KV tile's partial "
                "results: the two map to kernels together");
      return WalkResult::interrupt();
    });
    if (strayCombine.wasInterrupted())
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
