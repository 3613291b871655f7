//===- HopperAttentionKernel.cpp - The wgmma attention kernel -------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The schedule of the `hopper-ws` strategy (docs/HopperStrategy.md):
// warp-specialized warpgroup MMAs on Hopper. One block computes one (batch,
// query head, block_m query rows) tile with block_m / 64 consumer
// warpgroups of 64 rows each and one producer warpgroup (the last):
//
//   producer (one warp; HopperProducer.cpp): TMA loads of Q, then of K and
//     V of every block the consumers compute into a ring of `stages`
//     128-byte-swizzled slots, each once the consumers released it
//     (mbarriers: loaded with expect-tx bytes, released by arrivals)
//   consumers (HopperConsumer.cpp), per key block j:
//     wait K_j; issue S_j = Q K_j^T   wgmma m64nBNk16, Q and K from shared
//                                     memory
//     wait V_j-1; issue O += P_j-1 V_j-1   wgmma m64nDk16, P from registers
//              (the S accumulator layout is the A fragment layout), V
//              N-major; it runs under the softmax of S_j
//     s = the tile's scores body, cloned per accumulator element
//         (ScoreCloner); masked blocks also apply its visibility and the
//         key padding
//     online softmax on the fragment rows (RegisterSoftmax)
//     wait for the P V; O *= alpha_j; release K_j and V_j-1
//
// then O / l and LSE, as the mma.sync kernel (HopperEpilogue.cpp). A
// persistent block loops over tiles (HopperTiles.cpp). setmaxnreg moves
// registers from the producer to the consumers. The key blocks come from
// the mask (BlockClassifier), which producer and consumers evaluate alike:
// fully visible blocks run unmasked, invisible ones are neither loaded nor
// computed. The consumer warpgroups take turns issuing their MMAs (named
// barriers), so that one's softmax overlaps the other's MMAs, and inside a
// warpgroup the softmax of block j overlaps the P V of block j - 1.
//
//===----------------------------------------------------------------------===//

#include "HopperKernelEmitter.h"
#include "KernelEpilogue.h"
#include "KernelGrid.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

