//===- ScoreModDerivative.cpp - d score_mod / d score ---------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Forward-mode differentiation of a score_mod region with respect to its
// score argument. An activity analysis finds the float values that depend on
// the score; each op that uses one needs a derivative rule (or produces no
// float, as a comparison). The emitter clones the region and builds, next to
// each active value, its derivative: scf.if regions yield their derivatives
// as extra results.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/ScoreModDerivative.h"
#include "fa/Dialect/FA/IR/FAOps.h"
#include "mlir/IR/Matchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/ADT/DenseSet.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fa;

/// Ops that have a derivative rule below, or that pass a value depending on
/// the score on without needing one (comparisons produce an i1; the
/// terminators forward).
static bool hasDerivativeRule(Operation *op) {
  return isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
             arith::NegFOp, arith::MaximumFOp, arith::MinimumFOp,
             arith::MaxNumFOp, arith::MinNumFOp, arith::SelectOp, arith::ExtFOp,
             arith::TruncFOp, arith::CmpFOp, math::FmaOp, math::AbsFOp,
             math::SqrtOp, math::RsqrtOp, math::ExpOp, math::Exp2Op,
             math::ExpM1Op, math::LogOp, math::Log2Op, math::Log10Op,
             math::Log1pOp, math::TanhOp, math::SinOp, math::CosOp,
             math::SinhOp, math::CoshOp, scf::YieldOp, scf::IfOp, YieldOp>(op);
}

namespace {

/// The ops of a score_mod with a result that reaches its yield (per result:
/// an scf.if needs, of each branch, the yield operands of its used results
/// and its condition).
llvm::DenseSet<Operation *> findLiveOps(Region &scoreMod) {
  llvm::DenseSet<Value> liveValues;
  llvm::DenseSet<Operation *> live;
  SmallVector<Value> worklist;
  auto markLive = [&](Value value) {
    if (liveValues.insert(value).second)
      worklist.push_back(value);
  };
  Operation *terminator = scoreMod.front().getTerminator();
  live.insert(terminator);
  for (Value operand : terminator->getOperands())
    markLive(operand);
  while (!worklist.empty()) {
    auto result = dyn_cast<OpResult>(worklist.pop_back_val());
    if (!result)
      continue; // a block argument
    Operation *op = result.getOwner();
    live.insert(op);
    if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
      markLive(ifOp.getCondition());
      unsigned i = result.getResultNumber();
      for (scf::YieldOp yield : {ifOp.thenYield(), ifOp.elseYield()}) {
        live.insert(yield);
        markLive(yield.getOperand(i));
      }
      continue;
    }
    for (Value operand : op->getOperands())
      markLive(operand);
  }
  return live;
}

/// The float values of a score_mod that depend on its score argument and
/// reach its yield (an op whose result is unused may do anything).
struct Activity {
  llvm::DenseSet<Value> active;
  llvm::DenseSet<Operation *> live;
  Operation *nonDifferentiable = nullptr;

  explicit Activity(Region &scoreMod) {
    if (scoreMod.empty())
      return;
    live = findLiveOps(scoreMod);
    active.insert(scoreMod.front().getArgument(0));
    visit(scoreMod.front());
  }

  bool isActive(Value value) const { return active.contains(value); }

  void visit(Block &block) {
    for (Operation &op : block) {
      if (nonDifferentiable)
        return;
      if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
        visit(*ifOp.thenBlock());
        if (ifOp.elseBlock())
          visit(*ifOp.elseBlock());
        if (nonDifferentiable)
          return;
        for (OpResult result : ifOp.getResults()) {
          unsigned i = result.getResultNumber();
          bool fromThen = isActive(ifOp.thenYield().getOperand(i));
          bool fromElse =
              ifOp.elseBlock() && isActive(ifOp.elseYield().getOperand(i));
          if (fromThen || fromElse)
            active.insert(result);
        }
        continue;
      }
      if (!live.contains(&op) ||
          llvm::none_of(op.getOperands(), [&](Value v) { return isActive(v); }))
        continue;
      if (!hasDerivativeRule(&op)) {
        nonDifferentiable = &op;
        return;
      }
      for (Value result : op.getResults())
        if (isa<FloatType>(result.getType()))
          active.insert(result);
    }
  }
};

/// Emits the clone of a score_mod and the derivatives of its active values.
class Differentiator {
public:
  Differentiator(OpBuilder &b, const Activity &activity)
      : b(b), activity(activity) {}

  std::pair<Value, Value> run(Region &scoreMod, ValueRange arguments) {
    Block &body = scoreMod.front();
    map.map(body.getArguments(), arguments);
    Location loc = body.getArgument(0).getLoc();
    derivative[body.getArgument(0)] = constant(loc, b.getF32Type(), 1.0);
    emitBlock(body);
    Value yielded = cast<YieldOp>(body.getTerminator()).getValue();
    Value d = derivativeOf(yielded);
    return {map.lookup(yielded),
            d ? d : constant(yielded.getLoc(), b.getF32Type(), 0.0)};
  }

private:
  OpBuilder &b;
  const Activity &activity;
  IRMapping map;
  /// Original value -> its derivative in the emitted IR (absent: zero).
  DenseMap<Value, Value> derivative;

