//===- KernelArtifacts.cpp - PTX, cubin and launch metadata ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Pipelines/KernelArtifacts.h"
#include "Assembler.h"
#include "KernelMetadata.h"
#include "LaunchChecks.h"
#include "NVPTXBackend.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"
#include "fa/Pipelines/AttentionMetadata.h"

#include "fa/Dialect/FA/IR/FAOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Threading.h"

#include <chrono>
#include <deque>
#include <map>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

// FA_VERSION_STRING: the project version and the git revision built
// (cmake/FAVersion.cmake).
#include "fa/FAVersion.inc"

std::string mlir::fa::getFACompilerVersion() {
  return "fa-mlir " FA_VERSION_STRING " (MLIR " LLVM_VERSION_STRING ")";
}

FailureOr<std::vector<KernelArtifacts>>
mlir::fa::compileAttentionKernels(ModuleOp module,
                                  const FACompileOptions &options,
                                  CompilePhaseTimes *times) {
  // (A toolkit path that was asked for must exist, whatever is written.)
  if (std::string error = checkCompileOptions(options, /*serializes=*/true);
      !error.empty())
    return emitError(module.getLoc(), error);
  using Clock = std::chrono::steady_clock;
  Clock::time_point phaseStart = Clock::now();
  // Adds the time since the last call to `phase`.
  auto lap = [&](double CompilePhaseTimes::*phase) {
    Clock::time_point now = Clock::now();
    if (times)
      times->*phase += std::chrono::duration<double>(now - phaseStart).count();
    phaseStart = now;
  };
  // What each kernel computes, described from the op it comes from: one
  // kernel per fa.attention, in order, unless the input also holds tiles
  // that no op describes.
  SmallVector<AttentionOp> ops;
  module.walk([&](AttentionOp op) { ops.push_back(op); });
  // Tile sizes for ops the module does not hold would be ignored.
  bool hasBackward = false;
  module.walk([&](AttentionBackwardOp) { hasBackward = true; });
  if ((options.blockM || options.blockN) && ops.empty() && hasBackward)
    return emitError(module.getLoc(),
                     "block-m and block-n tile fa.attention, and the module "
                     "holds only fa.attention_backward; its tiles are "
                     "backward-block-m and backward-block-n");
  if ((options.backwardBlockM || options.backwardBlockN) && !hasBackward)
    return emitError(module.getLoc(),
                     "backward-block-m and backward-block-n tile "
                     "fa.attention_backward, which the module does not "
                     "hold");
  // So would the forward's schedule options for a backward, and the
  // other way round.
  if (ops.empty() && hasBackward &&
      (options.splitKV != "none" || options.packGQA || options.keyWarps ||
       options.warps || options.persistent != "auto" ||
       options.epilogue != "auto" || options.pagedLoads != "auto" ||
       options.exp2Emulation || options.columnIntervals))
    return emitError(module.getLoc(),
                     "split-kv, pack-gqa, warps, key-warps, persistent, "
                     "epilogue, paged-loads, exp2-emulation and "
                     "column-intervals shape forward kernels, and "
                     "the module holds only fa.attention_backward (whose "
                     "kernels take their warps from their tiles)");
  // Input lowered to the GPU already (no fa op, no tile): its kernels are
  // built, and the tile and schedule options would change nothing.
  bool tiles = false;
  module.walk([&](Operation *op) {
    tiles |= op->hasAttr(AttentionTileAttr::attrName) ||
             op->hasAttr(BackwardTileAttr::attrName);
  });
  bool lowered = ops.empty() && !hasBackward && !tiles;
  if (lowered &&
      (options.blockM || options.blockN || options.warps || options.stages ||
       options.keyWarps || options.splitKV != "none" || options.packGQA ||
       options.backwardBlockM || options.backwardBlockN ||
       options.backwardDq != "auto" || options.persistent != "auto" ||
       options.epilogue != "auto" || options.pagedLoads != "auto" ||
       options.strategy != "auto" || options.exp2Emulation ||
       options.columnIntervals))
    return emitError(module.getLoc(),
                     "the input is lowered to the GPU already (its kernels "
                     "carry fa.launch): the strategy, tile and schedule "
                     "options (strategy, block-m/n, warps, stages, "
                     "key-warps, split-kv, pack-gqa, persistent, epilogue, "
                     "paged-loads, exp2-emulation, column-intervals, "
                     "backward-*) would "
                     "change nothing");
  if (!ops.empty() && !hasBackward && options.backwardDq != "auto")
    return emitError(module.getLoc(),
                     "backward-dq chooses how a backward computes dQ, and the "
                     "module holds no fa.attention_backward");
  bool pretiled = false;
  module.walk([&](Operation *op) {
    pretiled |= op->hasAttr(AttentionTileAttr::attrName);
  });
  if (pretiled && ops.empty() &&
      (options.blockM || options.blockN || options.splitKV != "none" ||
       options.packGQA))
    return emitError(module.getLoc(),
                     "the input's attention is tiled already (its tiles are "
                     "in fa.attention_tile); block-m, block-n, split-kv and "
                     "pack-gqa tile fa.attention");
  SmallVector<llvm::json::Object> descriptions;
  // A split-KV attention has two kernels: partial (whose captures follow
  // the two partial tensors) and combine.
  bool split = options.splitKV != "none";
  for (AttentionOp op : ops) {
    // (A variable-length kernel takes its offsets before them, a paged one
    // the block table and the key counts.)
    descriptions.push_back(describeAttention(
        op, /*firstCaptureArgument=*/(op.hasLse() || split ? 5 : 4) +
                (op.isVarlen() ? 1 : 0) + (op.getCuSeqlensK() ? 1 : 0) +
                (op.isPaged() ? 2 : 0)));
    if (split)
      descriptions.push_back(describeAttention(op, 4));
  }
  // The backward ops' kernels follow the forward ones (fa-lower-to-gpu maps
  // the forward tiles first), three per op: delta, key_value, query; or
  // delta, fused, dq_convert, whose arguments hold the dQ accumulator too.
  std::string strategy = getPipelineStrategy(options);
  std::string defaultsFor = strategy == "hopper-ws" || strategy == "auto"
                                ? strategy
                                : std::string("mma-sync");
  // (checkCompileOptions refused the values parseBackwardDq does not take.)
  BackwardDqChoice dq =
      parseBackwardDq(options.backwardDq).value_or(BackwardDqChoice::Auto);
  module.walk([&](AttentionBackwardOp op) {
    bool accumulates = tilesFusedBackward(op, dq, defaultsFor);
    for (int stage = 0; stage < 3; ++stage)
      descriptions.push_back(
          describeAttentionBackward(op, accumulates ? 11 : 10));
  });
  module.walk([&](Operation *op) {
    pretiled |= op->hasAttr(BackwardTileAttr::attrName);
  });

  // The IR is verified once, after the last pass, not after each pass:
  // verifying the kernel-sized IR after every pass cost 55 ms of
  // mma-sync's 165 ms of passes (18 of 72 for hopper-ws). fa-opt, and so
  // every lit test, still verifies after each pass.
  PassManager lower(module.getContext());
  lower.enableVerifier(false);
  buildFALowerToGPUPipeline(lower, options);
  if (failed(lower.run(module)))
    return failure();
  // GPU-level input may have been edited after fa-lower-to-gpu named its
  // kernels: one whose IR is not the one the hash in its name says takes
  // the name of its IR, so that runtimes caching kernels by name keep the
  // two apart.
  if (lowered) {
    SmallVector<gpu::GPUFuncOp> given;
    module.walk([&](gpu::GPUFuncOp func) {
      if (func->hasAttr(KernelLaunchInfo::attrName))
        given.push_back(func);
    });
    for (gpu::GPUFuncOp func : given)
      renameEditedKernel(func, module);
  }
  lap(&CompilePhaseTimes::lowerToGPU);

  std::vector<KernelRecord> records;
  WalkResult walk = module.walk([&](gpu::GPUFuncOp func) {
    FailureOr<KernelLaunchInfo> launch = KernelLaunchInfo::fromAttr(
        func->getAttrOfType<DictionaryAttr>(KernelLaunchInfo::attrName));
    if (failed(launch))
      return WalkResult::advance();
    KernelRecord record;
    record.module =
        func->getParentOfType<gpu::GPUModuleOp>().getSymName().str();
    record.kernel = func.getName().str();
    record.launch = *launch;
    // What the launch JSON says about the launch must be what the kernel
    // is: a runtime trusts it (hand-edited GPU-level input may disagree).
    if (failed(checkLaunchAgainstKernel(func, record.launch, options)))
      return WalkResult::interrupt();
    if (failed(collectKernelArguments(func, record)))
      return WalkResult::interrupt();
    records.push_back(std::move(record));
    return WalkResult::advance();
  });
  if (walk.wasInterrupted() || failed(checkHostLaunches(module)))
    return failure();
  if (records.empty())
    return emitError(module.getLoc(), "no fa.attention to compile");
  bool described = !pretiled && descriptions.size() == records.size();
  if (described)
    for (auto [record, description] : llvm::zip(records, descriptions))
      record.attention = std::move(description);

  PassManager nvvm(module.getContext());
  nvvm.enableVerifier(false);
  buildFAGPUToNVVMPipeline(nvvm, options, kernelLoweringNeeds(module));
  if (failed(nvvm.run(module)))
    return failure();
  // The op's own error says what is wrong; this one says where it was found.
  if (failed(verify(module)))
    return emitError(module.getLoc(),
                     "the kernels lowered to NVVM do not verify; no PTX "
                     "was generated");
  lap(&CompilePhaseTimes::gpuToNVVM);
  // Each kernel module through the LLVM backend in turn; its ptxas (for a
  // cubin or fatbin: format=ptx needs none, the driver JIT-compiles the
  // PTX at load time) starts as soon as its PTX exists, so that it runs
  // while the backend works on the next module, at most as many at once as
  // the machine has hardware threads.
  std::map<std::string, std::string> ptx, binaries;
  SymbolTable symbols(module);
  std::deque<std::pair<std::string, std::unique_ptr<PendingAssembly>>> pending;
  size_t maxRunning =
      std::max(1u, llvm::hardware_concurrency().compute_thread_count());
  std::optional<Clock::time_point> firstStart;
  // Waits for the oldest ptxas: the time spent blocked counts as assembly.
  auto finishOldest = [&]() -> LogicalResult {
    Clock::time_point start = Clock::now();
    auto [name, assembly] = std::move(pending.front());
    pending.pop_front();
    FailureOr<std::string> binary = assembly->finish();
    Clock::time_point end = Clock::now();
    if (times)
      times->assemble += std::chrono::duration<double>(end - start).count();
    if (failed(binary))
      return failure();
    binaries[name] = std::move(*binary);
    return success();
  };
  for (auto gpuModule : module.getOps<gpu::GPUModuleOp>()) {
    Clock::time_point start = Clock::now();
    FailureOr<std::string> text = serializeToPTX(gpuModule, symbols, options);
    if (times)
      times->llvmBackend +=
          std::chrono::duration<double>(Clock::now() - start).count();
    if (failed(text))
      return failure();
    std::string name = gpuModule.getSymName().str();
    if (options.format != BinaryFormat::Ptx) {
      if (pending.size() >= maxRunning && failed(finishOldest()))
        return failure();
      if (!firstStart)
        firstStart = Clock::now();
      FailureOr<std::unique_ptr<PendingAssembly>> assembly =
          PendingAssembly::start(gpuModule.getLoc(), *text, options);
      if (failed(assembly))
        return failure();
      pending.emplace_back(name, std::move(*assembly));
    }
    ptx[name] = std::move(*text);
  }
  while (!pending.empty())
    if (failed(finishOldest()))
      return failure();
  if (times && firstStart)
    times->assemblerSpan =
        std::chrono::duration<double>(Clock::now() - *firstStart).count();

  std::vector<KernelArtifacts> result;
  for (const KernelRecord &record : records) {
    KernelArtifacts artifacts;
    artifacts.kernelName = record.kernel;
    artifacts.ptx = ptx[record.module];
    artifacts.cubin = binaries[record.module];
    artifacts.metadataJson = buildKernelMetadata(record);
    result.push_back(std::move(artifacts));
  }
  return result;
}
