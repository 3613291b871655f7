//===- BlockClassifier.cpp - Which key blocks a query tile sees -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "BlockClassifier.h"
#include "IntervalEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

BlockClassifier::BlockClassifier(ImplicitLocOpBuilder &b,
                                 const ScoreFunction &function,
                                 TileCloner &cloner, Value rows, Value keys,
                                 int64_t blockN,
                                 std::optional<BlockTable> table)
    : b(b), function(function), cloner(cloner), rows(rows), keys(keys),
      blockN(blockN), tileIntervals(std::make_shared<TileIntervals>()),
      table(std::move(table)) {
  // The rows of the tile, [0, rows - 1], where the prologue's values can
  // use them.
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(cloner.getPrologue());
  tileIntervals->rowIndex.lo = arith::ConstantIndexOp::create(b, 0);
  tileIntervals->rowIndex.hi = add(rows, -1);
}

Value BlockRanges::isUnmasked(ImplicitLocOpBuilder &b, Value block) const {
  Value below =
      b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, block, fullHi);
  Value atLeast =
      arith::CmpIOp::create(b, arith::CmpIPredicate::sge, block, fullLo);
  return arith::AndIOp::create(b, atLeast, below);
}

ValueRange mlir::fa::detail::emitGuardedValues(
    ImplicitLocOpBuilder &b, ValueRange before, Value condition,
    function_ref<SmallVector<Value>(ValueRange)> thenEmit,
    function_ref<SmallVector<Value>(ValueRange)> elseEmit) {
  auto ifOp = scf::IfOp::create(b, TypeRange(before), condition,
                                /*addThenBlock=*/true, /*addElseBlock=*/true);
  for (auto [block, emitBranch] :
       {std::make_pair(ifOp.thenBlock(), thenEmit),
        std::make_pair(ifOp.elseBlock(), elseEmit)}) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(block);
    scf::YieldOp::create(b,
                         emitBranch ? ValueRange(emitBranch(before)) : before);
  }
  return ifOp.getResults();
}

Value BlockClassifier::add(Value x, int64_t c) {
  return b.createOrFold<arith::AddIOp>(x, arith::ConstantIndexOp::create(b, c));
}

/// Lanes that classify one block of the table together: a warp classifies
/// 32 / kTableGroupLanes blocks at once, each lane with blockN /
/// kTableGroupLanes loads in flight.
static constexpr int64_t kTableGroupLanes = 8;

std::pair<Value, Value> BlockClassifier::classify(Value first, Value last,
                                                  int64_t loadsPerLane,
                                                  int64_t groupLanes) {
  Value blockSize = arith::ConstantIndexOp::create(b, blockN);
  Value zero = arith::ConstantIndexOp::create(b, 0);
  // Padding past the last key is hidden.
  Value end = b.createOrFold<arith::MulIOp>(last, blockSize);
  Value padded =
      b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::sgt, end, keys);
  Value visible = function.getVisible();
  if (!visible)
    return {arith::ConstantIntOp::create(b, 1, 1), padded};

  Abstract col, start;
  col.lo = zero;
  col.hi = arith::ConstantIndexOp::create(b, blockN - 1);
  start.lo = b.createOrFold<arith::MulIOp>(first, blockSize);
  start.hi = b.createOrFold<arith::MulIOp>(add(last, -1), blockSize);
  IntervalEmitter emitter(b, function, cloner, *tileIntervals, col, start,
                          loadsPerLane, groupLanes);
  Abstract result = emitter.evaluate(visible);
  return {result.canTrue,
          b.createOrFold<arith::OrIOp>(result.canFalse, padded)};
}

Value BlockClassifier::searchFirst(Value lo, Value hi,
                                   function_ref<Value(Value)> pred) {
  Type index = b.getIndexType();
  auto loop = scf::WhileOp::create(
      b, TypeRange{index, index}, ValueRange{lo, hi},
      [&](OpBuilder &, Location, ValueRange args) {
        Value more = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                           args[0], args[1]);
        scf::ConditionOp::create(b, more, args);
      },
      [&](OpBuilder &, Location, ValueRange args) {
        Value mid = arith::DivUIOp::create(
            b, arith::AddIOp::create(b, args[0], args[1]),
            arith::ConstantIndexOp::create(b, 2));
        Value holds = pred(mid);
        Value newLo = arith::SelectOp::create(b, holds, args[0], add(mid, 1));
        Value newHi = arith::SelectOp::create(b, holds, mid, args[1]);
        scf::YieldOp::create(b, ValueRange{newLo, newHi});
      });
  return loop.getResult(0);
}

