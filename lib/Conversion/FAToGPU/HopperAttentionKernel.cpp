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
//   consumers, per key block:
//     wait K;  S = Q K^T      wgmma m64nBNk16, Q and K from shared memory
//     s = the tile's scores body, cloned per accumulator element
//         (ScoreCloner); masked blocks also apply its visibility and the
//         key padding
//     online softmax on the fragment rows (RegisterSoftmax)
//     wait V;  O = O * alpha + P V   wgmma m64nDk16, P from registers (the
//              S accumulator layout is the A fragment layout), V N-major
//     release the stage
//
// then O / l and LSE, as the mma.sync kernel. setmaxnreg moves registers
// from the producer to the consumers. The key blocks come from the mask
// (BlockClassifier), which producer and consumers evaluate alike: fully
// visible blocks run unmasked, invisible ones are neither loaded nor
// computed. The consumer warpgroups take turns issuing S = Q K^T (named
// barriers), so that one's softmax overlaps the other's MMAs; the overlap
// inside a warpgroup is the next increment.
//
//===----------------------------------------------------------------------===//

#include "HopperKernelEmitter.h"
#include "KernelEpilogue.h"
#include "KernelGrid.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

SmallVector<Value> HopperKernelEmitter::packState(const HopperState &state) {
  SmallVector<Value> values(state.acc);
  for (const SoftmaxRowState &row : state.rows)
    values.append({row.max, row.sum});
  values.push_back(state.computed);
  return values;
}

HopperState HopperKernelEmitter::unpackState(ValueRange values) {
  HopperState state;
  int64_t accs = valueDim / 2;
  state.acc.assign(values.begin(), values.begin() + accs);
  for (int64_t h = 0; h < 2; ++h)
    state.rows[h] = {values[accs + 2 * h], values[accs + 2 * h + 1]};
  state.computed = values[accs + 4];
  return state;
}

void HopperKernelEmitter::emitGuarded(
    HopperState &state, Value condition,
    function_ref<void(HopperState &)> thenEmit,
    function_ref<void(HopperState &)> elseEmit) {
  SmallVector<Value> before = packState(state);
  auto ifOp = scf::IfOp::create(b, TypeRange(ValueRange(before)), condition,
                                /*addThenBlock=*/true, /*addElseBlock=*/true);
  for (auto [block, emitBranch] :
       {std::make_pair(ifOp.thenBlock(), thenEmit),
        std::make_pair(ifOp.elseBlock(), elseEmit)}) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(block);
    HopperState branch = unpackState(before);
    if (emitBranch)
      emitBranch(branch);
    scf::YieldOp::create(b, packState(branch));
  }
  state = unpackState(ifOp.getResults());
}

void HopperKernelEmitter::emitBlock(HopperState &state, Value block) {
  Value unmasked = ranges.isUnmasked(b, block);
  emitGuarded(
      state, unmasked,
      [&](HopperState &s) { emitBlockCompute(s, block, /*masked=*/false); },
      [&](HopperState &s) {
        if (!classifier->hasPredicate()) {
          emitBlockCompute(s, block, /*masked=*/true);
          return;
        }
        emitGuarded(
            s, classifier->mayBeVisible(block),
            [&](HopperState &v) { emitBlockCompute(v, block, true); }, nullptr);
      });
}

