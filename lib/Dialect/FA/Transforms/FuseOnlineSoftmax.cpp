//===- FuseOnlineSoftmax.cpp - Three softmax loops into one ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The FlashAttention rewrite as a compiler transformation: the exact softmax
// of fa-tile-attention (row max, exp-sum and P.V loops, each recomputing the
// scores) becomes one loop that carries the running max, the running sum and
// a rescaled accumulator, in the log2 domain so that it uses only exp2.
//
// The pattern checks what it rewrites: the three loops must compute the same
// scores (whatever their element-wise body is: scale, score_mod, masks), and
// every other body must be the one tiling builds (TileOps.h). Anything else
// is left unfused with a warning naming what was not recognised.
//
//===----------------------------------------------------------------------===//

#include "TileOps.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/IR/AttentionSignature.h"
#include "fa/Dialect/FA/Transforms/Passes.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <limits>

namespace mlir::fa {
#define GEN_PASS_DEF_FAFUSEONLINESOFTMAX
#include "fa/Dialect/FA/Transforms/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;

static bool hasStage(Operation *op, StringRef stage) {
  auto attr = op->getAttrOfType<StringAttr>(SoftmaxStage::attrName);
  return attr && attr.getValue() == stage;
}

/// True when `init` is a linalg.fill of the constant `expected`.
static bool isFillOf(Value init, double expected) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  FloatAttr value;
  if (!matchPattern(fill.value(), m_Constant(&value)))
    return false;
  return value.getValueAsDouble() == expected;
}

/// Every use of `value` is inside one of `loops` or after `last`.
static bool usesAreFusable(Value value, ArrayRef<scf::ForOp> loops,
                           scf::ForOp last) {
  Block *block = last->getBlock();
  for (OpOperand &use : value.getUses()) {
    Operation *owner = block->findAncestorOpInBlock(*use.getOwner());
    if (!owner)
      return false;
    if (llvm::is_contained(loops, dyn_cast<scf::ForOp>(owner)))
      continue;
    if (!last->isBeforeInBlock(owner))
      return false;
  }
  return true;
}

/// The body of `loop` split at its scores op: the ops up to and including
/// it (the score computation) and the ops after it, without the yield.
struct SplitLoopBody {
  SmallVector<Operation *> prefix, tail;
  Operation *scores = nullptr;
};

static FailureOr<SplitLoopBody> splitAtScores(scf::ForOp loop) {
  SplitLoopBody split;
  for (Operation &op : loop.getBody()->without_terminator()) {
    if (getRole(&op) == TileRole::scores) {
      if (split.scores)
        return failure();
      split.scores = &op;
      split.prefix.push_back(&op);
      continue;
    }
    (split.scores ? split.tail : split.prefix).push_back(&op);
  }
  if (!split.scores)
    return failure();
  return split;
}

/// The three loops compute the same scores: their scores ops are the same
/// computation modulo the induction variable.
static bool computeSameScores(scf::ForOp a, const SplitLoopBody &sa,
                              scf::ForOp b, const SplitLoopBody &sb) {
  DenseMap<Value, Value> equivalent;
  equivalent[a.getInductionVar()] = b.getInductionVar();
  return areEquivalentOps(sa.scores, sb.scores, equivalent);
}

/// `op` is a canonical tile op of `role` whose operands are `operands` (a
/// null entry accepts any value there, e.g. an uninitialized out tensor).
static bool isTileOp(Operation *op, StringRef role, ArrayRef<Value> operands) {
  if (!op || getRole(op) != role || !isCanonicalTileOp(op) ||
      op->getNumOperands() != operands.size())
    return false;
  for (auto [actual, expected] : llvm::zip(op->getOperands(), operands))
    if (expected && actual != expected)
      return false;
  return true;
}

static Operation *producer(Value value) {
  return value ? value.getDefiningOp() : nullptr;
}

/// Besides `expected`, `ops` holds only shape bookkeeping (the out tensors
/// of elementwise maps and their sizes), which carries no computation.
static bool onlyShapeOpsBesides(ArrayRef<Operation *> ops,
                                ArrayRef<Operation *> expected) {
  return llvm::all_of(ops, [&](Operation *op) {
    return llvm::is_contained(expected, op) ||
           isa<tensor::EmptyOp, tensor::DimOp, arith::ConstantIndexOp>(op);
  });
}