  Value derivativeOf(Value original) const {
    return derivative.lookup(original);
  }

  Value constant(Location loc, Type type, double value) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
  }

  // Arithmetic on derivatives, where null stands for zero.
  Value add(Location loc, Value x, Value y) {
    if (!x || !y)
      return x ? x : y;
    return arith::AddFOp::create(b, loc, x, y);
  }
  Value mul(Location loc, Value x, Value y) {
    if (!x || !y)
      return {};
    return arith::MulFOp::create(b, loc, x, y);
  }
  Value neg(Location loc, Value x) {
    return x ? arith::NegFOp::create(b, loc, x).getResult() : Value();
  }
  Value sub(Location loc, Value x, Value y) {
    if (!x || !y)
      return x ? x : neg(loc, y);
    return arith::SubFOp::create(b, loc, x, y);
  }
  /// x / y, with the precision flags of the division it differentiates, if
  /// any: an `arcp`, `afn` or `contract` division licenses the same
  /// approximation in its derivative. Not `nnan`, `ninf` or `nsz`: they
  /// describe the forward's values, and x is another value.
  Value div(Location loc, Value x, Value y,
            arith::FastMathFlags flags = arith::FastMathFlags::none) {
    return x ? arith::DivFOp::create(b, loc, x, y, flags).getResult() : Value();
  }
  /// cond ? x : y, with zeros for missing derivatives of type `type`.
  Value select(Location loc, Value cond, Value x, Value y, Type type) {
    if (!x && !y)
      return {};
    return arith::SelectOp::create(b, loc, cond, x ? x : constant(loc, type, 0),
                                   y ? y : constant(loc, type, 0));
  }

  void emitBlock(Block &block) {
    for (Operation &op : block.without_terminator()) {
      if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
        emitIf(ifOp);
        continue;
      }
      Operation *clone = b.clone(op, map);
      if (op.getNumResults() != 1 || !activity.isActive(op.getResult(0)))
        continue;
      if (Value d = rule(&op, clone->getResult(0)))
        derivative[op.getResult(0)] = d;
    }
  }

  /// An scf.if whose float results depend on the score yields their
  /// derivatives as extra results.
  void emitIf(scf::IfOp op) {
    SmallVector<unsigned> activeResults;
    for (OpResult result : op.getResults())
      if (activity.isActive(result))
        activeResults.push_back(result.getResultNumber());
    if (activeResults.empty()) {
      b.clone(*op, map);
      return;
    }
    SmallVector<Type> types(op.getResultTypes());
    for (unsigned i : activeResults)
      types.push_back(op.getResult(i).getType());
    auto ifOp =
        scf::IfOp::create(b, op.getLoc(), types, map.lookup(op.getCondition()),
                          /*addThenBlock=*/true, /*addElseBlock=*/true);
    for (auto [from, to] : {std::make_pair(op.thenBlock(), ifOp.thenBlock()),
                            std::make_pair(op.elseBlock(), ifOp.elseBlock())}) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(to);
      emitBlock(*from);
      auto yield = cast<scf::YieldOp>(from->getTerminator());
      SmallVector<Value> values;
      for (Value v : yield.getOperands())
        values.push_back(map.lookup(v));
      for (unsigned i : activeResults) {
        Value d = derivativeOf(yield.getOperand(i));
        values.push_back(
            d ? d : constant(yield.getLoc(), op.getResult(i).getType(), 0.0));
      }
      scf::YieldOp::create(b, yield.getLoc(), values);
    }
    for (OpResult result : op.getResults())
      map.map(result, ifOp.getResult(result.getResultNumber()));
    for (auto [k, i] : llvm::enumerate(activeResults))
      derivative[op.getResult(i)] = ifOp.getResult(op.getNumResults() + k);
  }

  /// The derivative of `op`'s result (`r`, in the emitted IR) from its
  /// operands' derivatives; null when it is zero.
  Value rule(Operation *op, Value r) {
    Location loc = op->getLoc();
    Type type = r.getType();
    auto x = [&](unsigned i) { return map.lookup(op->getOperand(i)); };
    auto dx = [&](unsigned i) { return derivativeOf(op->getOperand(i)); };
    auto cst = [&](double v) { return constant(loc, type, v); };

    if (isa<arith::AddFOp>(op))
      return add(loc, dx(0), dx(1));
    if (isa<arith::SubFOp>(op))
      return sub(loc, dx(0), dx(1));
    if (isa<arith::MulFOp>(op))
      return add(loc, mul(loc, dx(0), x(1)), mul(loc, x(0), dx(1)));
    if (auto divide = dyn_cast<arith::DivFOp>(op)) // (dx - r dy) / y
      return div(loc, sub(loc, dx(0), mul(loc, r, dx(1))), x(1),
                 divide.getFastmath() &
                     (arith::FastMathFlags::arcp | arith::FastMathFlags::afn |
                      arith::FastMathFlags::contract));
    if (isa<arith::NegFOp>(op))
      return neg(loc, dx(0));
    if (isa<arith::MaximumFOp, arith::MaxNumFOp, arith::MinimumFOp,
            arith::MinNumFOp>(op)) {
      // The derivative of the operand taken (the first on ties; maxnumf
      // and minnumf take the number when the other is NaN).
      Value first =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, r, x(0));
      return select(loc, first, dx(0), dx(1), type);
    }
    if (isa<arith::SelectOp>(op))
      return select(loc, x(0), dx(1), dx(2), type);
    if (isa<arith::ExtFOp>(op) && dx(0))
      return arith::ExtFOp::create(b, loc, type, dx(0));
    if (isa<arith::TruncFOp>(op) && dx(0))
      return arith::TruncFOp::create(b, loc, type, dx(0));
    if (isa<math::FmaOp>(op))
      return add(loc, add(loc, mul(loc, dx(0), x(1)), mul(loc, x(0), dx(1))),
                 dx(2));
    if (isa<math::AbsFOp>(op)) {
      Value negative = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                             x(0), cst(0));
      return select(loc, negative, neg(loc, dx(0)), dx(0), type);
    }
    if (isa<math::SqrtOp>(op)) // dx / (2 r)
      return div(loc, dx(0), mul(loc, cst(2), r));
    if (isa<math::RsqrtOp>(op)) // -r dx / (2 x)
      return neg(loc, div(loc, mul(loc, r, dx(0)), mul(loc, cst(2), x(0))));
    if (isa<math::ExpOp>(op))
      return mul(loc, r, dx(0));
    if (isa<math::Exp2Op>(op))
      return mul(loc, mul(loc, r, cst(M_LN2)), dx(0));
    if (isa<math::ExpM1Op>(op))
      return mul(loc, add(loc, r, cst(1)), dx(0));
    if (isa<math::LogOp>(op))
      return div(loc, dx(0), x(0));
    if (isa<math::Log2Op>(op))
      return div(loc, dx(0), mul(loc, x(0), cst(M_LN2)));
    if (isa<math::Log10Op>(op))
      return div(loc, dx(0), mul(loc, x(0), cst(M_LN10)));
    if (isa<math::Log1pOp>(op))
      return div(loc, dx(0), add(loc, x(0), cst(1)));
    if (isa<math::TanhOp>(op)) // (1 - r^2) dx
      return mul(loc, sub(loc, cst(1), mul(loc, r, r)), dx(0));
    if (isa<math::SinOp>(op))
      return mul(loc, math::CosOp::create(b, loc, x(0)), dx(0));
    if (isa<math::CosOp>(op))
      return neg(loc, mul(loc, math::SinOp::create(b, loc, x(0)), dx(0)));
    if (isa<math::SinhOp>(op))
      return mul(loc, math::CoshOp::create(b, loc, x(0)), dx(0));
    if (isa<math::CoshOp>(op))
      return mul(loc, math::SinhOp::create(b, loc, x(0)), dx(0));
    return {}; // comparisons: no float result
  }
};

} // namespace