void HopperKernelEmitter::emit(gpu::GPUFuncOp func) {
  b.setInsertionPointToStart(&func.getBody().front());
  query = func.getArgument(0);
  key = func.getArgument(1);
  value = func.getArgument(2);
  output = func.getArgument(3);
  // The tensor maps of Q, K and V (and O) are the last arguments.
  unsigned maps =
      func.getNumArguments() - 3 - (config.storesOutputWithTma() ? 1 : 0);
  qMap = func.getArgument(maps);
  kMap = func.getArgument(maps + 1);
  vMap = func.getArgument(maps + 2);
  if (config.storesOutputWithTma())
    oMap = func.getArgument(maps + 3);
  // Then, in the order of TileCloner::Roots::bindKernelArguments: the LSE,
  // the offsets (cu_seqlens_k but against a paged cache), the block table.
  unsigned next = 4;
  if (spec.lseType)
    lse = lseArgument = func.getArgument(next++);
  if (tile.isVarlen()) {
    cuSeqlensQ = func.getArgument(next++);
    if (tile.cuSeqlensK)
      ++next;
  }
  if (tile.isPaged())
    blockTable = func.getArgument(next);

  tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  warpgroup = div(tid, idx(128));
  warpInGroup = rem(div(tid, idx(32)), idx(4));
  Value lane = rem(tid, idx(32));
  groupId = div(lane, idx(4));
  threadInGroup = rem(lane, idx(4));
  arguments = func.getArguments();

  // Shared memory, aligned up to the swizzle period: the Q tile, the K
  // ring, the V ring (each [stages][slabs][rows][64]), the mbarriers.
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                   MemRefLayoutAttrInterface{}, workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(b, bytesType);
  Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, smem);
  Value pad =
      rem(sub(idx(kSwizzlePeriodBytes), rem(address, idx(kSwizzlePeriodBytes))),
          idx(kSwizzlePeriodBytes));
  qSlotBytes = 2 * config.blockM * headDim;
  qBytes = config.querySlots * qSlotBytes;
  querySlot = idx(0);
  kSlotBytes = 2 * config.blockN * headDim;
  vSlotBytes = 2 * config.blockN * valueDim;
  smemBase = arith::IndexCastOp::create(b, b.getI32Type(), add(address, pad));
  auto descriptor = [&](int64_t byteOffset, int64_t leading) {
    return makeWgmmaDescriptor(
        b, arith::AddIOp::create(b, smemBase, i32(byteOffset)),
        getWgmmaDescriptorBits(leading, kSwizzlePeriodBytes));
  };
  // K-major Q and K: the leading offset is unused with the swizzle (16).
  // N-major V: slabs of 64 columns are block-n rows apart.
  qDesc = descriptor(0, 16);
  {
    // This warpgroup's 64 rows, 64 * 128 bytes into every Q slab.
    Value rows = arith::IndexCastOp::create(b, b.getI64Type(), warpgroup);
    qDesc = arith::AddIOp::create(
        b, qDesc,
        arith::MulIOp::create(
            b, rows,
            arith::ConstantOp::create(
                b, b.getI64IntegerAttr((64 * kSlabRowBytes) >> 4))));
  }
  qSlot0Desc = qDesc;
  kDesc = descriptor(qBytes, 16);
  vDesc = descriptor(qBytes + config.stages * kSlotBytes,
                     config.blockN * kSlabRowBytes);
  initBarriers();
  // One tile per block: its coordinates, mask and key blocks, computed
  // once for both roles (with all the registers).
  if (!config.persistent)
    beginTile(emitTileCoordinates(b, function, query, key, config.blockM));
  // The grid of a variable-length kernel covers the longest sequence: a
  // block past the end of its own returns (all its threads alike).
  std::optional<OpBuilder::InsertionGuard> inSequence;
  if (tile.isVarlen() && !config.persistent) {
    Value rows = cloner->uniform(tile.rows);
    auto live = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, rows, idx(0)));
    inSequence.emplace(b);
    b.setInsertionPointToStart(live.thenBlock());
  }

  // The last warpgroup produces; the others consume. setmaxnreg moves the
  // producer's registers to the consumers.
  Value isProducer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                           warpgroup, idx(config.warpgroups()));
  auto split = scf::IfOp::create(b, isProducer, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(split.thenBlock());
    if (config.warpgroups() > 1)
      NVVM::SetMaxRegisterOp::create(b, config.producerRegisters(),
                                     NVVM::SetMaxRegisterAction::decrease);
    // Its first warp runs the block loop, or where it gathers pages the
    // whole warpgroup (HopperConfig::producerThreads).
    if (config.producerThreads() == 32) {
      auto firstWarp = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, warpInGroup,
                                   idx(0)));
      b.setInsertionPointToStart(firstWarp.thenBlock());
    }
    if (config.persistent) {
      emitProducerTiles();
    } else {
      if (!qIssued) {
        auto leader = scf::IfOp::create(b, isProducerLeader());
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(leader.thenBlock());
        loadQ();
      }
      emitProducer(producerCounts());
    }
  }
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(split.elseBlock());
    if (config.warpgroups() > 1)
      NVVM::SetMaxRegisterOp::create(b, config.consumerRegisters(),
                                     NVVM::SetMaxRegisterAction::increase);
    // The first turn is the first warpgroup's: the last one lets it go.
    if (pingPong()) {
      auto last = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, warpgroup,
                                   idx(config.warpgroups() - 1)));
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(last.thenBlock());
      NVVM::BarrierArriveOp::create(b, turnBarrier(idx(0)), i32(2 * 128));
    }
    if (config.persistent) {
      emitConsumerTiles();
    } else {
      waitBarrier(qLoaded(), idx(0));
      emitConsumer(idx(0));
    }
    // The staging tile stays until the last stores have read it.
    if (config.storesOutputWithTma())
      waitForOutputStores();
  }
  inSequence.reset();
  gpu::ReturnOp::create(b);
  if (!config.persistent)
    endTile();
}