FailureOr<UnfusedSoftmaxLoops>
mlir::fa::matchUnfusedSoftmaxLoops(scf::ForOp rowMax, std::string *why) {
  auto reject = [&](const Twine &reason) -> FailureOr<UnfusedSoftmaxLoops> {
    if (why)
      *why = reason.str();
    return failure();
  };
  if (!hasStage(rowMax, SoftmaxStage::rowMax) || rowMax.getNumResults() != 1)
    return reject("not a row_max loop with one result");
  UnfusedSoftmaxLoops loops{rowMax, nullptr, nullptr};
  for (Operation *op = rowMax->getNextNode(); op; op = op->getNextNode()) {
    auto loop = dyn_cast<scf::ForOp>(op);
    if (!loop)
      continue;
    if (!loops.rowSum && hasStage(loop, SoftmaxStage::rowSum)) {
      loops.rowSum = loop;
    } else if (loops.rowSum && hasStage(loop, SoftmaxStage::weightedValues)) {
      loops.weightedValues = loop;
      break;
    } else if (hasStage(loop, SoftmaxStage::rowMax)) {
      break; // the next tile's loops
    }
  }
  if (!loops.rowSum || !loops.weightedValues)
    return reject("the row_sum and weighted_values loops do not follow");

  // Same iteration space, one carried tensor each, initialized as the tiling
  // pass does (-inf, 0, 0).
  for (scf::ForOp loop : {loops.rowSum, loops.weightedValues}) {
    auto same = [](Value a, Value b) {
      return isEqualConstantIntOrValue(getAsOpFoldResult(a),
                                       getAsOpFoldResult(b));
    };
    if (!same(loop.getLowerBound(), rowMax.getLowerBound()) ||
        !same(loop.getUpperBound(), rowMax.getUpperBound()) ||
        !same(loop.getStep(), rowMax.getStep()) || loop.getNumResults() != 1)
      return reject("the three loops do not share bounds and step");
  }
  if (!isFillOf(rowMax.getInitArgs()[0],
                -std::numeric_limits<double>::infinity()) ||
      !isFillOf(loops.rowSum.getInitArgs()[0], 0.0) ||
      !isFillOf(loops.weightedValues.getInitArgs()[0], 0.0))
    return reject("a loop's carried tensor does not start as tiling makes it "
                  "(-inf, 0, 0)");

  FailureOr<SplitLoopBody> maxBody = splitAtScores(rowMax);
  FailureOr<SplitLoopBody> sumBody = splitAtScores(loops.rowSum);
  FailureOr<SplitLoopBody> pvBody = splitAtScores(loops.weightedValues);
  if (failed(maxBody) || failed(sumBody) || failed(pvBody))
    return reject("each loop must hold exactly one 'scores' op");
  if (!computeSameScores(rowMax, *maxBody, loops.rowSum, *sumBody) ||
      !computeSameScores(rowMax, *maxBody, loops.weightedValues, *pvBody))
    return reject("the three loops do not compute the same scores (an edit "
                  "to one loop's score computation must be made in all "
                  "three)");

  // What follows the scores in each loop is what tiling builds.
  Value max = rowMax.getResult(0), sum = loops.rowSum.getResult(0);
  auto yielded = [](scf::ForOp loop) {
    return loop.getBody()->getTerminator()->getOperand(0);
  };
  Value maxScores = maxBody->scores->getResult(0);
  Operation *rowMaxOp = producer(yielded(rowMax));
  if (!isTileOp(rowMaxOp, "row_max",
                {maxScores, rowMax.getRegionIterArgs()[0]}) ||
      !onlyShapeOpsBesides(maxBody->tail, {rowMaxOp}))
    return reject("the row_max loop is not 'row_max(scores)'");

  Value sumScores = sumBody->scores->getResult(0);
  Operation *rowSumOp = producer(yielded(loops.rowSum));
  Operation *expOp =
      rowSumOp && rowSumOp->getNumOperands() == 2
          ? producer(rowSumOp->getOperand(0))
          : nullptr;
  if (!isTileOp(expOp, "exp", {sumScores, max, nullptr}) ||
      !isTileOp(rowSumOp, "row_sum",
                {expOp->getResult(0), loops.rowSum.getRegionIterArgs()[0]}) ||
      !onlyShapeOpsBesides(sumBody->tail, {expOp, rowSumOp}))
    return reject("the row_sum loop is not 'row_sum(exp(scores - max))'");

  scf::ForOp pv = loops.weightedValues;
  Value acc = pv.getRegionIterArgs()[0];
  Operation *weighted = producer(yielded(pv));
  Operation *probs = weighted && weighted->getNumOperands() == 3
                         ? producer(weighted->getOperand(0))
                         : nullptr;
  Value valueTile = weighted ? weighted->getOperand(1) : Value();
  if (!isTileOp(probs, TileRole::probabilities,
                {pvBody->scores->getResult(0), max, sum, nullptr}) ||
      !isTileOp(weighted, TileRole::weightedValues,
                {probs->getResult(0), valueTile, acc}) ||
      !acc.hasOneUse() ||
      !isa_and_nonnull<tensor::ExtractSliceOp, PagedRowsOp>(
          valueTile.getDefiningOp()) ||
      !onlyShapeOpsBesides(pvBody->tail,
                           {probs, weighted, valueTile.getDefiningOp()}))
    return reject("the weighted_values loop is not 'weighted_values("
                  "probabilities(scores, max, sum), V rows) + acc'");

  SmallVector<scf::ForOp> all{rowMax, loops.rowSum, pv};
  if (!usesAreFusable(max, all, pv) || !usesAreFusable(sum, all, pv) ||
      !usesAreFusable(pv.getResult(0), all, pv))
    return reject("a loop result is used between the loops");
  return loops;
}