void HopperKernelEmitter::emitBlockCompute(HopperState &state, Value block,
                                           bool masked) {
  int64_t blockN = config.blockN;
  Value kvStart = mul(block, idx(blockN));
  auto anchor = ub::PoisonOp::create(b, b.getIndexType());
  cloner->beginBlock(kvStart, anchor);

  // The ring stage of this block, and the phase of its barriers.
  Value slot = rem(state.computed, idx(config.stages));
  Value parity = rem(div(state.computed, idx(config.stages)), idx(2));
  Value slot64 = arith::IndexCastOp::create(b, b.getI64Type(), slot);
  auto slotDesc = [&](Value base, int64_t slotBytes) {
    return arith::AddIOp::create(
        b, base,
        arith::MulIOp::create(
            b, slot64,
            arith::ConstantOp::create(b, b.getI64IntegerAttr(slotBytes >> 4))));
  };
  Value kSlot = slotDesc(kDesc, kSlotBytes);
  Value vSlot = slotDesc(vDesc, vSlotBytes);

  // S = Q K^T: D / 16 MMAs of 64 x block-n x 16, both K-major, once the
  // producer's K has landed.
  waitBarrier(kLoaded(slot), parity);
  // Ping-pong: the consumer warpgroups take turns issuing S = Q K^T, so
  // that one's softmax runs while the other's MMAs do.
  if (pingPong())
    NVVM::BarrierOp::create(b, Type(), turnBarrier(warpgroup), i32(2 * 128),
                            NVVM::BarrierReductionAttr(), Value());
  emitWgmmaFence(b);
  SmallVector<Value> scores;
  for (int64_t k = 0; k < headDim / 16; ++k) {
    int64_t inSlab = (k % 4) * 32;
    Value descA = offsetWgmmaDescriptor(
        b, qDesc, (k / 4) * config.blockM * kSlabRowBytes + inSlab);
    Value descB = offsetWgmmaDescriptor(
        b, kSlot, (k / 4) * blockN * kSlabRowBytes + inSlab);
    scores = emitWgmmaSS(b, scores, descA, descB, blockN, elementType,
                         /*accumulate=*/k > 0);
  }
  emitWgmmaCommit(b);
  if (pingPong())
    NVVM::BarrierArriveOp::create(
        b, turnBarrier(rem(add(warpgroup, idx(1)), idx(config.warpgroups()))),
        i32(2 * 128));
  emitWgmmaWait(b, 0);
  scores = fenceRegisters(b, scores);

  // The scores body per accumulator element: element 4n + 2h + e is
  // fragment row h (rows g, g + 8), column 2n + e (key 8n + 2c + e).
  Value negInf = arith::ConstantOp::create(
      b, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
  Value padding;
  if (masked) {
    Value first = add(kvStart, mul(threadInGroup, idx(2)));
    Value limit = minS(maxS(sub(kvLength, first), idx(0)), idx(blockN));
    padding = arith::IndexCastOp::create(b, b.getI32Type(), limit);
  }
  Value visible = function.getVisible();
  int64_t nTiles = blockN / 8;
  SmallVector<Value> probabilities(blockN / 2);
  Value alpha[2];
  for (int64_t h = 0; h < 2; ++h) {
    SmallVector<Value> rowScores;
    for (int64_t n = 0; n < nTiles; ++n) {
      for (int64_t e = 0; e < 2; ++e) {
        unsigned col = 2 * n + e;
        Value qk = scores[4 * n + 2 * h + e];
        Value x = cloner->element(function.getInner(), h, col, qk);
        if (masked) {
          if (visible)
            x = arith::SelectOp::create(b, cloner->element(visible, h, col, qk),
                                        x, negInf);
          Value isPadding = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                                  i32(8 * n + e), padding);
          x = arith::SelectOp::create(b, isPadding, negInf, x);
        }
        rowScores.push_back(x);
      }
    }
    auto [p, a] = updateSoftmaxRow(b, rowScores, scoreScale, state.rows[h]);
    alpha[h] = a;
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t e = 0; e < 2; ++e)
        probabilities[4 * n + 2 * h + e] = p[2 * n + e];
  }
  for (auto [i, acc] : llvm::enumerate(state.acc))
    acc = arith::MulFOp::create(b, acc, alpha[(i / 2) % 2]);

  // P as A fragments: for 16 keys 16k..16k+15, registers (row g, keys
  // 2c, 2c+1), (g + 8, same), (g, keys 8 + 2c, +1), (g + 8, same): the
  // accumulator pairs of n-tiles 2k and 2k + 1.
  auto pairType = VectorType::get({2}, elementType);
  auto pack = [&](Value lo, Value hi) -> Value {
    Value pair = arith::TruncFOp::create(
        b, pairType,
        vector::FromElementsOp::create(b, VectorType::get({2}, b.getF32Type()),
                                       ValueRange{lo, hi}));
    Value word = vector::BitCastOp::create(
        b, VectorType::get({1}, b.getI32Type()), pair);
    return vector::ExtractOp::create(b, word, ArrayRef<int64_t>{0});
  };
  SmallVector<Value> aRegisters;
  for (int64_t n = 0; n < nTiles; ++n)
    for (int64_t h = 0; h < 2; ++h)
      aRegisters.push_back(
          pack(probabilities[4 * n + 2 * h], probabilities[4 * n + 2 * h + 1]));
  aRegisters = fenceRegisters(b, aRegisters);
  state.acc = fenceRegisters(b, state.acc);

  // O += P V: block-n / 16 MMAs of 64 x Dv x 16, V N-major (16 keys are
  // 2048 bytes of every slab).
  waitBarrier(vLoaded(slot), parity);
  emitWgmmaFence(b);
  for (int64_t k = 0; k < blockN / 16; ++k) {
    Value descB = offsetWgmmaDescriptor(b, vSlot, k * 16 * kSlabRowBytes);
    state.acc =
        emitWgmmaRS(b, state.acc, ArrayRef<Value>(aRegisters).slice(4 * k, 4),
                    descB, valueDim, elementType, /*transposeB=*/true);
  }
  emitWgmmaCommit(b);
  emitWgmmaWait(b, 0);
  state.acc = fenceRegisters(b, state.acc);
  // This warpgroup is done with the stage: its first thread releases it to
  // the producer.
  auto first =
      scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                 rem(tid, idx(128)), idx(0)));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(first.thenBlock());
    NVVM::MBarrierArriveOp::create(b, Type(), released(slot), Value());
  }
  state.computed = add(state.computed, idx(1));
  if (anchor->use_empty())
    anchor->erase();
}