void HopperKernelEmitter::beginTile(const TileCoordinates &coordinates) {
  head = coordinates.head;
  batch = coordinates.batch;
  qLength = coordinates.qLength;
  kvLength = coordinates.kvLength;
  rowStart = coordinates.rowStart;

  TileCloner::Roots roots = getTileRoots(coordinates, tile, arguments);
  Value localRow =
      add(add(mul(warpgroup, idx(64)), mul(warpInGroup, idx(16))), groupId);
  Value localCol = mul(threadInGroup, idx(2));
  roots.rowBase = [localRow](bool) { return localRow; };
  roots.colBase = [localCol]() { return localCol; };
  roots.rowOffsets = {0, 8};
  for (int64_t n = 0; n < config.blockN / 8; ++n)
    roots.colOffsets.append({8 * n, 8 * n + 1});
  roots.hoistRowValues = true;
  roots.hideNarrowedRanges = true;
  classifier.reset();
  cloner = std::make_unique<TileCloner>(b, function, std::move(roots));
  // With a block table (one tile per block), Q's load goes first: it does
  // not depend on the table and completes under the build (and, for a
  // fixed-length tile, under the tile's prologue; a variable-length one
  // needs its sequence's views first). One thread issues it, the
  // producer's first; a variable-length block past its sequence's end
  // loads nothing.
  qIssued = false;
  bool buildsTable = config.blockTableEntries > 0 && !config.persistent;
  auto issueQ = [&](Value condition) {
    Value issues = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid,
                                         idx(config.warpgroups() * 128));
    if (condition)
      issues = arith::AndIOp::create(b, issues, condition);
    auto ifOp = scf::IfOp::create(b, issues);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    loadQ();
    qIssued = true;
  };
  if (buildsTable && !tile.isVarlen())
    issueQ(Value());
  // Values of the scores body that vary per tile (or with nothing) are
  // cloned here, at the start of the tile.
  tilePrologue = ub::PoisonOp::create(b, b.getIndexType());
  cloner->setPrologue(tilePrologue);
  if (tile.isVarlen()) {
    // From here on the tile is a fixed-length attention of its sequence:
    // O and the LSE are views at its rows, the lengths its own, and TMA
    // reads the packed Q, K and V from its first rows on.
    // (Of the kernel's arguments: a persistent kernel begins many tiles.)
    SequenceViews views = emitSequenceViews(b, *cloner, tile, query, key, value,
                                            arguments[3], lseArgument);
    output = views.output, lse = views.lse;
    qLength = views.qLength, kvLength = views.kvLength;
    qRowBase = cloner->uniform(tile.queryBase);
    if (tile.keyBase)
      kRowBase = cloner->uniform(tile.keyBase);
    if (buildsTable)
      issueQ(arith::CmpIOp::create(b, arith::CmpIPredicate::sgt,
                                   cloner->uniform(tile.rows), idx(0)));
  }
  // Against a paged cache: the sequence's key count as the IR reads it
  // (cache_seqlens); the producer reads its rows through the block table.
  if (tile.isPaged())
    kvLength = cloner->uniform(tile.keyLength);

  // A capture-reading mask's blocks are classified into the table, by all
  // the warps of the block (one tile per block: no role has split off).
  std::optional<BlockTable> table;
  if (buildsTable) {
    int64_t offset = qBytes + config.stages * (kSlotBytes + vSlotBytes) +
                     config.controlBytes() - config.blockTableEntries;
    table.emplace();
    table->entries = LLVM::IntToPtrOp::create(
        b, LLVM::LLVMPointerType::get(b.getContext(), /*addressSpace=*/3),
        arith::AddIOp::create(b, smemBase, i32(offset)).getResult());
    table->capacity = config.blockTableEntries;
    table->warp = div(tid, idx(32));
    table->warps = config.threads() / 32;
  }
  KeyBlockPlan plan = planKeyBlocks(b, function, *cloner, kvLength,
                                    config.blockN, std::move(table));
  kvHead = plan.kvHead;
  classifier = std::move(plan.classifier);
  ranges = plan.ranges;
}

void HopperKernelEmitter::loadQ() {
  loadTile(qMap, qLoaded(), batch, head,
           qRowBase ? add(qRowBase, rowStart) : rowStart, 0,
           mul(querySlot, idx(qSlotBytes)), config.blockM, headDim);
}

void HopperKernelEmitter::endTile() {
  if (tilePrologue->use_empty())
    tilePrologue->erase();
  tilePrologue = nullptr;
}