Value BlockClassifier::mayBeVisible(Value block) {
  if (!table)
    return classify(block, add(block, 1), /*loadsPerLane=*/1).first;
  // Blocks past the table may be visible (the key loop classifies none:
  // its code would take registers from every kernel).
  auto inTable = scf::IfOp::create(
      b, TypeRange{b.getI1Type()},
      b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, block, tableEnd),
      /*addThenBlock=*/true, /*addElseBlock=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(inTable.thenBlock());
  Value entry = loadEntry(block);
  scf::YieldOp::create(
      b, ValueRange{arith::CmpIOp::create(
             b, arith::CmpIPredicate::ne,
             arith::AndIOp::create(b, entry, i8(kMayBeVisible)), i8(0))});
  b.setInsertionPointToStart(inTable.elseBlock());
  scf::YieldOp::create(
      b, ValueRange{arith::ConstantIntOp::create(b, 1, 1).getResult()});
  return inTable.getResult(0);
}

Value BlockClassifier::entryAddress(Value block) {
  Value offset = b.createOrFold<arith::IndexCastOp>(b.getI32Type(), block);
  return LLVM::GEPOp::create(b, table->entries.getType(), b.getI8Type(),
                             tableOrigin, ValueRange{offset});
}

Value BlockClassifier::loadEntry(Value block) {
  return LLVM::LoadOp::create(b, b.getI8Type(), entryAddress(block));
}

Value BlockClassifier::i8(int64_t v) {
  return arith::ConstantOp::create(b, b.getI8IntegerAttr(v));
}

Value mlir::fa::detail::reduceWarpI32(ImplicitLocOpBuilder &b, Value x,
                                      bool max) {
  for (int32_t offset = 16; offset >= 1; offset /= 2) {
    Value other =
        gpu::ShuffleOp::create(b, x, offset, 32, gpu::ShuffleMode::XOR)
            .getShuffleResult();
    x = max ? Value(arith::MaxSIOp::create(b, x, other))
            : Value(arith::MinSIOp::create(b, x, other));
  }
  return x;
}

BlockRanges BlockClassifier::computeRangesFromTable(Value firstBlock,
                                                    Value numBlocks) {
  using P = arith::CmpIPredicate;
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto minS = [&](Value x, Value y) {
    return b.createOrFold<arith::MinSIOp>(x, y);
  };
  auto maxS = [&](Value x, Value y) {
    return b.createOrFold<arith::MaxSIOp>(x, y);
  };
  auto has = [&](Value entry, int64_t bit) {
    return arith::CmpIOp::create(
        b, P::ne, arith::AndIOp::create(b, entry, i8(bit)), i8(0));
  };
  // The address block 0's entry would have: entries start at firstBlock.
  tableOrigin = LLVM::GEPOp::create(
      b, table->entries.getType(), b.getI8Type(), table->entries,
      ValueRange{arith::IndexCastOp::create(
          b, b.getI32Type(),
          b.createOrFold<arith::SubIOp>(idx(0), firstBlock))});
  tableEnd = minS(numBlocks, add(firstBlock, table->capacity));
  Value lane = gpu::LaneIdOp::create(b, /*upper_bound=*/nullptr);

  // The build: each group of kTableGroupLanes lanes classifies one block,
  // a warp `groups` consecutive blocks per step, the warps interleaved.
  // The loop is warp-uniform (the classification shuffles); a group past
  // the table's end classifies a clamped block and stores nothing.
  int64_t groups = 32 / kTableGroupLanes;
  Value group = b.createOrFold<arith::DivUIOp>(lane, idx(kTableGroupLanes));
  Value isLeader = arith::CmpIOp::create(
      b, P::eq, b.createOrFold<arith::RemUIOp>(lane, idx(kTableGroupLanes)),
      idx(0));
  int64_t loadsPerLane =
      std::max<int64_t>(1, llvm::divideCeil(blockN, kTableGroupLanes));
  scf::ForOp::create(
      b,
      b.createOrFold<arith::AddIOp>(
          firstBlock, b.createOrFold<arith::MulIOp>(table->warp, idx(groups))),
      tableEnd, idx(table->warps * groups), ValueRange{},
      [&](OpBuilder &, Location, Value step, ValueRange) {
        Value block = b.createOrFold<arith::AddIOp>(step, group);
        Value inTable = arith::CmpIOp::create(b, P::slt, block, tableEnd);
        auto [canTrue, canFalse] =
            classify(block, add(block, 1), loadsPerLane, kTableGroupLanes);
        Value entry = arith::SelectOp::create(
            b, canTrue,
            arith::SelectOp::create(b, canFalse, i8(kMayBeVisible),
                                    i8(kMayBeVisible | kFullyVisible)),
            i8(0));
        auto leader =
            scf::IfOp::create(b, arith::AndIOp::create(b, isLeader, inTable));
        {
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPointToStart(leader.thenBlock());
          LLVM::StoreOp::create(b, entry, entryAddress(block));
        }
        scf::YieldOp::create(b);
      });
  gpu::BarrierOp::create(b);

  // Every warp reads the ranges from the table, its lanes 32 entries at a
  // time: lo and hi around the blocks that may be visible, fullLo the
  // first fully visible one.
  Value firstLane = b.createOrFold<arith::AddIOp>(firstBlock, lane);
  auto scan = scf::ForOp::create(
      b, firstLane, tableEnd, idx(32),
      ValueRange{tableEnd, firstBlock, tableEnd},
      [&](OpBuilder &, Location, Value block, ValueRange acc) {
        Value entry = loadEntry(block);
        Value visible = has(entry, kMayBeVisible);
        Value full = has(entry, kFullyVisible);
        scf::YieldOp::create(
            b, ValueRange{arith::SelectOp::create(b, visible,
                                                  minS(acc[0], block), acc[0]),
                          arith::SelectOp::create(
                              b, visible, maxS(acc[1], add(block, 1)), acc[1]),
                          arith::SelectOp::create(b, full, minS(acc[2], block),
                                                  acc[2])});
      });
  // Block indices fit i32 (the table's entries are addressed so).
  auto reduce = [&](Value v, bool max) {
    return arith::IndexCastOp::create(
        b, b.getIndexType(),
        reduceWarpI32(b, arith::IndexCastOp::create(b, b.getI32Type(), v),
                      max));
  };
  BlockRanges ranges;
  Value lo = reduce(scan.getResult(0), /*max=*/false);
  Value hi = reduce(scan.getResult(1), /*max=*/true);
  Value firstFull = reduce(scan.getResult(2), /*max=*/false);
  // Blocks past the table may be visible, and run masked.
  Value beyond = arith::CmpIOp::create(b, P::slt, tableEnd, numBlocks);
  ranges.hi = arith::SelectOp::create(b, beyond, numBlocks, hi);
  ranges.lo = minS(lo, ranges.hi);
  ranges.fullLo = minS(firstFull, ranges.hi);
  // fullHi: the end of the run of fully visible blocks from fullLo.
  auto run = scf::ForOp::create(
      b, b.createOrFold<arith::AddIOp>(add(ranges.fullLo, 1), lane), tableEnd,
      idx(32), ValueRange{tableEnd},
      [&](OpBuilder &, Location, Value block, ValueRange acc) {
        Value full = has(loadEntry(block), kFullyVisible);
        scf::YieldOp::create(b, ValueRange{arith::SelectOp::create(
                                    b, full, acc[0], minS(acc[0], block))});
      });
  Value runEnd = reduce(run.getResult(0), /*max=*/false);
  ranges.fullHi = maxS(minS(runEnd, ranges.hi), ranges.fullLo);
  return ranges;
}

