//===- KernelArtifacts.cpp - PTX, cubin and launch metadata ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Pipelines/KernelArtifacts.h"
#include "Assembler.h"
#include "KernelMetadata.h"
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

/// Refuses host launches the launch JSON cannot describe.
///
/// One tensor passed as two kernel arguments (a tile that reads V from K,
/// or an op given K as V): the metadata names each argument by its role,
/// and a runtime binds its own tensor to each, so it cannot run what the
/// IR says. fa-opt's host code can (it passes the buffer twice).
///
/// A kernel whose fa.launch disagrees with the host code that launches it
/// (hand-edited GPU-level input): the JSON is written from fa.launch, the
/// host code from the IR, and they must launch alike. Checked where the
/// host code states it: the dynamic shared memory and threads of the
/// launch, the tensor maps it builds (their buffer and box), and a tile
/// grid of ceildiv(rows, c) (c must be block_m / the packed heads).
static LogicalResult checkHostLaunches(ModuleOp module) {
  WalkResult walk = module.walk([&](gpu::LaunchFuncOp launch) {
    SmallVector<std::pair<unsigned, Value>> seen;
    for (auto [i, operand] : llvm::enumerate(launch.getKernelOperands())) {
      if (!isa<MemRefType>(operand.getType()))
        continue;
      Value tensor = operand;
      if (auto toBuffer = operand.getDefiningOp<bufferization::ToBufferOp>())
        tensor = toBuffer.getTensor();
      for (auto [j, other] : seen)
        if (other == tensor) {
          launch.emitError("the kernel takes one tensor as its arguments ")
              << j << " and " << i
              << " (in an attention kernel Q, K, V and O are 0-3): its "
                 "launch metadata binds each argument by its role and cannot "
                 "say that two are one tensor; give each its own tensor (a "
                 "runtime may pass the same buffer to both)";
          return WalkResult::interrupt();
        }
      seen.push_back({static_cast<unsigned>(i), tensor});
    }
    auto func = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
        launch, launch.getKernel());
    if (!func)
      return WalkResult::advance();
    FailureOr<KernelLaunchInfo> info = KernelLaunchInfo::fromAttr(
        func->getAttrOfType<DictionaryAttr>(KernelLaunchInfo::attrName));
    if (failed(info))
      return WalkResult::advance();
    auto fail = [&]() {
      return launch.emitError("the fa.launch of ") << func.getName() << " ";
    };
    Value smem = launch.getDynamicSharedMemorySize();
    std::optional<int64_t> bytes =
        smem ? getConstantIntValue(smem) : std::optional<int64_t>(0);
    if (bytes && *bytes != info->dynamicSharedMemory) {
      fail() << "asks for " << info->dynamicSharedMemory
             << " bytes of dynamic shared memory, and its launch for "
             << *bytes;
      return WalkResult::interrupt();
    }
    std::optional<int64_t> threads =
        getConstantIntValue(launch.getBlockSizeX());
    if (threads && *threads != info->threads) {
      fail() << "has " << info->threads << " threads, and its launch "
             << *threads;
      return WalkResult::interrupt();
    }
    OperandRange operands = launch.getKernelOperands();
    size_t maps = info->tensorMaps.size();
    if (maps <= operands.size()) {
      size_t first = operands.size() - maps;
      for (auto [i, map] : llvm::enumerate(info->tensorMaps)) {
        auto built = operands[first + i].getDefiningOp<TensorMapOp>();
        if (!built)
          continue;
        if (map.argument < 0 || map.argument >= static_cast<int64_t>(first) ||
            built.getSource() != operands[map.argument] ||
            built.getBox() != ArrayRef<int64_t>(map.box)) {
          auto text = [](ArrayRef<int64_t> box) {
            std::string s;
            llvm::raw_string_ostream os(s);
            llvm::interleaveComma(box, os);
            return s;
          };
          fail() << "describes tensor map " << i << " as argument "
                 << map.argument << " with box [" << text(map.box)
                 << "], and its launch builds it from another buffer or "
                    "with box ["
                 << text(built.getBox()) << "]";
          return WalkResult::interrupt();
        }
      }
    }
    // The query tiles of a forward kernel that tiles rows (not a combine,
    // a backward or a persistent one, whose grids count otherwise).
    bool tilesRows = info->backwardStage.empty() && !info->persistent &&
                     info->splitStage != kSplitCombineStage;
    auto tiles = launch.getGridSizeX().getDefiningOp<arith::CeilDivUIOp>();
    std::optional<int64_t> rows =
        tiles ? getConstantIntValue(tiles.getRhs()) : std::nullopt;
    int64_t expected = info->blockM / std::max<int64_t>(info->packedHeads, 1);
    if (tilesRows && rows && *rows != expected) {
      fail() << "has block_m " << info->blockM << " and pack_gqa "
             << info->packedHeads << " (" << expected
             << " rows a tile), and its launch's grid tiles " << *rows
             << " rows a tile";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

/// The fa.launch of `func` against the kernel and the compile: a known
/// strategy, the compile's chip, a block size in [1, 1024] that is the
/// kernel's known block size, shared memory the chip has, positive tiles
/// (a packed one of at least one position).
static LogicalResult checkLaunchAgainstKernel(gpu::GPUFuncOp func,
                                              const KernelLaunchInfo &launch,
                                              const FACompileOptions &options) {
  auto fail = [&]() { return emitError(func.getLoc(), "its fa.launch "); };
  if (launch.strategy != "mma-sync" && launch.strategy != "hopper-ws")
    return fail() << "names strategy '" << launch.strategy
                  << "'; kernels are mma-sync or hopper-ws";
  if (launch.chip != options.chip.getValue())
    return fail() << "names chip '" << launch.chip
                  << "', but the compile targets '" << options.chip.getValue()
                  << "'";
  if (launch.threads < 1 || launch.threads > 1024)
    return fail() << "has " << launch.threads
                  << " threads; a block has 1 to 1024";
  if (std::optional<ArrayRef<int32_t>> known = func.getKnownBlockSize()) {
    int64_t threads = 1;
    for (int32_t size : *known)
      threads *= size;
    if (threads != launch.threads)
      return fail() << "has " << launch.threads
                    << " threads, but the kernel's known block size is "
                    << threads;
  }
  const GPUTarget *target = lookupGPUTarget(launch.chip);
  if (!target)
    return fail() << "names chip '" << launch.chip << "', which is unknown";
  if (launch.dynamicSharedMemory < 0 ||
      launch.dynamicSharedMemory > target->getMaxDynamicSharedMemory())
    return fail() << "asks for " << launch.dynamicSharedMemory
                  << " bytes of dynamic shared memory; " << launch.chip
                  << " has 0 to " << target->getMaxDynamicSharedMemory();
  // (A packed tile holds block_m / pack_gqa positions, at least one.)
  if (launch.blockN < 1 || launch.packedHeads < 1 ||
      launch.blockM < launch.packedHeads)
    return fail() << "has block_m " << launch.blockM << ", block_n "
                  << launch.blockN << " and pack_gqa " << launch.packedHeads
                  << "; tiles are positive, block_m at least pack_gqa";
  return success();
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
       options.epilogue != "auto" || options.exp2Emulation))
    return emitError(module.getLoc(),
                     "split-kv, pack-gqa, warps, key-warps, persistent, "
                     "epilogue and exp2-emulation shape forward kernels, and "
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
       options.epilogue != "auto" || options.strategy != "auto" ||
       options.exp2Emulation))
    return emitError(module.getLoc(),
                     "the input is lowered to the GPU already (its kernels "
                     "carry fa.launch): the strategy, tile and schedule "
                     "options (strategy, block-m/n, warps, stages, "
                     "key-warps, split-kv, pack-gqa, persistent, epilogue, "
                     "exp2-emulation, backward-*) would change nothing");
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
    // The memref arguments (Q, K, V, O, ...); the tensor maps follow them.
    // The kernel may come from hand-edited IR: check what the metadata
    // writer relies on.
    size_t maps = record.launch.tensorMaps.size();
    auto counted = func->getAttrOfType<IntegerAttr>(kTensorMapsAttrName);
    if ((counted ? counted.getInt() : 0) != static_cast<int64_t>(maps)) {
      emitError(func.getLoc(), "its fa.launch lists ")
          << maps << " tensor maps but its '" << kTensorMapsAttrName
          << "' attribute counts " << (counted ? counted.getInt() : 0)
          << ": the launch JSON and the kernel's parameters would disagree";
      return WalkResult::interrupt();
    }
    if (maps > func.getNumArguments()) {
      emitError(func.getLoc(), "its fa.launch lists ")
          << maps << " tensor maps but the kernel has only "
          << func.getNumArguments() << " arguments";
      return WalkResult::interrupt();
    }
    for (Type type : func.getArgumentTypes().drop_back(maps)) {
      auto memref = dyn_cast<MemRefType>(type);
      if (!memref) {
        emitError(func.getLoc(), "a kernel argument before its tensor maps is ")
            << type << ", not a memref";
        return WalkResult::interrupt();
      }
      record.arguments.push_back(memref);
    }
    bool combine = record.launch.splitStage == kSplitCombineStage;
    int64_t rank = record.launch.varlen ? 3 : 4;
    if (record.arguments.size() < 3 ||
        (!combine && (record.arguments.size() < (rank == 3 ? 6u : 4u) ||
                      record.arguments[0].getRank() != rank))) {
      emitError(func.getLoc(), "an attention kernel takes Q, K, V and O as "
                               "rank-4 memrefs first (rank 3 and the two "
                               "offsets when variable-length)");
      return WalkResult::interrupt();
    }
    // The LSE the metadata names argument 4 of a one-kernel forward: an
    // f32 memref a rank below Q.
    if (record.launch.lse && record.launch.splitStage.empty() &&
        record.launch.backwardStage.empty() &&
        (record.arguments.size() < 5 ||
         !record.arguments[4].getElementType().isF32() ||
         record.arguments[4].getRank() != rank - 1)) {
      emitError(func.getLoc(), "its fa.launch says it writes an LSE, and its "
                               "argument 4 is not an f32 memref of rank ")
          << rank - 1;
      return WalkResult::interrupt();
    }
    // Forward maps describe Q, K, V or O; a backward's Q, K, V, dO
    // (argument 4) or its f32 dQ accumulator (argument 7).
    bool backward = !record.launch.backwardStage.empty();
    auto mappable = [&](int64_t argument) {
      if (argument < 0 ||
          argument >= static_cast<int64_t>(record.arguments.size()))
        return false;
      if (!backward)
        return argument <= 3;
      MemRefType type = record.arguments[argument];
      if (argument == 7)
        return type.getRank() == 4 && type.getElementType().isF32();
      return argument <= 2 || argument == 4;
    };
    for (const TensorMapInfo &map : record.launch.tensorMaps)
      if (!mappable(map.argument) ||
          static_cast<int64_t>(map.box.size()) !=
              record.arguments[map.argument].getRank()) {
        emitError(func.getLoc(), "its fa.launch has a tensor map of argument ")
            << map.argument << " with " << map.box.size()
            << " box sizes: maps describe Q, K, V or O (in a backward "
               "kernel Q, K, V, dO or its f32 dQ accumulator: arguments "
               "0-2, 4 and 7), one size per dimension";
        return WalkResult::interrupt();
      }
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