/// Whether `root` of the scores body reads a captured tensor (`perKey`:
/// an element that varies with the key).
static bool readsCaptures(const ScoreFunction &function, Value root,
                          bool perKey) {
  const FusedAttentionTile &tile = function.getTile();
  if (!root || tile.captures.empty())
    return false;
  llvm::SmallPtrSet<Value, 4> captures(tile.captures.begin(),
                                       tile.captures.end());
  SmallVector<Value> worklist{root};
  llvm::SmallPtrSet<Value, 32> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    Operation *op = v.getDefiningOp();
    if (!op)
      continue;
    // The op, the ops inside its regions, and their operands.
    WalkResult found = op->walk([&](Operation *nested) {
      if (auto extract = dyn_cast<tensor::ExtractOp>(nested);
          extract && captures.contains(extract.getTensor()) &&
          (!perKey ||
           function.getDependence(extract.getResult()) & (kBlock | kCol)))
        return WalkResult::interrupt();
      for (Value operand : nested->getOperands())
        worklist.push_back(operand);
      return WalkResult::advance();
    });
    if (found.wasInterrupted())
      return true;
  }
  return false;
}

/// The signs of the key's and the row's coefficients in an integer value of
/// the scores body: 0 where it does not vary with one, 1 for the body's
/// key or row index (`linalg.index`) and for the key loop's induction
/// variable (a block's first key), which grow with them; through sums,
/// differences, integer casts and products with constants of those
/// (`q - kv`: key -1, row 1; `2 * q`: row 1). None where it varies with
/// them otherwise (a product of two indices, a remainder, a quotient or a
/// min of one, a sum whose terms cancel, per-thread or per-score values).
struct IndexSigns {
  int key = 0, row = 0;
};
static std::optional<IndexSigns> getIndexSigns(const ScoreFunction &function,
                                               Value value) {
  unsigned bits = function.getDependence(value);
  Operation *op = value.getDefiningOp();
  if (isa_and_nonnull<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
                      arith::ExtUIOp, arith::TruncIOp>(op))
    return getIndexSigns(function, op->getOperand(0));
  if (auto product = dyn_cast_or_null<arith::MulIOp>(op)) {
    // By a constant: its sign times the other factor's signs.
    for (unsigned i = 0; i < 2; ++i) {
      APInt factor;
      if (!matchPattern(product->getOperand(i), m_ConstantInt(&factor)) ||
          factor.isZero())
        continue;
      std::optional<IndexSigns> other =
          getIndexSigns(function, product->getOperand(1 - i));
      if (!other)
        return std::nullopt;
      int sign = factor.isNegative() ? -1 : 1;
      return IndexSigns{sign * other->key, sign * other->row};
    }
  }
  if (!isa_and_nonnull<arith::AddIOp, arith::SubIOp>(op)) {
    if (!bits)
      return IndexSigns{0, 0};
    // The leaves known to grow: the body's indices and the key loop's
    // induction variable (a block's first key).
    scf::ForOp loop = function.getTile().kvLoop;
    bool keyLoop = loop && value == loop.getInductionVar();
    if (!keyLoop && !isa_and_nonnull<linalg::IndexOp>(op))
      return std::nullopt;
    if (!(bits & ~unsigned(kBlock | kCol)))
      return IndexSigns{1, 0};
    if (!(bits & ~unsigned(kRow)))
      return IndexSigns{0, 1};
    return std::nullopt;
  }
  std::optional<IndexSigns> lhs = getIndexSigns(function, op->getOperand(0));
  std::optional<IndexSigns> rhs = getIndexSigns(function, op->getOperand(1));
  if (!lhs || !rhs)
    return std::nullopt;
  int negate = isa<arith::SubIOp>(op) ? -1 : 1;
  auto combine = [](int x, int y) -> std::optional<int> {
    if (x == 0 || x == y)
      return y;
    if (y == 0)
      return x;
    return std::nullopt;
  };
  std::optional<int> key = combine(lhs->key, negate * rhs->key);
  std::optional<int> row = combine(lhs->row, negate * rhs->row);
  if (!key || !row)
    return std::nullopt;
  return IndexSigns{*key, *row};
}

/// How a comparison bounds the key by values of the row.
struct KeyBound {
  bool below = false, above = false;
};

