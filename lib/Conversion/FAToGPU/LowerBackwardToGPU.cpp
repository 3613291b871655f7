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
  if (options.strategy == GPUStrategyKind::HopperWarpSpecialized)
    return emitError(loc, "the hopper-ws strategy has no backward kernels "
                          "yet; use strategy=mma-sync or auto");

  // The stages that read delta: one key_value and one query.
  llvm::SetVector<Operation *> readers;
  for (Operation *user : deltaForall.getResult(0).getUsers()) {
    scf::ForallOp stage = getEnclosingStage(user);
    if (!stage)
      return emitError(user->getLoc(), "delta is read outside the backward "
                                       "stages; nothing else may read it");
    readers.insert(stage);
  }
  scf::ForallOp keyValueForall, queryForall;
  for (Operation *reader : readers) {
    auto forall = cast<scf::ForallOp>(reader);
    auto attr =
        forall->getAttrOfType<DictionaryAttr>(BackwardTileAttr::attrName);
    auto stage = attr ? attr.getAs<StringAttr>("stage") : StringAttr();
    if (stage && stage.getValue() == BackwardTileAttr::keyValue &&
        !keyValueForall)
      keyValueForall = forall;
    else if (stage && stage.getValue() == BackwardTileAttr::query &&
             !queryForall)
      queryForall = forall;
    else
      return emitError(forall.getLoc(),
                       "the mma-sync backward implements dq=stage: delta "
                       "must be read by one key_value and one query stage, "
                       "not by '")
             << (stage ? stage.getValue() : StringRef("?")) << "'";
  }
  if (!keyValueForall || !queryForall)
    return emitError(loc, "the mma-sync backward implements dq=stage: delta "
                          "must be read by one key_value and one query stage");
  FailureOr<BackwardStageTile> keyValue =
      matchBackwardStageTile(keyValueForall);
  if (failed(keyValue))
    return failure();
  FailureOr<BackwardStageTile> query = matchBackwardStageTile(queryForall);
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
    return emitError(queryForall.getLoc(),
                     "the key_value and query stages must read the same Q, "
                     "K, V, dO and LSE, and the delta and dO of the delta "
                     "stage (which tiles the rows of Q)");

  // The launches go where the last stage is: everything they read is
  // defined before it, and what the earlier stages' results feed must come
  // after it.
  Block *block = deltaForall->getBlock();
  if (keyValueForall->getBlock() != block || queryForall->getBlock() != block)
    return emitError(loc, "the stages of a backward must be in one block");
  scf::ForallOp last = keyValueForall->isBeforeInBlock(queryForall)
                           ? queryForall
                           : keyValueForall;
  scf::ForallOp earlier = last == queryForall ? keyValueForall : queryForall;
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
  spec.gradQuery = type(query->results[0]);
  spec.gradKey = type(keyValue->results[0]);
  spec.gradValue = type(keyValue->results[1]);
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
      return emitError(queryForall.getLoc(),
                       "the scores body reads a tensor a backward stage "
                       "writes (delta or a gradient); it may read only "
                       "tensors defined before the backward");
  }
  for (Value capture : captures)
    spec.captures.push_back(type(capture));

  auto module = deltaForall->getParentOfType<ModuleOp>();
  if (!module)
    return emitError(loc, "fa-lower-to-gpu needs an enclosing module");
  MmaSyncBackwardConfig config;
  config.stages = options.stages;
  struct Kernel {
    const BackwardStageTile *stage;
    gpu::GPUFuncOp func;
  };
  SmallVector<Kernel> kernels;
  for (const BackwardStageTile *stage : {&*delta, &*keyValue, &*query}) {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToEnd(module.getBody());
    Location stageLoc = scf::ForallOp(stage->forall).getLoc();
    auto gpuModule =
        gpu::GPUModuleOp::create(rewriter, stageLoc, "fa_attention_backward");
    FailureOr<gpu::GPUFuncOp> kernel =
        buildMmaSyncBackwardKernel(rewriter, gpuModule, *stage, spec, captures,
                                   config, options.target, stageLoc);
    if (failed(kernel)) {
      rewriter.eraseOp(gpuModule);
      for (Kernel &built : kernels)
        rewriter.eraseOp(built.func->getParentOp());
      return failure();
    }
    // The module takes the kernel's name (uniqued, as the forward's).
    gpuModule.setName(kernel->getName());
    SymbolTable(module).insert(gpuModule);
    kernels.push_back({stage, *kernel});
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
  for (Value tensor :
       {query->query, query->key, query->value, delta->output,
        query->gradOutput, query->lse, delta->results[0], query->results[0],
        keyValue->results[0], keyValue->results[1]})
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
    // (tiles, heads, batch) as (x, y, z).
    gpu::KernelDim3 grid{bound(2), bound(1), bound(0)};
    gpu::KernelDim3 blockSize{index(getMmaSyncBackwardThreads(*kernel.stage)),
                              index(1), index(1)};
    Value smem = arith::ConstantOp::create(
        rewriter, loc,
        rewriter.getI32IntegerAttr(
            getMmaSyncBackwardSharedMemoryBytes(*kernel.stage, spec, config)));
    gpu::LaunchFuncOp::create(rewriter, loc, kernel.func, grid, blockSize, smem,
                              operands);
  }
  auto toTensor = [&](Value tensor, Value buffer) -> Value {
    return bufferization::ToTensorOp::create(rewriter, loc, tensor.getType(),
                                             buffer, /*restrict=*/true,
                                             /*writable=*/true);
  };
  rewriter.replaceOp(queryForall,
                     toTensor(queryForall.getResult(0), operands[7]));
  rewriter.replaceOp(
      keyValueForall,
      ValueRange{toTensor(keyValueForall.getResult(0), operands[8]),
                 toTensor(keyValueForall.getResult(1), operands[9])});
  rewriter.replaceOp(deltaForall,
                     toTensor(deltaForall.getResult(0), operands[6]));
  return success();
}
