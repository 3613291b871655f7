//===- BlockClassifier.cpp - Which key blocks a query tile sees -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "BlockClassifier.h"
#include "IntervalEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

BlockClassifier::BlockClassifier(ImplicitLocOpBuilder &b,
                                 const ScoreFunction &function,
                                 TileCloner &cloner, Value rows, Value keys,
                                 int64_t blockN)
    : b(b), function(function), cloner(cloner), rows(rows), keys(keys),
      blockN(blockN), tileIntervals(std::make_shared<TileIntervals>()) {
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

std::pair<Value, Value> BlockClassifier::classify(Value first, Value last) {
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
  IntervalEmitter emitter(b, function, cloner, *tileIntervals, col, start);
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

BlockRanges BlockClassifier::computeRanges(Value firstBlock, Value numBlocks) {
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
    return classify(first, last).first;
  };
  auto canBeHidden = [&](Value first, Value last) {
    return classify(first, last).second;
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
                                             int64_t blockN) {
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
  plan.classifier = std::make_unique<BlockClassifier>(b, function, cloner, rows,
                                                      kvLength, blockN);
  plan.ranges = plan.classifier->computeRanges(firstBlock, numBlocks);
  return plan;
}