BlockRanges BlockClassifier::computeRanges(Value firstBlock, Value numBlocks) {
  if (table && hasPredicate())
    return computeRangesFromTable(firstBlock, numBlocks);
  // Searches start at `zero`, the first block of the range.
  Value zero = firstBlock;
  BlockRanges ranges;
  if (!hasPredicate()) {
    // Only the padding of the last block masks.
    Value full = b.createOrFold<arith::DivUIOp>(
        keys, arith::ConstantIndexOp::create(b, blockN));
    ranges.lo = ranges.fullLo = zero;
    ranges.fullHi = b.createOrFold<arith::MinSIOp>(full, numBlocks);
    ranges.hi = numBlocks;
    return ranges;
  }
  auto canBeVisible = [&](Value first, Value last) {
    return classify(first, last, /*loadsPerLane=*/1).first;
  };
  auto canBeHidden = [&](Value first, Value last) {
    return classify(first, last, /*loadsPerLane=*/1).second;
  };
  // lo: the first block of the first prefix [0, x) that may be visible.
  Value prefixEnd = searchFirst(add(zero, 1), add(numBlocks, 1),
                                [&](Value x) { return canBeVisible(zero, x); });
  ranges.lo = add(prefixEnd, -1);
  // hi: the first x whose suffix [x, numBlocks) is invisible.
  Value one = arith::ConstantIntOp::create(b, 1, 1);
  ranges.hi = searchFirst(ranges.lo, numBlocks, [&](Value x) {
    return b.createOrFold<arith::XOrIOp>(canBeVisible(x, numBlocks), one);
  });
  ranges.lo = b.createOrFold<arith::MinSIOp>(ranges.lo, ranges.hi);

  // A mask that can always hide (data-dependent, score-dependent) has no
  // fully visible blocks.
  if (matchPattern(canBeHidden(zero, add(zero, 1)), m_One())) {
    ranges.fullLo = ranges.fullHi = ranges.hi;
    return ranges;
  }
  // fullLo: the first fully visible block from lo (a short scan: masks put
  // their partial blocks at the edges); fullHi: the end of that run.
  Type index = b.getIndexType();
  auto scan = scf::WhileOp::create(
      b, TypeRange{index}, ValueRange{ranges.lo},
      [&](OpBuilder &, Location, ValueRange args) {
        Value inside = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                             args[0], ranges.hi);
        Value partial = canBeHidden(args[0], add(args[0], 1));
        scf::ConditionOp::create(b, arith::AndIOp::create(b, inside, partial),
                                 args);
      },
      [&](OpBuilder &, Location, ValueRange args) {
        scf::YieldOp::create(b, add(args[0], 1));
      });
  ranges.fullLo = scan.getResult(0);
  Value runEnd =
      searchFirst(add(ranges.fullLo, 1), add(ranges.hi, 1),
                  [&](Value x) { return canBeHidden(ranges.fullLo, x); });
  ranges.fullHi =
      b.createOrFold<arith::MaxSIOp>(add(runEnd, -1), ranges.fullLo);
  return ranges;
}