/// The bounds an ordering comparison (not == or !=) of the key with values
/// of the row puts on the key (the callers have checked that the
/// predicate reads no captures): `kv <= q` bounds it
/// from above, `kv > q - W` or `q - kv < W` from below, in either
/// signedness; an unsigned `q - kv < W` (a difference below a value of the
/// row) from both sides, as it also asks `q - kv >= 0`. None for anything
/// else (`kv % 3 < q`, `q + kv < N`, `q - kv >u W`).
static std::optional<KeyBound> getKeyBound(const ScoreFunction &function,
                                           Value predicate) {
  using P = arith::CmpIPredicate;
  auto compare = predicate ? predicate.getDefiningOp<arith::CmpIOp>() : nullptr;
  if (!compare || compare.getPredicate() == P::eq ||
      compare.getPredicate() == P::ne)
    return std::nullopt;
  // Written as smaller < larger (or <=).
  P order = getSignedPredicate(compare.getPredicate());
  bool lessThan = order == P::slt || order == P::sle;
  std::optional<IndexSigns> smaller =
      getIndexSigns(function, lessThan ? compare.getLhs() : compare.getRhs());
  std::optional<IndexSigns> larger =
      getIndexSigns(function, lessThan ? compare.getRhs() : compare.getLhs());
  if (!smaller || !larger || (smaller->key == 0) == (larger->key == 0))
    return std::nullopt;
  // The key's side may hold the row too, as a difference (`q - kv`), not
  // a sum.
  const IndexSigns &keySide = smaller->key ? *smaller : *larger;
  if (keySide.row == keySide.key)
    return std::nullopt;
  bool difference = keySide.row != 0;
  // The key grows on the smaller side (bounded from above) or shrinks on
  // the larger one; else it is bounded from below.
  KeyBound bound;
  bool above = smaller->key ? smaller->key > 0 : larger->key < 0;
  (above ? bound.above : bound.below) = true;
  if (order != compare.getPredicate() && difference) {
    // Unsigned: a difference below a value of the row is also >= 0 (the
    // other bound); above one, it also holds for every negative one.
    if (!smaller->key)
      return std::nullopt;
    bound.above = bound.below = true;
  }
  return bound;
}

/// Whether the visibility predicate bounds the key from one side by values
/// of the row: one ordering comparison (not == or !=, which mask keys on
/// both sides) of the key with values of the row, reading no captures. A
/// causal mask of either alignment is one.
static bool isKeyBoundMask(const ScoreFunction &function,
                           bool visibilityReadsCaptures) {
  if (visibilityReadsCaptures)
    return false;
  std::optional<KeyBound> bound = getKeyBound(function, function.getVisible());
  return bound && bound->below != bound->above;
}

/// Whether the visibility predicate is a band: its and-tree's conjuncts
/// bound the key from below and from above by values of the row (a sliding
/// window, causal or not, in either form: `q - W < kv && kv <= q`,
/// `q - kv < W && kv <= q`, unsigned `q - kv < W`), so that every query
/// tile sees about as many keys; the other conjuncts do not vary with the
/// key (a condition on the row, head or batch). Nothing reads captures.
/// (`kv == q` is a band too, but its masked softmax spilled beside the
/// looping producer.)
static bool isBandMask(const ScoreFunction &function,
                       bool visibilityReadsCaptures) {
  Value visible = function.getVisible();
  if (!visible || visibilityReadsCaptures)
    return false;
  SmallVector<Value> worklist = {visible};
  KeyBound band;
  while (!worklist.empty()) {
    Value predicate = worklist.pop_back_val();
    if (auto both = predicate.getDefiningOp<arith::AndIOp>()) {
      worklist.push_back(both.getLhs());
      worklist.push_back(both.getRhs());
      continue;
    }
    if (std::optional<KeyBound> bound = getKeyBound(function, predicate)) {
      band.below |= bound->below;
      band.above |= bound->above;
    } else if (function.getDependence(predicate) & (kBlock | kCol)) {
      return false;
    }
  }
  return band.below && band.above;
}

