//===- ScoreRange.cpp - Static bounds of a tile's kept score
//----------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Interval arithmetic over the float ops of the scores body, with the
// Q K^T element, index conversions and captured values unbounded. A kept
// score that stays in a known range whatever Q and K hold (a logit softcap,
// a sigmoid, a clamp) lets the softmax subtract a constant instead of the
// running row maximum (see ScoreFunction::getFixedMax).
//
//===----------------------------------------------------------------------===//

#include "ScoreCloner.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

namespace {
struct FloatRange {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool isBounded() const { return std::isfinite(lo) && std::isfinite(hi); }
};
} // namespace

static FloatRange unbounded() { return FloatRange(); }

/// The hull of four products or quotients, unbounded if any is NaN (0 * inf,
/// inf - inf, a quotient by an interval holding 0).
static FloatRange hull(std::initializer_list<double> values) {
  FloatRange r{std::numeric_limits<double>::infinity(),
               -std::numeric_limits<double>::infinity()};
  for (double v : values) {
    if (std::isnan(v))
      return unbounded();
    r.lo = std::min(r.lo, v);
    r.hi = std::max(r.hi, v);
  }
  return r;
}

/// A monotonic (non-decreasing) function applied to both ends.
template <typename Fn> static FloatRange monotonic(FloatRange x, Fn fn) {
  return {fn(x.lo), fn(x.hi)};
}

static FloatRange rangeOf(Value value, Block *body,
                          DenseMap<Value, FloatRange> &memo, unsigned depth) {
  if (auto it = memo.find(value); it != memo.end())
    return it->second;
  Operation *op = value.getDefiningOp();
  // The Q K^T element, block arguments and values from outside the body
  // (indices, loaded captures) can be anything; so can deep expressions.
  if (!op || op->getBlock() != body || depth > 64)
    return unbounded();
  auto of = [&](unsigned i) {
    return rangeOf(op->getOperand(i), body, memo, depth + 1);
  };
  FloatRange r;
  FloatAttr constant;
  if (matchPattern(value, m_Constant(&constant))) {
    double c = constant.getValueAsDouble();
    r = {c, c};
  } else if (isa<arith::AddFOp>(op)) {
    FloatRange x = of(0), y = of(1);
    r = hull({x.lo + y.lo, x.hi + y.hi});
  } else if (isa<arith::SubFOp>(op)) {
    FloatRange x = of(0), y = of(1);
    r = hull({x.lo - y.hi, x.hi - y.lo});
  } else if (isa<arith::MulFOp>(op)) {
    FloatRange x = of(0), y = of(1);
    r = hull({x.lo * y.lo, x.lo * y.hi, x.hi * y.lo, x.hi * y.hi});
  } else if (isa<arith::DivFOp>(op)) {
    FloatRange x = of(0), y = of(1);
    if (y.lo > 0 || y.hi < 0)
      r = hull({x.lo / y.lo, x.lo / y.hi, x.hi / y.lo, x.hi / y.hi});
  } else if (isa<arith::NegFOp>(op)) {
    FloatRange x = of(0);
    r = {-x.hi, -x.lo};
  } else if (isa<math::TanhOp>(op)) {
    r = monotonic(of(0), [](double v) { return std::tanh(v); });
  } else if (isa<math::ExpOp>(op)) {
    r = monotonic(of(0), [](double v) { return std::exp(v); });
  } else if (isa<math::Exp2Op>(op)) {
    r = monotonic(of(0), [](double v) { return std::exp2(v); });
  } else if (isa<math::SinOp, math::CosOp>(op)) {
    r = {-1.0, 1.0};
  } else if (isa<math::AbsFOp>(op)) {
    FloatRange x = of(0);
    double m = std::max(std::fabs(x.lo), std::fabs(x.hi));
    r = {x.lo <= 0 && x.hi >= 0 ? 0.0
                                : std::min(std::fabs(x.lo), std::fabs(x.hi)),
         m};
  } else if (isa<arith::MinimumFOp, arith::MinNumFOp>(op)) {
    FloatRange x = of(0), y = of(1);
    r = {std::min(x.lo, y.lo), std::min(x.hi, y.hi)};
  } else if (isa<arith::MaximumFOp, arith::MaxNumFOp>(op)) {
    FloatRange x = of(0), y = of(1);
    r = {std::max(x.lo, y.lo), std::max(x.hi, y.hi)};
  } else if (auto select = dyn_cast<arith::SelectOp>(op)) {
    FloatRange x = of(1), y = of(2);
    r = {std::min(x.lo, y.lo), std::max(x.hi, y.hi)};
  }
  // Anything else (an op this analysis does not know) is unbounded.
  if (std::isnan(r.lo) || std::isnan(r.hi))
    r = unbounded();
  return memo[value] = r;
}

std::optional<std::pair<double, double>>
mlir::fa::detail::getStaticRange(Value value, Block *body) {
  DenseMap<Value, FloatRange> memo;
  FloatRange r = rangeOf(value, body, memo, 0);
  if (!r.isBounded())
    return std::nullopt;
  return std::make_pair(r.lo, r.hi);
}

std::optional<double> ScoreFunction::getFixedMax(Type probabilityType) const {
  linalg::GenericOp scores = tile.scores;
  std::optional<std::pair<double, double>> range =
      getStaticRange(inner, scores.getBody());
  if (!range)
    return std::nullopt;
  double span = probabilityType.isF16() ? 12.0 : 100.0;
  if ((range->second - range->first) * keptScale > span)
    return std::nullopt;
  return range->second;
}
