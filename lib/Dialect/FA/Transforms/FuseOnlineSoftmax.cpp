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
//===----------------------------------------------------------------------===//

#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Passes.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
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

static constexpr double kLog2E = 1.4426950408889634;
static constexpr double kLn2 = 0.6931471805599453;

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

/// The ops of `loop`'s body with role `role`; fails unless exactly one.
static FailureOr<Operation *> findUniqueRole(scf::ForOp loop, StringRef role) {
  Operation *found = nullptr;
  for (Operation &op : loop.getBody()->without_terminator()) {
    if (getRole(&op) != role)
      continue;
    if (found)
      return failure();
    found = &op;
  }
  if (!found)
    return failure();
  return found;
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

FailureOr<UnfusedSoftmaxLoops>
mlir::fa::matchUnfusedSoftmaxLoops(scf::ForOp rowMax) {
  if (!hasStage(rowMax, SoftmaxStage::rowMax) || rowMax.getNumResults() != 1)
    return failure();
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
    return failure();

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
      return failure();
  }
  if (!isFillOf(rowMax.getInitArgs()[0],
                -std::numeric_limits<double>::infinity()) ||
      !isFillOf(loops.rowSum.getInitArgs()[0], 0.0) ||
      !isFillOf(loops.weightedValues.getInitArgs()[0], 0.0))
    return failure();

  // The P.V loop holds the full per-block computation.
  scf::ForOp pv = loops.weightedValues;
  FailureOr<Operation *> scores = findUniqueRole(pv, TileRole::scores);
  FailureOr<Operation *> probs = findUniqueRole(pv, TileRole::probabilities);
  FailureOr<Operation *> weighted =
      findUniqueRole(pv, TileRole::weightedValues);
  if (failed(scores) || failed(probs) || failed(weighted))
    return failure();
  // probabilities(scores, max, sum) and weighted(probabilities, V) += acc.
  Value max = rowMax.getResult(0), sum = loops.rowSum.getResult(0);
  Value acc = pv.getRegionIterArgs()[0];
  if ((*probs)->getNumOperands() != 4 ||
      (*probs)->getOperand(0) != (*scores)->getResult(0) ||
      (*probs)->getOperand(1) != max || (*probs)->getOperand(2) != sum ||
      (*weighted)->getNumOperands() != 3 ||
      (*weighted)->getOperand(0) != (*probs)->getResult(0) ||
      (*weighted)->getOperand(2) != acc || !acc.hasOneUse() ||
      pv.getBody()->getTerminator()->getOperand(0) != (*weighted)->getResult(0))
    return failure();

  SmallVector<scf::ForOp> all{rowMax, loops.rowSum, pv};
  if (!usesAreFusable(max, all, pv) || !usesAreFusable(sum, all, pv) ||
      !usesAreFusable(pv.getResult(0), all, pv))
    return failure();
  return loops;
}

/// Multiplies the scale constant of a cloned scores op by log2(e).
static LogicalResult foldLog2EIntoScale(Operation *scores) {
  auto generic = cast<linalg::GenericOp>(scores);
  Block &body = generic.getRegion().front();
  for (Operation &op : body) {
    auto mul = dyn_cast<arith::MulFOp>(op);
    if (!mul || mul.getLhs() != body.getArgument(0))
      continue;
    auto scale = mul.getRhs().getDefiningOp<arith::ConstantOp>();
    if (!scale)
      return failure();
    double value = cast<FloatAttr>(scale.getValue()).getValueAsDouble();
    OpBuilder b(scale);
    Value folded = arith::ConstantOp::create(
        b, scale.getLoc(),
        b.getF32FloatAttr(static_cast<float>(value * kLog2E)));
    mul.getRhsMutable().assign(folded);
    if (scale->use_empty())
      scale->erase();
    return success();
  }
  return failure();
}

static Value exp2Shifted(OpBuilder &b, Location loc, Value x, Value max) {
  Value shifted = arith::SubFOp::create(b, loc, x, safeRowMax(b, loc, max));
  return math::Exp2Op::create(b, loc, shifted);
}

