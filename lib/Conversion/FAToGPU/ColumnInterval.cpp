//===- ColumnInterval.cpp - A masked row's visible columns as an interval -===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// TileCloner::visibleColumns: the visible predicate of a block of scores,
// for one fragment row, as the interval of column constants it keeps. A
// causal mask is one upper bound per row, a sliding window an upper and a
// lower one, the padding of the last block one more upper bound; their
// conjunction is the interval between the largest lower and the smallest
// upper bound, computed once per row and block. Each score then compares
// its column's constant with one or two i32 values and selects, where the
// predicate cloned per element compares once per comparison of the mask and
// once for the padding. Both forward strategies use it under the
// `column-intervals` option (HopperConfig and MmaSyncConfig's
// columnIntervals). TileCloner::maskScore applies an interval, or the
// predicate cloned per element and the padding test, to a score.
//
//===----------------------------------------------------------------------===//

#include "ScoreCloner.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

/// The conjuncts of `predicate`, an i1 built with arith.andi.
static void collectConjuncts(Value predicate, SmallVectorImpl<Value> &leaves) {
  if (auto andOp = predicate.getDefiningOp<arith::AndIOp>()) {
    collectConjuncts(andOp.getLhs(), leaves);
    collectConjuncts(andOp.getRhs(), leaves);
    return;
  }
  leaves.push_back(predicate);
}

std::optional<TileCloner::ColumnInterval>
TileCloner::visibleColumns(unsigned row, Value keysLeft) {
  using P = arith::CmpIPredicate;
  SmallVector<Value> leaves;
  if (Value visible = function.getVisible())
    collectConjuncts(visible, leaves);

  // A comparison x p y of affine forms, with e = x - y: e's element
  // constant p (y's base - x's base).
  struct Bound {
    arith::CmpIOp compare;
    /// compare's order as a signed one (TileCloner::getSignedOrder).
    P predicate;
    Affine x, y, e;
  };
  SmallVector<Bound> bounds;
  SmallVector<Value> rowConditions;
  // Check every conjunct before any bound is built (affine() may build the
  // bases of its forms; a failure leaves only unused pure ops).
  for (Value leaf : leaves) {
    unsigned dependence = function.getDependence(leaf);
    if (dependence & kScore)
      return std::nullopt;
    if (!(dependence & kCol)) {
      rowConditions.push_back(leaf);
      continue;
    }
    auto compare = leaf.getDefiningOp<arith::CmpIOp>();
    if (!compare)
      return std::nullopt;
    Type type = compare.getLhs().getType();
    if (!type.isIndex() && !type.isInteger(64))
      return std::nullopt;
    std::optional<Affine> x = affine(compare.getLhs());
    std::optional<Affine> y = affine(compare.getRhs());
    if (!x || !y)
      return std::nullopt;
    std::optional<P> predicate = getSignedOrder(compare.getPredicate(), *x, *y);
    if (!predicate || *predicate == P::ne)
      return std::nullopt;
    Affine e;
    e.constant = x->constant - y->constant;
    e.rowCoefficient = x->rowCoefficient - y->rowCoefficient;
    e.colCoefficient = x->colCoefficient - y->colCoefficient;
    if (e.colCoefficient != 1 && e.colCoefficient != -1)
      return std::nullopt;
    bounds.push_back({compare, *predicate, *x, *y, e});
  }

  auto [minColumn, maxColumn] =
      std::minmax_element(roots.colOffsets.begin(), roots.colOffsets.end());
  int64_t firstColumn = *minColumn, lastColumn = *maxColumn;
  auto i32 = [&](int64_t v) -> Value {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  };
  auto hide = [&](Value bound) -> Value {
    if (bound && roots.hideNarrowedRanges && !matchPattern(bound, m_Constant()))
      return hideIntegerRange(b, bound);
    return bound;
  };
  // The bounds are i32 values: 64-bit ones take two registers each, and the
  // kernels that mask have few to spare.
  Value lo, hi;
  auto raise = [&](Value v) {
    lo = lo ? b.createOrFold<arith::MaxSIOp>(lo, v) : v;
  };
  auto lower = [&](Value v) {
    hi = hi ? b.createOrFold<arith::MinSIOp>(hi, v) : v;
  };
  for (const Bound &bound : bounds) {
    // For this row, e = c0 + k * column with c0 = constant + rowCoefficient
    // * rowOffsets[row] and k = +-1: e p D is k * column p D - c0.
    const Affine &e = bound.e;
    // D within one past e's range over every row and column, an i32 with
    // room for the row's offsets below.
    auto range = elementRange(e);
    if (range.first - 1 < INT32_MIN / 2 || range.second + 1 > INT32_MAX / 2)
      return std::nullopt;
    Value difference = narrowDifference(bound.compare, bound.x, bound.y, range,
                                        /*hide=*/false);
    int64_t c0 = e.constant + e.rowCoefficient * roots.rowOffsets[row];
    // column p' v, with v = +-(D - c0) and p' = p, or p mirrored for -1.
    // D lies within one of e's range, so v within one of the columns'.
    P predicate = bound.predicate;
    Value v;
    if (e.colCoefficient == 1) {
      v = b.createOrFold<arith::SubIOp>(difference, i32(c0));
    } else {
      v = b.createOrFold<arith::SubIOp>(i32(c0), difference);
      predicate = predicate == P::slt   ? P::sgt
                  : predicate == P::sle ? P::sge
                  : predicate == P::sgt ? P::slt
                  : predicate == P::sge ? P::sle
                                        : predicate;
    }
    auto offset = [&](int64_t delta) {
      return b.createOrFold<arith::AddIOp>(v, i32(delta));
    };
    switch (predicate) {
    case P::slt:
      lower(offset(-1));
      break;
    case P::sle:
      lower(v);
      break;
    case P::sgt:
      raise(offset(1));
      break;
    case P::sge:
      raise(v);
      break;
    default: // eq
      raise(v);
      lower(v);
      break;
    }
  }
  if (keysLeft) {
    // Clamped so that keysLeft - 1 stays within one of the columns.
    Type type = keysLeft.getType();
    auto wide = [&](int64_t v) -> Value {
      return arith::ConstantOp::create(b, IntegerAttr::get(type, v));
    };
    Value clamped = b.createOrFold<arith::MinSIOp>(
        b.createOrFold<arith::MaxSIOp>(keysLeft, wide(firstColumn)),
        wide(lastColumn + 2));
    Value narrowed =
        type.isIndex()
            ? b.createOrFold<arith::IndexCastOp>(b.getI32Type(), clamped)
            : b.createOrFold<arith::TruncIOp>(b.getI32Type(), clamped);
    lower(b.createOrFold<arith::SubIOp>(narrowed, i32(1)));
  }
  // A condition of the row (or of the block) empties the interval where it
  // does not hold.
  for (Value condition : rowConditions) {
    if (!hi)
      hi = i32(lastColumn);
    hi = b.createOrFold<arith::SelectOp>(
        materialize(condition, {row, std::nullopt, Value()}), hi,
        i32(firstColumn - 1));
  }
  // Clamped to one past the columns, the bounds keep every column's
  // comparison.
  auto narrow = [&](Value bound) -> Value {
    if (!bound)
      return {};
    return b.createOrFold<arith::MinSIOp>(
        b.createOrFold<arith::MaxSIOp>(bound, i32(firstColumn - 1)),
        i32(lastColumn + 1));
  };
  ColumnInterval interval;
  lo = narrow(lo);
  hi = narrow(hi);
  if (lo && hi) {
    // Both bounds: one unsigned comparison of column - lo with the width.
    interval.negatedLo = hide(b.createOrFold<arith::SubIOp>(i32(0), lo));
    interval.width = hide(b.createOrFold<arith::MaxSIOp>(
        b.createOrFold<arith::SubIOp>(b.createOrFold<arith::AddIOp>(hi, i32(1)),
                                      lo),
        i32(0)));
    return interval;
  }
  interval.lo = hide(lo);
  interval.hi = hide(hi);
  return interval;
}

