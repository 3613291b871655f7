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

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
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
  return std::nullopt;
}

FailureOr<GPUTarget>
mlir::fa::parseGPUTarget(StringRef chip,
                         function_ref<InFlightDiagnostic()> emitError) {
  // Opt-in dynamic shared memory per block (CUDA programming guide, table
  // of compute capabilities).
  struct Known {
    StringLiteral chip;
    int64_t version, smem;
  };
  static const Known known[] = {{"sm_80", 80, 166912},
                                {"sm_86", 86, 101376},
                                {"sm_87", 87, 166912},
                                {"sm_89", 89, 101376},
                                {"sm_90", 90, 232448},
                                {"sm_90a", 90, 232448}};
  for (const Known &k : known) {
    if (k.chip == chip) {
      GPUTarget target;
      target.chip = chip.str();
      target.smVersion = k.version;
      target.maxSharedMemoryPerBlock = k.smem;
      return target;
    }
  }
  emitError() << "unsupported chip '" << chip
              << "': the mma-sync strategy needs one of sm_80, sm_86, sm_87, "
                 "sm_89, sm_90, sm_90a";
  return failure();
}

DictionaryAttr KernelLaunchInfo::toAttr(MLIRContext *ctx) const {
  Builder b(ctx);
  return b.getDictionaryAttr({
      b.getNamedAttr("strategy", b.getStringAttr(strategy)),
      b.getNamedAttr("chip", b.getStringAttr(chip)),
      b.getNamedAttr("block_m", b.getI64IntegerAttr(blockM)),
      b.getNamedAttr("block_n", b.getI64IntegerAttr(blockN)),
      b.getNamedAttr("warps", b.getI64IntegerAttr(warps)),
      b.getNamedAttr("stages", b.getI64IntegerAttr(stages)),
      b.getNamedAttr("threads", b.getI64IntegerAttr(threads)),
      b.getNamedAttr("dynamic_shared_memory",
                     b.getI64IntegerAttr(dynamicSharedMemory)),
      b.getNamedAttr("scale", b.getF64FloatAttr(scale)),
      b.getNamedAttr("causal", b.getStringAttr(causal)),
  });
}

FailureOr<KernelLaunchInfo> KernelLaunchInfo::fromAttr(DictionaryAttr attr) {
  if (!attr)
    return failure();
  KernelLaunchInfo info;
  auto str = [&](StringRef name, std::string &out) {
    auto a = attr.getAs<StringAttr>(name);
    if (a)
      out = a.str();
    return static_cast<bool>(a);
  };
  auto num = [&](StringRef name, int64_t &out) {
    auto a = attr.getAs<IntegerAttr>(name);
    if (a)
      out = a.getInt();
    return static_cast<bool>(a);
  };
  if (!str("strategy", info.strategy) || !str("chip", info.chip) ||
      !num("block_m", info.blockM) || !num("block_n", info.blockN) ||
      !num("warps", info.warps) || !num("stages", info.stages) ||
      !num("threads", info.threads) ||
      !num("dynamic_shared_memory", info.dynamicSharedMemory) ||
      !str("causal", info.causal))
    return failure();
  auto scale = attr.getAs<FloatAttr>("scale");
  if (!scale)
    return failure();
  info.scale = scale.getValueAsDouble();
  return info;
}