/// The value `scores` yields is the modified score, or select(visible,
/// modified, -inf). Returns the operand that holds the modified score.
static OpOperand &modifiedScoreUse(linalg::GenericOp scores) {
  Operation *yield = scores.getBody()->getTerminator();
  OpOperand &yielded = yield->getOpOperand(0);
  auto select = yielded.get().getDefiningOp<arith::SelectOp>();
  FloatAttr falseValue;
  if (select && select->getBlock() == scores.getBody() &&
      matchPattern(select.getFalseValue(), m_Constant(&falseValue)) &&
      falseValue.getValue().isInfinity() &&
      falseValue.getValue().isNegative() && select->hasOneUse())
    // log2(e) * -inf is -inf: the factor applies to the kept branch only.
    return select->getOpOperand(1);
  return yielded;
}

void mlir::fa::scaleScoresToLog2(OpBuilder &builder,
                                 linalg::GenericOp scores) {
  OpOperand &use = modifiedScoreUse(scores);
  Value modified = use.get();
  OpBuilder::InsertionGuard guard(builder);
  // Folded into a multiplication by a constant that produces the score and
  // has no other use (the scale itself without score_mod, or the last
  // factor of one): (x * c) * log2(e) == x * (c * log2(e)) up to rounding.
  if (auto mul = modified.getDefiningOp<arith::MulFOp>();
      mul && mul->getBlock() == scores.getBody() && mul->hasOneUse()) {
    for (unsigned i = 0; i < 2; ++i) {
      FloatAttr factor;
      if (!matchPattern(mul->getOperand(i), m_Constant(&factor)))
        continue;
      builder.setInsertionPoint(mul);
      Value folded = arith::ConstantOp::create(
          builder, mul.getLoc(),
          builder.getF32FloatAttr(static_cast<float>(
              factor.getValueAsDouble() * kLog2E)));
      Operation *constant = mul->getOperand(i).getDefiningOp();
      mul->setOperand(i, folded);
      if (constant->use_empty())
        constant->erase();
      return;
    }
  }
  builder.setInsertionPoint(use.getOwner());
  Value log2e = arith::ConstantOp::create(
      builder, use.getOwner()->getLoc(),
      builder.getF32FloatAttr(static_cast<float>(kLog2E)));
  use.set(arith::MulFOp::create(builder, use.getOwner()->getLoc(), modified,
                                log2e));
}

