//===- HopperConsumer.cpp - The consumer warpgroups' key loop -------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The consumer side of the hopper-ws kernel: per computed key block j, with
// the P V of block j - 1 still pending (the overlap inside a warpgroup,
// docs/HopperStrategy.md):
//
//   wait K_j; [my turn]  issue S_j = Q K_j^T          (wgmma group 1)
//   wait V_j-1;          issue O += P_j-1 V_j-1       (wgmma group 2)
//   [next warpgroup's turn]
//   wait_group 1 (S_j is ready); release K_j
//   the scores body and online softmax of S_j        (overlaps group 2)
//   wait_group 0 (O is ready); release V_j-1
//   O *= alpha_j; P_j = the probabilities as 16-bit A fragments
//
// The first computed block has no pending P V (it issues S only), and the
// last P V follows the loop. O is an accumulator of an issued wgmma from
// its issue to `wait_group 0`: in between it is neither read nor passed
// through an scf.if result (which would become a copy), so the branches
// between masked and unmasked blocks wrap the softmax only; the issues and
// the waits are straight-line code per block, and the pending P stays
// live (fenced) until the wait that ends its MMAs.
//
//===----------------------------------------------------------------------===//

#include "HopperKernelEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
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
    row.appendTo(values);
  llvm::append_range(values, state.pending);
  values.push_back(state.computed);
  return values;
}

HopperState HopperKernelEmitter::unpackState(ValueRange values) {
  HopperState state;
  size_t at = valueDim / 2;
  state.acc.assign(values.begin(), values.begin() + at);
  for (SoftmaxRowState &row : state.rows)
    row = SoftmaxRowState::takeFrom(values, at, keepsExactSum());
  size_t pending = config.blockN / 4;
  state.pending.assign(values.begin() + at, values.begin() + at + pending);
  state.computed = values[at + pending];
  return state;
}

HopperState HopperKernelEmitter::initialState(Value computed) {
  HopperState state;
  Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
  state.acc.assign(valueDim / 2, zero);
  state.rows[0] = state.rows[1] =
      initialSoftmaxRow(b, fixedMax, keepsExactSum());
  // No P is pending before the first block; the registers are never read.
  state.pending.assign(config.blockN / 4,
                       ub::PoisonOp::create(b, b.getI32Type()));
  state.computed = computed;
  return state;
}

void HopperKernelEmitter::emitGuarded(
    HopperState &state, Value condition,
    function_ref<void(HopperState &)> thenEmit,
    function_ref<void(HopperState &)> elseEmit) {
  auto branch = [&](function_ref<void(HopperState &)> emit) {
    return [this, emit](ValueRange values) {
      HopperState copy = unpackState(values);
      if (emit)
        emit(copy);
      return packState(copy);
    };
  };
  auto thenBranch = branch(thenEmit), elseBranch = branch(elseEmit);
  state = unpackState(emitGuardedValues(b, packState(state), condition,
                                        thenBranch, elseBranch));
}

HopperKernelEmitter::Stage HopperKernelEmitter::getStage(Value computed) {
  Stage stage;
  stage.slot = rem(computed, idx(config.stages));
  stage.parity = rem(div(computed, idx(config.stages)), idx(2));
  return stage;
}

Value HopperKernelEmitter::slotDescriptor(Value base, Value slot,
                                          int64_t slotBytes) {
  Value slot64 = arith::IndexCastOp::create(b, b.getI64Type(), slot);
  return arith::AddIOp::create(
      b, base,
      arith::MulIOp::create(
          b, slot64,
          arith::ConstantOp::create(b, b.getI64IntegerAttr(slotBytes >> 4))));
}

void HopperKernelEmitter::releaseQuery() {
  // Every consumer thread arrives: its reads of the tile slot (and its
  // MMAs that read Q) come before the producer's next write of them
  // (compute-sanitizer's racecheck flagged the slot with one arrival per
  // warpgroup).
  NVVM::MBarrierArriveOp::create(b, Type(), qReleased(), Value());
}

void HopperKernelEmitter::releaseStage(Value bar) {
  // The warpgroup's MMAs that read the slot completed (the wait before
  // this): its first thread arrives for all of them.
  auto first =
      scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                 rem(tid, idx(128)), idx(0)));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(first.thenBlock());
  NVVM::MBarrierArriveOp::create(b, Type(), bar, Value());
}

void HopperKernelEmitter::waitTurn() {
  if (pingPong())
    NVVM::BarrierOp::create(b, Type(), turnBarrier(warpgroup), i32(2 * 128),
                            NVVM::BarrierReductionAttr(), Value());
}

void HopperKernelEmitter::passTurn() {
  if (pingPong())
    NVVM::BarrierArriveOp::create(
        b, turnBarrier(rem(add(warpgroup, idx(1)), idx(config.warpgroups()))),
        i32(2 * 128));
}