FailureOr<gpu::GPUFuncOp> mlir::fa::buildHopperAttentionKernel(
    OpBuilder &builder, gpu::GPUModuleOp module, const FusedAttentionTile &tile,
    const AttentionKernelSpec &spec, const HopperConfig &givenConfig,
    const GPUTarget &target, Location loc) {
  if (tile.split)
    return emitError(loc, "the hopper-ws strategy does not build split-KV "
                          "tiles; use strategy=mma-sync or auto");
  if (tile.packedHeads > 1)
    return emitError(loc, "the hopper-ws strategy does not build packed GQA "
                          "tiles (pack_gqa); use strategy=mma-sync or auto");
  if (tile.isPaged() && !isWgmmaPaging(tile.pageSize()))
    return emitError(loc, "the hopper-ws strategy reads pages of a multiple "
                          "of 8 rows (TMA into 128-byte-swizzled slabs); "
                          "this cache's pages hold ")
           << tile.pageSize() << "; use strategy=mma-sync or auto";
  if (givenConfig.storeWithTma && tile.isVarlen())
    return emitError(loc, "epilogue=tma stores whole boxes of O's rows, "
                          "which in packed variable-length tensors would "
                          "overwrite the next sequence's rows; use "
                          "epilogue=staged");
  FailureOr<ScoreFunction> function = ScoreFunction::analyze(tile);
  if (failed(function))
    return failure();
  HopperConfig config = givenConfig;
  HopperScoreTraits traits;
  traits.masks = static_cast<bool>(function->getVisible());
  traits.visibilityReadsCaptures =
      readsCaptures(*function, function->getVisible(), /*perKey=*/false);
  traits.capturesPerKey =
      readsCaptures(*function, function->getVisible(), /*perKey=*/true) ||
      readsCaptures(*function, function->getInner(), /*perKey=*/true);
  traits.loadsCaptures =
      traits.visibilityReadsCaptures ||
      readsCaptures(*function, function->getInner(), /*perKey=*/false);
  traits.varlen = tile.isVarlen();
  traits.paged = tile.isPaged();
  config.pageSize = tile.isPaged() ? tile.pageSize() : 0;
  traits.keyBoundMask =
      isKeyBoundMask(*function, traits.visibilityReadsCaptures);
  traits.bandMask = isBandMask(*function, traits.visibilityReadsCaptures);
  chooseHopperSchedule(spec, traits, config);
  if (failed(verifyHopperPersistence(spec, traits, config,
                                     [&]() { return emitError(loc); })))
    return failure();
  chooseHopperOutputStaging(spec, config, target.getMaxDynamicSharedMemory());
  chooseHopperQuerySlots(spec, config, target.getMaxDynamicSharedMemory());
  if (failed(verifyHopperConfig(spec, config, target,
                                [&]() { return emitError(loc); })))
    return failure();

  KernelLaunchInfo info;
  info.strategy = "hopper-ws";
  info.chip = target.chip;
  info.blockM = config.blockM;
  info.blockN = config.blockN;
  info.warps = config.threads() / 32;
  info.stages = config.stages;
  info.threads = config.threads();
  info.dynamicSharedMemory = getHopperSharedMemoryBytes(spec, config);
  info.lse = static_cast<bool>(spec.lseType);
  info.persistent = config.persistent;
  // Q, K and V by TMA: a box is one 64-column slab of a tile's rows (of
  // packed [T, H, D] tensors: of one head; of a paged cache [num_pages,
  // page_size, H, D]: of one head and page, a piece of a block's rows).
  for (auto [argument, rows] : {std::pair<int64_t, int64_t>{0, config.blockM},
                                {1, config.blockN},
                                {2, config.blockN}}) {
    SmallVector<int64_t> box{64, rows, 1, 1};
    if (argument > 0 && tile.isPaged())
      box = {64, 1, config.kvLoadRows(), 1};
    else if (tile.isVarlen())
      box = {64, 1, rows};
    info.tensorMaps.push_back({argument, box});
  }
  // O by TMA (epilogue=tma): a box is one slab of a warpgroup's 64 rows.
  if (config.storesOutputWithTma())
    info.tensorMaps.push_back({3, SmallVector<int64_t>{64, 64, 1, 1}});
  gpu::GPUFuncOp func = createAttentionKernel(builder, module, spec, info, loc);

  ImplicitLocOpBuilder b(loc, builder);
  HopperKernelEmitter(b, spec, config, *function).emit(func);
  func.setName(getAttentionKernelName(spec, config));
  return func;
}