KeyBlockPlan mlir::fa::detail::planKeyBlocks(ImplicitLocOpBuilder &b,
                                             const ScoreFunction &function,
                                             TileCloner &cloner, Value kvLength,
                                             int64_t blockN,
                                             std::optional<BlockTable> table) {
  FusedAttentionTile tile = function.getTile();
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto ceilDiv = [&](Value x, Value y) {
    return b.createOrFold<arith::CeilDivUIOp>(x, y);
  };
  KeyBlockPlan plan;
  plan.kvHead = cloner.uniform(tile.kvHead);
  Value blockSize = idx(blockN);
  // Blocks up to the loop's bound (the end of what causal lets the tile
  // see) and the keys there are.
  Value keysEnd = b.createOrFold<arith::MaxSIOp>(
      cloner.uniform(tile.kvLoop.getUpperBound()), idx(0));
  Value numBlocks = b.createOrFold<arith::MinSIOp>(
      ceilDiv(keysEnd, blockSize), ceilDiv(kvLength, blockSize));
  // A split tile walks its part, [first block, numBlocks); an empty part
  // (past the keys the tile sees) walks none.
  Value firstBlock = idx(0);
  if (tile.firstBlock) {
    firstBlock = cloner.uniform(tile.firstBlock);
    if (tile.firstBlockScale != 1)
      firstBlock =
          b.createOrFold<arith::MulIOp>(firstBlock, idx(tile.firstBlockScale));
    numBlocks = b.createOrFold<arith::MaxSIOp>(numBlocks, firstBlock);
  }
  // A packed tile has packedHeads rows per position.
  Value rows = cloner.uniform(tile.rows);
  if (tile.packedHeads > 1) {
    // In the prologue, where the classifier reads it.
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(cloner.getPrologue());
    rows = b.createOrFold<arith::MulIOp>(
        rows, arith::ConstantIndexOp::create(b, tile.packedHeads));
  }
  // A variable-length tile past the end of its sequence has no rows (the
  // grid covers the longest sequence): it visits no key.
  if (tile.isVarlen())
    numBlocks = b.createOrFold<arith::SelectOp>(
        b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::sgt, rows, idx(0)),
        numBlocks, firstBlock);
  plan.classifier = std::make_unique<BlockClassifier>(
      b, function, cloner, rows, kvLength, blockN, std::move(table));
  plan.ranges = plan.classifier->computeRanges(firstBlock, numBlocks);
  return plan;
}