void HopperKernelEmitter::emitEpilogue(const HopperState &state) {
  OutputRows rows{output,  lse,           batch,      head,
                  qLength, threadInGroup, elementType};
  Value rowBase =
      add(rowStart, add(add(mul(warpgroup, idx(64)), mul(warpInGroup, idx(16))),
                        groupId));
  for (int64_t h = 0; h < 2; ++h) {
    SoftmaxRowResult result = finishSoftmaxRow(b, state.rows[h], scoreScale);
    // Accumulator 4d + 2h + e: row g + 8h, column 8d + 2c + e.
    emitOutputRow(
        b, rows, add(rowBase, idx(8 * h)), result, valueDim,
        [&](int64_t d, int64_t e) { return state.acc[4 * d + 2 * h + e]; });
  }
}

void HopperKernelEmitter::emit(gpu::GPUFuncOp func) {
  b.setInsertionPointToStart(&func.getBody().front());
  query = func.getArgument(0);
  key = func.getArgument(1);
  value = func.getArgument(2);
  output = func.getArgument(3);
  // The tensor maps of Q, K and V are the last three arguments.
  unsigned maps = func.getNumArguments() - 3;
  qMap = func.getArgument(maps);
  kMap = func.getArgument(maps + 1);
  vMap = func.getArgument(maps + 2);
  unsigned firstCapture = 4;
  if (spec.lseType)
    lse = func.getArgument(firstCapture++);

  tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  warpgroup = div(tid, idx(128));
  warpInGroup = rem(div(tid, idx(32)), idx(4));
  Value lane = rem(tid, idx(32));
  groupId = div(lane, idx(4));
  threadInGroup = rem(lane, idx(4));
  TileCoordinates coordinates =
      emitTileCoordinates(b, function, query, key, config.blockM);
  Value tileIndex = coordinates.tileIndex;
  head = coordinates.head;
  batch = coordinates.batch;
  qLength = coordinates.qLength;
  kvLength = coordinates.kvLength;
  rowStart = coordinates.rowStart;

  TileCloner::Roots roots;
  roots.batch = batch;
  roots.head = head;
  roots.tileIndex = tileIndex;
  roots.bindKernelArguments(tile, func.getArguments());
  Value localRow =
      add(add(mul(warpgroup, idx(64)), mul(warpInGroup, idx(16))), groupId);
  Value localCol = mul(threadInGroup, idx(2));
  roots.rowBase = [localRow](bool) { return localRow; };
  roots.colBase = [localCol]() { return localCol; };
  roots.rowOffsets = {0, 8};
  for (int64_t n = 0; n < config.blockN / 8; ++n)
    roots.colOffsets.append({8 * n, 8 * n + 1});
  roots.hoistRowValues = true;
  cloner = std::make_unique<TileCloner>(b, function, std::move(roots));
  auto prologue = ub::PoisonOp::create(b, b.getIndexType());
  cloner->setPrologue(prologue);

  KeyBlockPlan plan =
      planKeyBlocks(b, function, *cloner, kvLength, config.blockN);
  kvHead = plan.kvHead;
  classifier = std::move(plan.classifier);
  ranges = plan.ranges;

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
  qBytes = 2 * config.blockM * headDim;
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
  kDesc = descriptor(qBytes, 16);
  vDesc = descriptor(qBytes + config.stages * kSlotBytes,
                     config.blockN * kSlabRowBytes);
  initBarriers();

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
    auto firstWarp =
        scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                   warpInGroup, idx(0)));
    b.setInsertionPointToStart(firstWarp.thenBlock());
    emitProducer();
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
    waitBarrier(qLoaded(), idx(0));
    HopperState state;
    Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    state.acc.assign(valueDim / 2, zero);
    state.rows[0] = state.rows[1] = initialSoftmaxRow(b);
    state.computed = idx(0);
    SmallVector<Value> init = packState(state);
    auto loop = scf::ForOp::create(b, ranges.lo, ranges.hi, idx(1), init);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(loop.getBody());
      HopperState body = unpackState(loop.getRegionIterArgs());
      emitBlock(body, loop.getInductionVar());
      scf::YieldOp::create(b, packState(body));
    }
    state = unpackState(loop.getResults());
    emitEpilogue(state);
  }
  gpu::ReturnOp::create(b);
  if (prologue->use_empty())
    prologue->erase();
}