void HopperKernelEmitter::fenceGatheredPages() {
  // cp.async writes through the generic proxy; wgmma reads through the
  // async proxy.
  if (config.gathersPages())
    NVVM::FenceProxyOp::create(
        b, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
}

SmallVector<Value> HopperKernelEmitter::issueScores(const Stage &stage) {
  // D / 16 MMAs of 64 x block-n x 16, Q and K both K-major, once the
  // producer's K has landed.
  waitBarrier(kLoaded(stage.slot), stage.parity);
  fenceGatheredPages();
  waitTurn();
  Value kSlot = slotDescriptor(kDesc, stage.slot, kSlotBytes);
  emitWgmmaFence(b);
  SmallVector<Value> scores = emitWgmmaSS(
      b, /*acc=*/{}, qDesc, getKMajorStepOffsets(headDim, config.blockM), kSlot,
      getKMajorStepOffsets(headDim, config.blockN), config.blockN, elementType,
      /*accumulate=*/false);
  emitWgmmaCommit(b);
  return scores;
}

SmallVector<Value> HopperKernelEmitter::computeScores(const Stage &stage) {
  SmallVector<Value> scores = issueScores(stage);
  passTurn();
  emitWgmmaWait(b, 0);
  scores = fenceRegisters(b, scores);
  releaseStage(kReleased(stage.slot));
  return scores;
}

void HopperKernelEmitter::issueValues(HopperState &state, const Stage &stage) {
  // block-n / 16 MMAs of 64 x Dv x 16, P from registers, V N-major (16
  // keys are 2048 bytes of every slab).
  waitBarrier(vLoaded(stage.slot), stage.parity);
  fenceGatheredPages();
  Value vSlot = slotDescriptor(vDesc, stage.slot, vSlotBytes);
  state.pending = fenceRegisters(b, state.pending);
  state.acc = fenceRegisters(b, state.acc);
  emitWgmmaFence(b);
  state.acc = emitWgmmaRS(b, state.acc, state.pending, vSlot,
                          getRowStepOffsets(config.blockN), valueDim,
                          elementType, /*transposeB=*/true);
  emitWgmmaCommit(b);
}

void HopperKernelEmitter::finishValues(HopperState &state, const Stage &stage) {
  emitWgmmaWait(b, 0);
  // O, and the P the MMAs read, stay in their registers until here.
  state.acc = fenceRegisters(b, state.acc);
  state.pending = fenceRegisters(b, state.pending);
  releaseStage(vReleased(stage.slot));
}

HopperKernelEmitter::BlockSoftmax
HopperKernelEmitter::emitSoftmax(ArrayRef<Value> scores, Value block,
                                 bool masked, const HopperState &state) {
  int64_t blockN = config.blockN;
  Value kvStart = mul(block, idx(blockN));
  auto anchor = ub::PoisonOp::create(b, b.getIndexType());
  cloner->beginBlock(kvStart, anchor);

  // The scores body per accumulator element: element 4n + 2h + e is
  // fragment row h (rows g, g + 8), column 2n + e (key 8n + 2c + e).
  Value negInf = arith::ConstantOp::create(
      b, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
  // This thread's columns of the block that hold keys: the block's first
  // keysLeft of them.
  Value keysLeft, padding;
  if (masked) {
    Value first = add(kvStart, mul(threadInGroup, idx(2)));
    keysLeft = minS(maxS(sub(kvLength, first), idx(0)), idx(blockN));
  }
  int64_t nTiles = blockN / 8;
  BlockSoftmax result;
  result.probabilities.resize(blockN / 2);
  // A mask of affine bounds (causal, windows) and the padding are one
  // interval of columns per row.
  std::optional<TileCloner::ColumnInterval> intervals[2];
  if (masked && config.columnIntervals)
    for (int64_t h = 0; h < 2; ++h)
      intervals[h] = cloner->visibleColumns(h, keysLeft);
  for (int64_t h = 0; h < 2; ++h) {
    std::optional<TileCloner::ColumnInterval> &interval = intervals[h];
    if (masked && !interval && !padding)
      padding = hideIntegerRange(
          b, arith::IndexCastOp::create(b, b.getI32Type(), keysLeft));
    SmallVector<Value> rowScores;
    for (int64_t n = 0; n < nTiles; ++n) {
      for (int64_t e = 0; e < 2; ++e) {
        unsigned col = 2 * n + e;
        Value qk = scores[4 * n + 2 * h + e];
        Value x = cloner->element(function.getInner(), h, col, qk);
        if (masked)
          x = cloner->maskScore(x, h, col, qk, interval, padding, negInf);
        rowScores.push_back(x);
      }
    }
    result.rows[h] = state.rows[h];
    SoftmaxBlockRow row =
        updateSoftmaxRow(b, rowScores, scoreScale, result.rows[h],
                         {fixedMax, elementType, config.emulatedExp2});
    result.alpha[h] =
        row.alpha ? row.alpha
                  : arith::ConstantOp::create(b, b.getF32FloatAttr(1.0f));
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t e = 0; e < 2; ++e)
        result.probabilities[4 * n + 2 * h + e] = row.probabilities[2 * n + e];
  }
  if (anchor->use_empty())
    anchor->erase();
  return result;
}

HopperKernelEmitter::BlockSoftmax
HopperKernelEmitter::emitSoftmaxBranches(ArrayRef<Value> scores, Value block,
                                         Value unmasked,
                                         const HopperState &state) {
  auto pack = [](const BlockSoftmax &s) {
    SmallVector<Value> values(s.probabilities);
    for (int64_t h = 0; h < 2; ++h) {
      s.rows[h].appendTo(values);
      values.push_back(s.alpha[h]);
    }
    return values;
  };
  // The branches yield the probabilities as f32 and P is packed after
  // them: packing inside each branch (half as many results) made the
  // kernels 6-8% slower on the H200 (bf16, D 128 and 256, causal).
  size_t count = config.blockN / 2 + 2 * (state.rows[0].size() + 1);
  auto ifOp =
      scf::IfOp::create(b, SmallVector<Type>(count, b.getF32Type()), unmasked,
                        /*addThenBlock=*/true, /*addElseBlock=*/true);
  for (auto [branch, masked] : {std::make_pair(ifOp.thenBlock(), false),
                                std::make_pair(ifOp.elseBlock(), true)}) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(branch);
    scf::YieldOp::create(b, pack(emitSoftmax(scores, block, masked, state)));
  }
  ValueRange values = ifOp.getResults();
  BlockSoftmax result;
  result.probabilities.assign(values.begin(),
                              values.begin() + config.blockN / 2);
  size_t at = config.blockN / 2;
  for (int64_t h = 0; h < 2; ++h) {
    result.rows[h] = SoftmaxRowState::takeFrom(values, at, keepsExactSum());
    result.alpha[h] = values[at++];
  }
  return result;
}