Value TileCloner::inInterval(const ColumnInterval &interval, unsigned col) {
  Value column = arith::ConstantOp::create(
      b, b.getI32IntegerAttr(static_cast<int32_t>(roots.colOffsets[col])));
  if (interval.width)
    return arith::CmpIOp::create(
        b, arith::CmpIPredicate::ult,
        arith::AddIOp::create(b, interval.negatedLo, column), interval.width);
  if (interval.lo)
    return arith::CmpIOp::create(b, arith::CmpIPredicate::sge, column,
                                 interval.lo);
  if (interval.hi)
    return arith::CmpIOp::create(b, arith::CmpIPredicate::sle, column,
                                 interval.hi);
  return {};
}

Value TileCloner::maskScore(Value x, unsigned row, unsigned col, Value qk,
                            const std::optional<ColumnInterval> &interval,
                            Value padding, Value negInf) {
  if (interval) {
    if (Value inside = inInterval(*interval, col))
      x = arith::SelectOp::create(b, inside, x, negInf);
    return x;
  }
  if (Value visible = function.getVisible())
    x = arith::SelectOp::create(b, element(visible, row, col, qk), x, negInf);
  Value column = arith::ConstantOp::create(
      b, b.getI32IntegerAttr(static_cast<int32_t>(roots.colOffsets[col])));
  Value isPadding =
      arith::CmpIOp::create(b, arith::CmpIPredicate::sge, column, padding);
  return arith::SelectOp::create(b, isPadding, negInf, x);
}