/// Whether the visibility predicate of the scores body reads a captured
/// tensor: the producer then classifies blocks from loaded data.
static bool visibilityReadsCaptures(const ScoreFunction &function) {
  Value visible = function.getVisible();
  const FusedAttentionTile &tile = function.getTile();
  if (!visible || tile.captures.empty())
    return false;
  llvm::SmallPtrSet<Value, 4> captures(tile.captures.begin(),
                                       tile.captures.end());
  SmallVector<Value> worklist{visible};
  llvm::SmallPtrSet<Value, 32> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    if (captures.contains(v))
      return true;
    Operation *op = v.getDefiningOp();
    if (!op)
      continue;
    // Operands, and values used inside the op's regions.
    op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        worklist.push_back(operand);
    });
  }
  return false;
}

FailureOr<gpu::GPUFuncOp> mlir::fa::buildHopperAttentionKernel(
    OpBuilder &builder, gpu::GPUModuleOp module, const FusedAttentionTile &tile,
    const AttentionKernelSpec &spec, const HopperConfig &givenConfig,
    const GPUTarget &target, Location loc) {
  FailureOr<ScoreFunction> function = ScoreFunction::analyze(tile);
  if (failed(function))
    return failure();
  HopperConfig config = givenConfig;
  chooseHopperRegisters(spec, visibilityReadsCaptures(*function), config);
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
  // Q, K and V by TMA: a box is one 64-column slab of a tile's rows.
  for (auto [argument, rows] : {std::pair<int64_t, int64_t>{0, config.blockM},
                                {1, config.blockN},
                                {2, config.blockN}})
    info.tensorMaps.push_back({argument, {64, rows, 1, 1}});
  gpu::GPUFuncOp func = createAttentionKernel(builder, module, spec, info, loc);

  ImplicitLocOpBuilder b(loc, builder);
  HopperKernelEmitter(b, spec, config, *function).emit(func);
  func.setName(getAttentionKernelName(spec, config, func));
  return func;
}