SmallVector<Value>
HopperKernelEmitter::packProbabilities(ArrayRef<Value> probabilities) {
  // P as A fragments: for 16 keys 16k..16k+15, registers (row g, keys
  // 2c, 2c+1), (g + 8, same), (g, keys 8 + 2c, +1), (g + 8, same): the
  // accumulator pairs of n-tiles 2k and 2k + 1.
  SmallVector<Value> registers;
  for (int64_t n = 0; n < config.blockN / 8; ++n)
    for (int64_t h = 0; h < 2; ++h)
      registers.push_back(packPair(b, probabilities[4 * n + 2 * h],
                                   probabilities[4 * n + 2 * h + 1],
                                   elementType));
  return registers;
}

void HopperKernelEmitter::takeSoftmax(HopperState &state,
                                      const BlockSoftmax &softmax,
                                      bool rescale) {
  state.rows[0] = softmax.rows[0];
  state.rows[1] = softmax.rows[1];
  // Accumulator 4d + 2h + e is in fragment row h.
  if (rescale && !fixedMax)
    for (auto [i, acc] : llvm::enumerate(state.acc))
      acc = arith::MulFOp::create(b, acc, softmax.alpha[(i / 2) % 2]);
  state.pending = packProbabilities(softmax.probabilities);
}

void HopperKernelEmitter::emitFirstBlock(HopperState &state, Value block) {
  // Nothing is pending: S only, then its softmax, and O stays zero. The
  // softmax branches on the block's class as the loop's do: the first
  // block of a tile is mostly whole (without a mask, all but a key
  // sequence shorter than a block).
  Stage stage = getStage(state.computed);
  SmallVector<Value> scores = computeScores(stage);
  takeSoftmax(
      state,
      emitSoftmaxBranches(scores, block, ranges.isUnmasked(b, block), state),
      /*rescale=*/false);
  state.computed = add(state.computed, idx(1));
}

void HopperKernelEmitter::emitOverlappedBlock(HopperState &state, Value block,
                                              Value unmasked) {
  Stage stage = getStage(state.computed);
  Stage previous = getStage(sub(state.computed, idx(1)));
  SmallVector<Value> scores = issueScores(stage);
  issueValues(state, previous);
  passTurn();
  // S_j is done (groups complete in order); the P V of block j - 1 runs
  // on under the softmax.
  emitWgmmaWait(b, 1);
  scores = fenceRegisters(b, scores);
  releaseStage(kReleased(stage.slot));
  BlockSoftmax softmax = emitSoftmaxBranches(scores, block, unmasked, state);
  finishValues(state, previous);
  takeSoftmax(state, softmax, /*rescale=*/true);
  state.computed = add(state.computed, idx(1));
}