FailureOr<scf::ForOp> mlir::fa::fuseOnlineSoftmax(RewriterBase &rewriter,
                                                  UnfusedSoftmaxLoops loops) {
  scf::ForOp pv = loops.weightedValues;
  Location loc = pv.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(pv);

  SmallVector<Value> inits{loops.rowMax.getInitArgs()[0],
                           loops.rowSum.getInitArgs()[0], pv.getInitArgs()[0]};
  bool patched = true;
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
            newMax = reduceRows(
                b, l, scores, max, "running_max",
                [](OpBuilder &rb, Location rl, Value a, Value x) {
                  return arith::MaximumFOp::create(rb, rl, a, x).getResult();
                });
            Value alpha = mapRows(
                b, l, ValueRange{max, newMax}, emptyLike(b, l, max), "rescale",
                [](OpBuilder &eb, Location el, ValueRange args) {
                  return exp2Shifted(eb, el, args[0], args[1]);
                });
            Value probs =
                mapTile(b, l, scores, newMax, emptyLike(b, l, scores),
                        TileRole::probabilities,
                        [](OpBuilder &eb, Location el, ValueRange args) {
                          return exp2Shifted(eb, el, args[0], args[1]);
                        });
            Value scaledSum = mapRows(
                b, l, ValueRange{sum, alpha}, emptyLike(b, l, sum),
                "rescale_sum", [](OpBuilder &eb, Location el, ValueRange args) {
                  return arith::MulFOp::create(eb, el, args[0], args[1])
                      .getResult();
                });
            newSum = reduceRows(
                b, l, probs, scaledSum, "row_sum",
                [](OpBuilder &rb, Location rl, Value a, Value x) {
                  return arith::AddFOp::create(rb, rl, a, x).getResult();
                });
            Value scaledAcc =
                mapTile(b, l, acc, alpha, emptyLike(b, l, acc), "rescale_acc",
                        [](OpBuilder &eb, Location el, ValueRange args) {
                          return arith::MulFOp::create(eb, el, args[0], args[1])
                              .getResult();
                        });
            mapping.map(op.getResult(0), probs);
            mapping.map(pv.getRegionIterArgs()[0], scaledAcc);
            continue;
          }
          Operation *clone = b.clone(op, mapping);
          if (role == TileRole::scores && failed(foldLog2EIntoScale(clone)))
            patched = false;
        }
        Value newAcc =
            mapping.lookup(pv.getBody()->getTerminator()->getOperand(0));
        scf::YieldOp::create(b, l, ValueRange{newMax, newSum, newAcc});
      });
  fused->setAttr(SoftmaxStage::attrName,
                 rewriter.getStringAttr(SoftmaxStage::online));
  if (!patched) {
    rewriter.eraseOp(fused);
    return failure();
  }

  // What the three loops computed, from the fused state.
  rewriter.setInsertionPointAfter(fused);
  Value max2 = fused.getResult(0), sum = fused.getResult(1),
        acc = fused.getResult(2);
  Value max =
      mapRows(rewriter, loc, max2, emptyLike(rewriter, loc, max2),
              "max_natural_log", [](OpBuilder &b, Location l, ValueRange args) {
                Value ln2 = arith::ConstantOp::create(
                    b, l, b.getF32FloatAttr(static_cast<float>(kLn2)));
                return arith::MulFOp::create(b, l, args[0], ln2).getResult();
              });
  Value out = mapTile(
      rewriter, loc, acc, sum, emptyLike(rewriter, loc, acc), "normalize",
      [](OpBuilder &b, Location l, ValueRange args) -> Value {
        Value zero = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0f));
        Value empty = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                            args[1], zero);
        Value quotient = arith::DivFOp::create(b, l, args[0], args[1]);
        return arith::SelectOp::create(b, l, empty, zero, quotient);
      });

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
    SmallVector<scf::ForOp> candidates;
    getOperation().walk([&](scf::ForOp loop) {
      if (hasStage(loop, SoftmaxStage::rowMax))
        candidates.push_back(loop);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ForOp rowMax : candidates) {
      FailureOr<UnfusedSoftmaxLoops> loops = matchUnfusedSoftmaxLoops(rowMax);
      if (failed(loops)) {
        rowMax.emitRemark("fa-fuse-online-softmax: not the loop shape "
                          "fa-tile-attention produces; left unfused");
        continue;
      }
      (void)fuseOnlineSoftmax(rewriter, *loops);
    }
  }
};

} // namespace