FailureOr<scf::ForOp> mlir::fa::fuseOnlineSoftmax(RewriterBase &rewriter,
                                                  UnfusedSoftmaxLoops loops) {
  scf::ForOp pv = loops.weightedValues;
  Location loc = pv.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(pv);

  SmallVector<Value> inits{loops.rowMax.getInitArgs()[0],
                           loops.rowSum.getInitArgs()[0], pv.getInitArgs()[0]};
  auto fused = scf::ForOp::create(
      rewriter, loc, pv.getLowerBound(), pv.getUpperBound(), pv.getStep(),
      inits, [&](OpBuilder &b, Location l, Value iv, ValueRange carried) {
        Value max = carried[0], sum = carried[1], acc = carried[2];
        IRMapping mapping;
        mapping.map(pv.getInductionVar(), iv);
        Value newMax, newSum;
        for (Operation &op : pv.getBody()->without_terminator()) {
          StringRef role = getRole(&op);
          if (role == TileRole::probabilities) {
            // Online update: new running max, rescale factor, exp2 of the
            // shifted scores, rescaled sum and accumulator.
            Value scores = mapping.lookup(op.getOperand(0));
            newMax = tileops::buildRowMax(b, l, scores, max, "running_max");
            Value alpha = tileops::buildRescale(b, l, max, newMax,
                                                emptyLike(b, l, max));
            Value probs = tileops::buildOnlineProbabilities(
                b, l, scores, newMax, emptyLike(b, l, scores));
            Value scaledSum = tileops::buildRescaleSum(b, l, sum, alpha,
                                                       emptyLike(b, l, sum));
            newSum = tileops::buildRowSum(b, l, probs, scaledSum);
            Value scaledAcc = tileops::buildRescaleAcc(b, l, acc, alpha,
                                                       emptyLike(b, l, acc));
            mapping.map(op.getResult(0), probs);
            mapping.map(pv.getRegionIterArgs()[0], scaledAcc);
            continue;
          }
          Operation *clone = b.clone(op, mapping);
          if (role == TileRole::scores)
            scaleScoresToLog2(b, cast<linalg::GenericOp>(clone));
        }
        Value newAcc =
            mapping.lookup(pv.getBody()->getTerminator()->getOperand(0));
        scf::YieldOp::create(b, l, ValueRange{newMax, newSum, newAcc});
      });
  fused->setAttr(SoftmaxStage::attrName,
                 rewriter.getStringAttr(SoftmaxStage::online));

  // What the three loops computed, from the fused state.
  rewriter.setInsertionPointAfter(fused);
  Value max2 = fused.getResult(0), sum = fused.getResult(1),
        acc = fused.getResult(2);
  Value max = tileops::buildMaxNaturalLog(rewriter, loc, max2,
                                          emptyLike(rewriter, loc, max2));
  Value out = tileops::buildNormalize(rewriter, loc, acc, sum,
                                      emptyLike(rewriter, loc, acc));

  rewriter.replaceAllUsesWith(pv.getResult(0), out);
  rewriter.eraseOp(pv);
  rewriter.replaceAllUsesWith(loops.rowSum.getResult(0), sum);
  rewriter.eraseOp(loops.rowSum);
  rewriter.replaceAllUsesWith(loops.rowMax.getResult(0), max);
  rewriter.eraseOp(loops.rowMax);
  return fused;
}

namespace {

struct FAFuseOnlineSoftmaxPass
    : public fa::impl::FAFuseOnlineSoftmaxBase<FAFuseOnlineSoftmaxPass> {
  using Base::Base;

  void runOnOperation() override {
    // An fa.attention that was not tiled has nothing to fuse yet: say so
    // rather than pass it through silently.
    getOperation().walk([&](AttentionOp op) {
      emitWarning(op.getLoc(), "fa-fuse-online-softmax: fa.attention is not "
                               "tiled, nothing to fuse; run fa-tile-attention "
                               "first");
    });
    if (Operation *unmarked = findUnmarkedTileOp(getOperation()))
      emitWarning(unmarked->getLoc(),
                  "fa-fuse-online-softmax: tiled attention outside an "
                  "scf.forall marked '")
          << AttentionTileAttr::attrName
          << "' is left as it is: a pass after fa-tile-attention removed "
             "the contract (canonicalization does when it rebuilds the "
             "forall, e.g. to fold a tensor.cast into it)";
    SmallVector<scf::ForOp> candidates;
    getOperation().walk([&](scf::ForOp loop) {
      // Loops of a tile that lost its contract are left alone (reported
      // above).
      auto tile = loop->getParentOfType<scf::ForallOp>();
      if (hasStage(loop, SoftmaxStage::rowMax) && tile &&
          tile->hasAttr(AttentionTileAttr::attrName))
        candidates.push_back(loop);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ForOp rowMax : candidates) {
      std::string why;
      FailureOr<UnfusedSoftmaxLoops> loops =
          matchUnfusedSoftmaxLoops(rowMax, &why);
      if (failed(loops)) {
        if (requireFused) {
          rowMax.emitError("fa-fuse-online-softmax cannot fuse this tile, "
                           "and GPU kernels are built from fused tiles: ")
              << why;
          return signalPassFailure();
        }
        rowMax.emitWarning("fa-fuse-online-softmax: left unfused: ") << why;
        continue;
      }
      (void)fuseOnlineSoftmax(rewriter, *loops);
    }
  }
};

} // namespace