Value HopperKernelEmitter::computes(Value block, Value unmasked) {
  if (!classifier->hasPredicate())
    return arith::ConstantOp::create(b, b.getBoolAttr(true));
  // The classification runs for the masked blocks only.
  auto check = scf::IfOp::create(b, TypeRange{b.getI1Type()}, unmasked,
                                 /*addThenBlock=*/true, /*addElseBlock=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(check.thenBlock());
  scf::YieldOp::create(b, unmasked);
  b.setInsertionPointToStart(check.elseBlock());
  scf::YieldOp::create(b, classifier->mayBeVisible(block));
  return check.getResult(0);
}

Value HopperKernelEmitter::findFirstComputedBlock() {
  if (!classifier->hasPredicate())
    return ranges.lo;
  // The first block in [lo, hi) that is computed, or hi.
  auto loop = scf::WhileOp::create(b, TypeRange{b.getIndexType()},
                                   ValueRange{ranges.lo});
  OpBuilder::InsertionGuard g(b);
  Block *before =
      b.createBlock(&loop.getBefore(), {}, b.getIndexType(), {b.getLoc()});
  Value block = before->getArgument(0);
  Value inRange = lt(block, ranges.hi);
  auto found = scf::IfOp::create(b, TypeRange{b.getI1Type()}, inRange,
                                 /*addThenBlock=*/true, /*addElseBlock=*/true);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(found.thenBlock());
    scf::YieldOp::create(b, computes(block, ranges.isUnmasked(b, block)));
    b.setInsertionPointToStart(found.elseBlock());
    scf::YieldOp::create(
        b, ValueRange{arith::ConstantOp::create(b, b.getBoolAttr(true))});
  }
  Value keepLooking = arith::XOrIOp::create(
      b, found.getResult(0), arith::ConstantOp::create(b, b.getBoolAttr(true)));
  scf::ConditionOp::create(b, keepLooking, ValueRange{block});
  Block *after =
      b.createBlock(&loop.getAfter(), {}, b.getIndexType(), {b.getLoc()});
  scf::YieldOp::create(b, ValueRange{add(after->getArgument(0), idx(1))});
  return loop.getResult(0);
}

void HopperKernelEmitter::emitSerialBlock(HopperState &state, Value block,
                                          Value unmasked) {
  Stage stage = getStage(state.computed);
  SmallVector<Value> scores = computeScores(stage);
  takeSoftmax(state, emitSoftmaxBranches(scores, block, unmasked, state),
              /*rescale=*/true);
  issueValues(state, stage);
  finishValues(state, stage);
  state.computed = add(state.computed, idx(1));
}

void HopperKernelEmitter::emitBlock(HopperState &state, Value block) {
  Value unmasked = ranges.isUnmasked(b, block);
  auto compute = [&](HopperState &s) {
    if (config.overlapSoftmax)
      emitOverlappedBlock(s, block, unmasked);
    else
      emitSerialBlock(s, block, unmasked);
  };
  if (!classifier->hasPredicate()) {
    compute(state);
    return;
  }
  // Invisible blocks are skipped (the producer skips them alike).
  emitGuarded(state, computes(block, unmasked), compute, nullptr);
}

void HopperKernelEmitter::emitLastValues(HopperState &state) {
  Stage last = getStage(sub(state.computed, idx(1)));
  issueValues(state, last);
  finishValues(state, last);
}

void HopperKernelEmitter::emitLoop(HopperState &state, Value lo) {
  auto loop = scf::ForOp::create(b, lo, ranges.hi, idx(1), packState(state));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(loop.getBody());
  HopperState body = unpackState(loop.getRegionIterArgs());
  emitBlock(body, loop.getInductionVar());
  scf::YieldOp::create(b, packState(body));
  b.setInsertionPointAfter(loop);
  state = unpackState(loop.getResults());
}

Value HopperKernelEmitter::emitConsumer(Value computed) {
  HopperState state = initialState(computed);
  if (!config.overlapSoftmax) {
    emitLoop(state, ranges.lo);
    releaseQuery();
    if (reloadTile)
      reloadTile();
    emitEpilogue(state);
    return state.computed;
  }
  // The first computed block is peeled (it has no P V to overlap with),
  // the last P V follows the loop; a tile that computes no block skips
  // all of it.
  Value first = findFirstComputedBlock();
  emitGuarded(
      state, lt(first, ranges.hi),
      [&](HopperState &s) {
        emitFirstBlock(s, first);
        emitLoop(s, add(first, idx(1)));
        releaseQuery();
        emitLastValues(s);
      },
      [&](HopperState &) { releaseQuery(); });
  if (reloadTile)
    reloadTile();
  emitEpilogue(state);
  return state.computed;
}