FailureOr<gpu::LaunchFuncOp>
mlir::fa::lowerAttentionTileToGPU(RewriterBase &rewriter, scf::ForallOp forall,
                                  const FAToGPUOptions &options) {
  FailureOr<AttentionTileInfo> tile = matchAttentionTile(forall);
  if (failed(tile))
    return failure();
  if (!tile->isFused())
    return forall.emitError("fa-lower-to-gpu expects the online-softmax form "
                            "of the tile; run fa-fuse-online-softmax first");
  if (options.strategy == GPUStrategyKind::HopperWarpSpecialized)
    return forall.emitError("the hopper-ws strategy (TMA, wgmma, warp "
                            "specialization) is not implemented yet; use "
                            "strategy=mma-sync");

  AttentionKernelSpec spec;
  spec.queryType = cast<RankedTensorType>(tile->query.getType());
  spec.keyType = cast<RankedTensorType>(tile->key.getType());
  spec.valueType = cast<RankedTensorType>(tile->value.getType());
  spec.outputType = cast<RankedTensorType>(tile->output.getType());
  if (tile->lseOutput)
    spec.lseType = cast<RankedTensorType>(tile->lseOutput.getType());
  spec.scale = tile->scale;
  spec.causal = tile->causal;

  MmaSyncConfig config;
  config.blockM = tile->blockM;
  config.blockN = tile->blockN;
  config.stages = options.stages;
  config.warps = options.warps;
  if (config.blockM % 16 != 0)
    return forall.emitError("block-m must be a multiple of 16 for the "
                            "mma-sync strategy, got ")
           << config.blockM;
  chooseMmaSyncSchedule(spec, config);
  if (failed(verifyMmaSyncConfig(spec, config, options.target,
                                 [&]() { return forall.emitError(); })))
    return failure();

  auto module = forall->getParentOfType<ModuleOp>();
  if (!module)
    return forall.emitError("fa-lower-to-gpu needs an enclosing module");
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  rewriter.getUnitAttr());

  Location loc = forall.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToEnd(module.getBody());
  std::string name = getAttentionKernelName(spec, config);
  auto gpuModule = gpu::GPUModuleOp::create(rewriter, loc, name);
  // Two identical attentions get two modules: name_0, name_1, ...
  SymbolTable(module).insert(gpuModule);
  FailureOr<gpu::GPUFuncOp> kernel =
      buildMmaSyncAttentionKernel(rewriter, gpuModule, name, spec, config,
                                  options.target, loc);
  if (failed(kernel)) {
    rewriter.eraseOp(gpuModule);
    return failure();
  }

  rewriter.setInsertionPoint(forall);
  auto toBuffer = [&](Value tensor) -> Value {
    auto type = getKernelArgumentType(cast<RankedTensorType>(tensor.getType()));
    return bufferization::ToBufferOp::create(rewriter, loc, type, tensor);
  };
  SmallVector<Value> operands{toBuffer(tile->query), toBuffer(tile->key),
                              toBuffer(tile->value), toBuffer(tile->output)};
  if (tile->lseOutput)
    operands.push_back(toBuffer(tile->lseOutput));

  auto dim = [&](int64_t i) -> Value {
    return rewriter.createOrFold<tensor::DimOp>(loc, tile->query, i);
  };
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  gpu::KernelDim3 grid{
      rewriter.createOrFold<arith::CeilDivUIOp>(loc, dim(2),
                                                index(config.blockM)),
      dim(1), dim(0)};
  gpu::KernelDim3 block{index(config.threads()), index(1), index(1)};
  Value smem = arith::ConstantOp::create(
      rewriter, loc,
      rewriter.getI32IntegerAttr(getMmaSyncSharedMemoryBytes(spec, config)));
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
    FAToGPUOptions options;
    FailureOr<GPUTarget> target =
        parseGPUTarget(chip, [&]() { return module.emitError(); });
    if (failed(target))
      return signalPassFailure();
    options.target = *target;
    std::optional<GPUStrategyKind> kind = parseGPUStrategy(strategy);
    if (!kind) {
      module.emitError("unknown strategy '")
          << strategy << "': expected mma-sync or hopper-ws";
      return signalPassFailure();
    }
    options.strategy = *kind;
    options.warps = warps;
    options.stages = stages;
    if (warps < 0 || stages < 1) {
      module.emitError("warps must be >= 0 and stages >= 1, got warps=")
          << warps << " stages=" << stages;
      return signalPassFailure();
    }

    SmallVector<scf::ForallOp> tiles;
    module.walk([&](scf::ForallOp forall) {
      if (forall->hasAttr(AttentionTileInfo::attrName))
        tiles.push_back(forall);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ForallOp forall : tiles)
      if (failed(lowerAttentionTileToGPU(rewriter, forall, options)))
        return signalPassFailure();
  }
};

} // namespace
