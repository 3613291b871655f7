//===- LowerBackwardToGPU.cpp - Backward stages to kernels and launches ---===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The host side of the backward pass: the three stages of one tiled
// fa.attention_backward (delta, key_value, query) become three kernels that
// take the same arguments (BackwardKernelSpec) and three gpu.launch_func
// ops, in that order, where the last stage was.
//
//===----------------------------------------------------------------------===//

#include "KernelGrid.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::fa;

/// The scf.forall marked as a backward stage that holds `op`, if any.
static scf::ForallOp getEnclosingStage(Operation *op) {
  for (auto forall = op->getParentOfType<scf::ForallOp>(); forall;
       forall = forall->getParentOfType<scf::ForallOp>())
    if (forall->hasAttr(BackwardTileAttr::attrName))
      return forall;
  return {};
}

LogicalResult
mlir::fa::lowerAttentionBackwardToGPU(RewriterBase &rewriter,
                                      scf::ForallOp deltaForall,
                                      const FAToGPUOptions &options) {
  Location loc = deltaForall.getLoc();
  FailureOr<BackwardStageTile> delta = matchBackwardStageTile(deltaForall);
  if (failed(delta))
    return failure();
  if (delta->stage != BackwardTileAttr::delta)
    return emitError(loc, "expected the delta stage of a tiled backward");

  // The stages that read delta: one key_value and one query (dq=stage), or
  // one fused (dq=accumulate).
  llvm::SetVector<Operation *> readers;
  for (Operation *user : deltaForall.getResult(0).getUsers()) {
    scf::ForallOp stage = getEnclosingStage(user);
    if (!stage)
      return emitError(user->getLoc(), "delta is read outside the backward "
                                       "stages; nothing else may read it");
    readers.insert(stage);
  }
  scf::ForallOp keyValueForall, queryForall, fusedForall;
  for (Operation *reader : readers) {
    auto forall = cast<scf::ForallOp>(reader);
    auto attr =
        forall->getAttrOfType<DictionaryAttr>(BackwardTileAttr::attrName);
    auto stage = attr ? attr.getAs<StringAttr>("stage") : StringAttr();
    StringRef name = stage ? stage.getValue() : StringRef("?");
    if (name == BackwardTileAttr::keyValue && !keyValueForall)
      keyValueForall = forall;
    else if (name == BackwardTileAttr::query && !queryForall)
      queryForall = forall;
    else if (name == BackwardTileAttr::fused && !fusedForall)
      fusedForall = forall;
    else
      return emitError(forall.getLoc(),
                       "delta must be read by one key_value and one query "
                       "stage (dq=stage) or one fused stage (dq=accumulate), "
                       "not by '")
             << name << "'";
  }
  bool accumulate = static_cast<bool>(fusedForall);
  if (accumulate ? (keyValueForall || queryForall)
                 : (!keyValueForall || !queryForall))
    return emitError(loc, "delta must be read by one key_value and one query "
                          "stage (dq=stage) or one fused stage "
                          "(dq=accumulate)");
  // The stage that computes dK and dV, and the one that writes dQ.
  scf::ForallOp keysForall = accumulate ? fusedForall : keyValueForall;
  scf::ForallOp gradQueryForall = accumulate ? fusedForall : queryForall;
  FailureOr<BackwardStageTile> keyValue = matchBackwardStageTile(keysForall);
  if (failed(keyValue))
    return failure();
  FailureOr<BackwardStageTile> query =
      accumulate ? keyValue : matchBackwardStageTile(queryForall);
  if (failed(query))
    return failure();
  Value deltaResult = deltaForall.getResult(0);
  if (keyValue->delta != deltaResult || query->delta != deltaResult ||
      keyValue->query != query->query || keyValue->key != query->key ||
      keyValue->value != query->value ||
      keyValue->gradOutput != query->gradOutput ||
      keyValue->gradOutput != delta->gradOutput ||
      keyValue->lse != query->lse ||
      (delta->query != query->query && delta->query != query->gradOutput))
    return emitError(gradQueryForall.getLoc(),
                     "the stages must read the same Q, K, V, dO and LSE, and "
                     "the delta and dO of the delta stage (which tiles the "
                     "rows of Q)");

  // The launches go where the last stage is: everything they read is
  // defined before it, and what the earlier stages' results feed must come
  // after it.
  Block *block = deltaForall->getBlock();
  if (keysForall->getBlock() != block || gradQueryForall->getBlock() != block)
    return emitError(loc, "the stages of a backward must be in one block");
  scf::ForallOp last = keysForall->isBeforeInBlock(gradQueryForall)
                           ? gradQueryForall
                           : keysForall;
  scf::ForallOp earlier =
      last == gradQueryForall ? keysForall : gradQueryForall;
  for (Operation *user : earlier->getUsers()) {
    Operation *ancestor = block->findAncestorOpInBlock(*user);
    if (ancestor && ancestor != last && ancestor->isBeforeInBlock(last))
      return emitError(user->getLoc(),
                       "this op reads a gradient before the backward's last "
                       "stage; move it after the stages");
  }

  BackwardKernelSpec spec;
  auto type = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  spec.query = type(query->query);
  spec.key = type(query->key);
  spec.value = type(query->value);
  spec.output = type(delta->output);
  spec.gradOutput = type(query->gradOutput);
  spec.lse = type(query->lse);
  spec.delta = type(delta->results[0]);
  Value gradQuery = query->results[accumulate ? 2 : 0];
  spec.gradQuery = type(gradQuery);
  spec.gradKey = type(keyValue->results[0]);
  spec.gradValue = type(keyValue->results[1]);
  if (accumulate)
    spec.gradQueryAccumulator =
        RankedTensorType::get(spec.query.getShape(), rewriter.getF32Type());
  llvm::SetVector<Value> captureSet;
  captureSet.insert(keyValue->scores.captures.begin(),
                    keyValue->scores.captures.end());
  captureSet.insert(query->scores.captures.begin(),
                    query->scores.captures.end());
  SmallVector<Value> captures(captureSet.begin(), captureSet.end());
  // What the stages write is no capture: a kernel would read it while
  // another writes it.
  for (Value capture : captures) {
    Operation *def = capture.getDefiningOp();
    bool written =
        (def && def->hasAttr(BackwardTileAttr::attrName)) ||
        llvm::is_contained(delta->results, capture) ||
        llvm::is_contained(keyValue->results, capture) ||
        llvm::is_contained(query->results, capture);
    if (written)
      return emitError(gradQueryForall.getLoc(),
                       "the scores body reads a tensor a backward stage "
                       "writes (delta or a gradient); it may read only "
                       "tensors defined before the backward");
  }
  for (Value capture : captures)
    spec.captures.push_back(type(capture));

  auto module = deltaForall->getParentOfType<ModuleOp>();
  if (!module)
    return emitError(loc, "fa-lower-to-gpu needs an enclosing module");
  BackwardConfig config;
  config.stages = options.stages ? options.stages : kDefaultStages;
  // The key-tiled stage's tensor cores: hopper-ws builds the fused stage
  // with wgmma (and refuses what it cannot build); auto does so on sm_90a
  // where that kernel can be built, else mma.sync. The row-wise kernels
  // (delta, dq_convert) are the same for every strategy.
  BackwardConfig keysConfig = config;
  if (options.strategy == GPUStrategyKind::HopperWarpSpecialized) {
    keysConfig.wgmma = true;
  } else if (options.strategy == GPUStrategyKind::Auto &&
             hasWgmma(options.target.chip)) {
    keysConfig.wgmma = true;
    ScopedDiagnosticHandler silence(rewriter.getContext(),
                                    [](Diagnostic &) { return success(); });
    keysConfig.wgmma = succeeded(
        verifyBackwardConfig(*keyValue, spec, keysConfig, options.target,
                             [&]() { return emitError(loc); }));
  }
  selectWgmmaBackwardBarriers(*keyValue, spec, keysConfig, options.target);
  struct Kernel {
    const BackwardStageTile *stage;
    gpu::GPUFuncOp func;
    BackwardConfig config;
  };
  SmallVector<Kernel> kernels;
  // dq=accumulate ends with dq_convert, tiled as delta.
  BackwardStageTile convert;
  convert.stage = kGradQueryConvertStage;
  convert.forall = deltaForall;
  convert.blockM = delta->blockM;
  convert.blockN = delta->blockN;
  convert.gradientScale = keyValue->queryGradientScale;
  SmallVector<const BackwardStageTile *> stages{&*delta, &*keyValue};
  stages.push_back(accumulate ? &convert : &*query);
  for (const BackwardStageTile *stage : stages) {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToEnd(module.getBody());
    Location stageLoc = scf::ForallOp(stage->forall).getLoc();
    auto gpuModule =
        gpu::GPUModuleOp::create(rewriter, stageLoc, "fa_attention_backward");
    const BackwardConfig &stageConfig =
        stage == &*keyValue ? keysConfig : config;
    FailureOr<gpu::GPUFuncOp> kernel =
        buildBackwardKernel(rewriter, gpuModule, *stage, spec, captures,
                            stageConfig, options.target, stageLoc);
    if (failed(kernel)) {
      rewriter.eraseOp(gpuModule);
      for (Kernel &built : kernels)
        rewriter.eraseOp(built.func->getParentOp());
      return failure();
    }
    // The module takes the kernel's name (uniqued, as the forward's).
    gpuModule.setName(kernel->getName());
    SymbolTable(module).insert(gpuModule);
    kernels.push_back({stage, *kernel, stageConfig});
  }
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  rewriter.getUnitAttr());

  rewriter.setInsertionPoint(last);
  auto toBuffer = [&](Value tensor, bool unitInnermostStride) -> Value {
    return bufferization::ToBufferOp::create(
        rewriter, loc, getKernelArgumentType(type(tensor), unitInnermostStride),
        tensor);
  };
  SmallVector<Value> operands;
  for (Value tensor : {query->query, query->key, query->value, delta->output,
                       query->gradOutput, query->lse, delta->results[0]})
    operands.push_back(toBuffer(tensor, true));
  if (accumulate) {
    // Scratch of the GPU schedule: the fused stage's per-(batch, kv head)
    // accumulators, one [Nq, D] per query head.
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < 3; ++d)
      if (spec.query.isDynamicDim(d))
        sizes.push_back(tensor::DimOp::create(rewriter, loc, query->query, d));
    Value scratch = tensor::EmptyOp::create(
        rewriter, loc, spec.gradQueryAccumulator.getShape(),
        rewriter.getF32Type(), sizes);
    operands.push_back(toBuffer(scratch, true));
  }
  unsigned gradients = operands.size();
  for (Value tensor : {gradQuery, keyValue->results[0], keyValue->results[1]})
    operands.push_back(toBuffer(tensor, true));
  for (Value capture : captures)
    operands.push_back(toBuffer(capture, false));
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  for (Kernel &kernel : kernels) {
    SmallVector<OpFoldResult> ubs =
        scf::ForallOp(kernel.stage->forall).getMixedUpperBound();
    auto bound = [&](unsigned i) {
      return getValueOrCreateConstantIndexOp(rewriter, loc, ubs[i]);
    };
    // (tiles, heads, batch) as (x, y, z); the fused stage's tiles are the
    // iterations of its key tiles loop.
    // The loop's bound is Nk (matched), counted here from K, which is
    // defined before the stages; the bound itself may be computed inside.
    Value tiles;
    if (kernel.stage->keyTiles)
      tiles = arith::CeilDivUIOp::create(
          rewriter, loc,
          rewriter.createOrFold<tensor::DimOp>(loc, kernel.stage->key, 2),
          index(kernel.stage->blockN));
    else
      tiles = bound(2);
    gpu::KernelDim3 grid{tiles, bound(1), bound(0)};
    if (failed(detail::verifyStaticGrid(loc, grid,
                                        {"tiles", "heads", "sequences"})))
      return failure();
    gpu::KernelDim3 blockSize{index(getBackwardThreads(*kernel.stage)),
                              index(1), index(1)};
    Value smem = arith::ConstantOp::create(
        rewriter, loc,
        rewriter.getI32IntegerAttr(
            getBackwardSharedMemoryBytes(*kernel.stage, spec, kernel.config)));
    // The kernel's tensor maps (wgmma fused: of the dQ accumulator).
    SmallVector<Value> kernelOperands(operands);
    FailureOr<KernelLaunchInfo> launchInfo = KernelLaunchInfo::fromAttr(
        kernel.func->getAttrOfType<DictionaryAttr>(KernelLaunchInfo::attrName));
    if (succeeded(launchInfo))
      for (const TensorMapInfo &map : launchInfo->tensorMaps)
        kernelOperands.push_back(TensorMapOp::create(
            rewriter, loc, LLVM::LLVMPointerType::get(rewriter.getContext()),
            operands[map.argument], map.box));
    gpu::LaunchFuncOp::create(rewriter, loc, kernel.func, grid, blockSize, smem,
                              kernelOperands);
  }
  auto toTensor = [&](Value tensor, Value buffer) -> Value {
    return bufferization::ToTensorOp::create(rewriter, loc, tensor.getType(),
                                             buffer, /*restrict=*/true,
                                             /*writable=*/true);
  };
  Value dq = toTensor(gradQueryForall.getResult(accumulate ? 2 : 0),
                      operands[gradients]);
  Value dk = toTensor(keysForall.getResult(0), operands[gradients + 1]);
  Value dv = toTensor(keysForall.getResult(1), operands[gradients + 2]);
  if (accumulate) {
    rewriter.replaceOp(fusedForall, ValueRange{dk, dv, dq});
  } else {
    rewriter.replaceOp(queryForall, dq);
    rewriter.replaceOp(keyValueForall, ValueRange{dk, dv});
  }
  rewriter.replaceOp(deltaForall,
                     toTensor(deltaForall.getResult(0), operands[6]));
  return success();
}
