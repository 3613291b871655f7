//===- LaunchChecks.cpp - fa.launch against the kernel and its launch -----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// A runtime launches a kernel from its launch JSON, which is written from
// the kernel's fa.launch; fa-opt's host code launches it from the IR. In
// GPU-level input (hand-edited, or built by an embedding compiler) the
// three may disagree: these checks refuse a kernel whose fa.launch is not
// what the kernel is, or not how its host code launches it, so that the
// JSON never describes another kernel than the cubin holds.
//
//===----------------------------------------------------------------------===//

#include "LaunchChecks.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"
#include "fa/Pipelines/KernelArtifacts.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

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
/// Whether `size`, an operand of a host launch, is dimension `dim` of the
/// kernel operand `operand` (a buffer of a tensor): that size as a
/// constant where it is static, else a dim op of the buffer or its tensor.
static bool isDimensionOf(Value size, Value operand, int64_t dim) {
  auto type = dyn_cast<MemRefType>(operand.getType());
  if (!type || dim >= type.getRank())
    return false;
  if (!type.isDynamicDim(dim))
    return getConstantIntValue(size) == type.getDimSize(dim);
  Value tensor = operand;
  if (auto toBuffer = operand.getDefiningOp<bufferization::ToBufferOp>())
    tensor = toBuffer.getTensor();
  Value source, index;
  if (auto op = size.getDefiningOp<tensor::DimOp>()) {
    source = op.getSource();
    index = op.getIndex();
  } else if (auto op = size.getDefiningOp<memref::DimOp>()) {
    source = op.getSource();
    index = op.getIndex();
  } else {
    return false;
  }
  return (source == tensor || source == operand) &&
         getConstantIntValue(index) == dim;
}

LogicalResult mlir::fa::detail::checkHostLaunches(ModuleOp module) {
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
    // A fixed-length forward kernel over (query tiles, Hq, B) (not packed
    // GQA, paged or variable-length, whose heads or batch come from other
    // tensors): its launch's grid must be that of the JSON, Q's sizes.
    bool queryGrid = tilesRows && info->packedHeads <= 1 && !info->varlen &&
                     info->pageSize == 0 && !launch.getKernelOperands().empty();
    if (!queryGrid)
      return WalkResult::advance();
    Value query = launch.getKernelOperands().front();
    auto grid = [&](StringRef axis, StringRef what, int64_t dim) {
      return fail() << "describes grid " << axis << " as " << what
                    << " (Q's dimension " << dim
                    << "; so does the launch JSON), and its launch's grid "
                    << axis << " is another value";
    };
    if (!isDimensionOf(launch.getGridSizeY(), query, 1)) {
      grid("y", "the query heads", 1);
      return WalkResult::interrupt();
    }
    if (!isDimensionOf(launch.getGridSizeZ(), query, 0)) {
      grid("z", "the batch", 0);
      return WalkResult::interrupt();
    }
    // The query tiles, ceildiv(Nq, rows), or their number where Nq is
    // static (folded); a split's partial kernel multiplies them by S.
    if (!info->splitStage.empty())
      return WalkResult::advance();
    auto queryType = cast<MemRefType>(query.getType());
    std::optional<int64_t> count = getConstantIntValue(launch.getGridSizeX());
    bool tiled = tiles && rows && isDimensionOf(tiles.getLhs(), query, 2);
    bool counted =
        count && !queryType.isDynamicDim(2) &&
        *count == llvm::divideCeil(queryType.getDimSize(2), expected);
    if (!tiled && !counted) {
      fail() << "describes grid x as the query tiles (ceildiv(Q's "
                "dimension 2, "
             << expected
             << "); so does the launch JSON), and its launch's grid x is "
                "another value";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

/// Whether the kernel writes `memref` (one of its arguments) through a
/// memref or vector op: a store, copy or transfer into it or into a view
/// of it. (Writes through a raw pointer or a tensor map are not seen.)
static bool writesThroughMemrefOps(Value memref) {
  SmallVector<Value> worklist{memref};
  DenseSet<Value> seen;
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    for (Operation *user : value.getUsers()) {
      if (auto view = dyn_cast<ViewLikeOpInterface>(user);
          view && view.getViewSource() == value) {
        llvm::append_range(worklist, user->getResults());
        continue;
      }
      auto effects = dyn_cast<MemoryEffectOpInterface>(user);
      if (!effects)
        continue;
      SmallVector<MemoryEffects::EffectInstance> list;
      effects.getEffectsOnValue(value, list);
      if (llvm::any_of(list, [](const MemoryEffects::EffectInstance &e) {
            return isa<MemoryEffects::Write>(e.getEffect());
          }))
        return true;
    }
  }
  return false;
}

/// The fa.launch of `func` against the kernel and the compile: a known
/// strategy, the compile's chip, a block size in [1, 1024] that is the
/// kernel's known block size, shared memory the chip has, positive tiles
/// (a packed one of at least one position).
LogicalResult
mlir::fa::detail::checkLaunchAgainstKernel(gpu::GPUFuncOp func,
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

LogicalResult mlir::fa::detail::collectKernelArguments(gpu::GPUFuncOp func,
                                                       KernelRecord &record) {
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
    return failure();
  }
  if (maps > func.getNumArguments()) {
    emitError(func.getLoc(), "its fa.launch lists ")
        << maps << " tensor maps but the kernel has only "
        << func.getNumArguments() << " arguments";
    return failure();
  }
  for (Type type : func.getArgumentTypes().drop_back(maps)) {
    auto memref = dyn_cast<MemRefType>(type);
    if (!memref) {
      emitError(func.getLoc(), "a kernel argument before its tensor maps is ")
          << type << ", not a memref";
      return failure();
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
    return failure();
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
    return failure();
  }
  // An argument the metadata gives as read-only (a runtime may pass an
  // input, or one buffer twice, there) must be one the kernel does not
  // write: an fa.launch edited to lse = false over a kernel that writes
  // its LSE would name that argument a capture.
  SmallVector<bool> declared = getArgumentWrites(record);
  for (auto [i, writes] : llvm::enumerate(declared)) {
    if (writes || !writesThroughMemrefOps(func.getArgument(i)))
      continue;
    emitError(func.getLoc(), "the kernel writes its argument ")
        << i
        << ", which its fa.launch makes read-only in the launch metadata "
           "(a runtime may pass an input there): its lse or stage does "
           "not match the kernel";
    return failure();
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
      return failure();
    }
  return success();
}