Operation *mlir::fa::findNonDifferentiableOp(Region &scoreMod) {
  return Activity(scoreMod).nonDifferentiable;
}

LogicalResult mlir::fa::verifyScoreModDifferentiable(Region &scoreMod,
                                                     Location loc) {
  Operation *op = findNonDifferentiableOp(scoreMod);
  if (!op)
    return success();
  InFlightDiagnostic diag = emitError(loc);
  diag << "cannot differentiate the score_mod with respect to the "
          "score: '"
       << op->getName()
       << "' uses a value that depends on the score and has no "
          "derivative rule (differentiable: arith add/sub/mul/div/"
          "neg/min/max/select/extf/truncf, math fma/abs/sqrt/rsqrt/"
          "exp/exp2/expm1/log/log2/log10/log1p/tanh/sin/cos/sinh/cosh, "
          "scf.if; ops whose results do not reach the yield need none)";
  diag.attachNote(op->getLoc()) << "the op that cannot be differentiated";
  return diag;
}

std::pair<Value, Value>
mlir::fa::cloneScoreModWithDerivative(OpBuilder &builder, Region &scoreMod,
                                      ValueRange arguments) {
  Activity activity(scoreMod);
  assert(!activity.nonDifferentiable && "score_mod must be differentiable");
  return Differentiator(builder, activity).run(scoreMod, arguments);
}

bool mlir::fa::hasConstantDerivative(Region &scoreMod) {
  if (scoreMod.empty())
    return true;
  Block scratch;
  for (BlockArgument arg : scoreMod.getArguments())
    scratch.addArgument(arg.getType(), arg.getLoc());
  OpBuilder b(scoreMod.getContext());
  b.setInsertionPointToEnd(&scratch);
  Value derivative =
      cloneScoreModWithDerivative(b, scoreMod, scratch.getArguments()).second;
  bool constant = matchPattern(derivative, m_Constant());
  for (Operation &op : scratch)
    op.dropAllReferences();
  while (!scratch.empty())
    scratch.back().erase();
  return constant;
}
