//===- IntervalEmitter.h - Interval arithmetic on a scores body -*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The interval arithmetic of the BlockClassifier: emits IR that evaluates
// a value of the scores body over a box of (the tile's rows) x (a range
// of keys), as an interval for integers and index and as (can be true,
// can be false) for i1. Index arithmetic, comparisons, selects, casts,
// division and remainder by constants, min/max and abs are modelled;
// integer capture data is bounded by its minimum and maximum over a short
// index range (loaded by the warp's lanes, several loads in flight per
// lane, combined with shuffles); the rest is unbounded ("top").
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_INTERVALEMITTER_H
#define FA_LIB_CONVERSION_FATOGPU_INTERVALEMITTER_H

#include "ScoreCloner.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::fa::detail {

/// The abstract value of an integer (an interval [lo, hi] in its own type)
/// or of an i1 (whether it can be true, whether it can be false). `top`:
/// unbounded. An interval computed from capture data (`fromData`) also
/// carries `valid`, an i1 that is false where its arithmetic may have
/// wrapped: comparisons with it then answer "maybe".
struct Abstract {
  Value lo, hi;
  Value canTrue, canFalse;
  Value valid;
  bool top = false;
  bool fromData = false;
};

/// Intervals of values that vary with neither the key block nor the key
/// column (the tile's rows' data, e.g. their document ids), computed once
/// in the kernel prologue and shared by every classification.
struct TileIntervals {
  /// The tile's row indices [0, rows - 1], made in the prologue.
  Abstract rowIndex;
  /// Values that vary with the rows only, evaluated once in the prologue.
  DenseMap<Value, Abstract> values;
};

/// Emits the interval evaluation of one predicate over one box.
class IntervalEmitter {
public:
  /// `loadsPerLane`: the loads of capture data each lane has in flight;
  /// `groupLanes` (a power of two up to 32): the aligned lanes that share
  /// them, each group evaluating its own box (the boxes of a warp's groups
  /// may differ; every lane must run the evaluation). A range of
  /// groupLanes x loadsPerLane elements costs one memory latency; ranges
  /// of up to max(256, that) elements are bounded.
  IntervalEmitter(ImplicitLocOpBuilder &b, const ScoreFunction &function,
                  TileCloner &cloner, TileIntervals &tile, Abstract col,
                  Abstract kvStart, int64_t loadsPerLane,
                  int64_t groupLanes = 32)
      : b(b), function(function), cloner(cloner), tile(tile),
        rowIndex(tile.rowIndex), colIndex(col), kvStart(kvStart),
        loadsPerLane(loadsPerLane), groupLanes(groupLanes) {}

  Abstract evaluate(Value value);

private:
  Value constant(Type type, int64_t v) {
    if (isa<IndexType>(type))
      return arith::ConstantIndexOp::create(b, v);
    return arith::ConstantOp::create(b, IntegerAttr::get(type, v));
  }
  Value i1(bool v) { return constant(b.getI1Type(), v ? 1 : 0); }
  Value andI(Value x, Value y) { return b.createOrFold<arith::AndIOp>(x, y); }
  Value orI(Value x, Value y) { return b.createOrFold<arith::OrIOp>(x, y); }
  Value notI(Value x) { return b.createOrFold<arith::XOrIOp>(x, i1(true)); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return b.createOrFold<arith::SelectOp>(c, x, y);
  }
  Value minS(Value x, Value y) { return b.createOrFold<arith::MinSIOp>(x, y); }
  Value maxS(Value x, Value y) { return b.createOrFold<arith::MaxSIOp>(x, y); }

  Abstract top(Type type) {
    Abstract a;
    a.top = true;
    if (type.isInteger(1))
      a.canTrue = a.canFalse = i1(true);
    return a;
  }
  Abstract exact(Value v) {
    Abstract a;
    if (v.getType().isInteger(1)) {
      a.canTrue = v;
      a.canFalse = notI(v);
    } else {
      a.lo = a.hi = v;
    }
    return a;
  }
  Abstract interval(Value lo, Value hi) {
    Abstract a;
    a.lo = lo;
    a.hi = hi;
    return a;
  }
  Abstract truth(Value canTrue, Value canFalse) {
    Abstract a;
    a.canTrue = canTrue;
    a.canFalse = canFalse;
    return a;
  }
  /// An i1 as the signed i1 interval it spans (true is -1 as a signed i1,
  /// below false): what arith.cmpi compares when its operands are i1.
  Abstract asInteger(const Abstract &boolean) {
    Value trueValue = i1(true), falseValue = i1(false);
    return interval(select(boolean.canTrue, trueValue, falseValue),
                    select(boolean.canFalse, falseValue, trueValue));
  }
  /// An i1 cast to `type`, signed (true is -1) or unsigned (true is 1).
  Abstract castFromBool(const Abstract &boolean, Type type, bool isSigned) {
    Value zero = constant(type, 0), one = constant(type, isSigned ? -1 : 1);
    if (isSigned)
      return interval(select(boolean.canTrue, one, zero),
                      select(boolean.canFalse, zero, one));
    return interval(select(boolean.canFalse, zero, one),
                    select(boolean.canTrue, one, zero));
  }
  /// The interval of an integer of `type` when [lo, hi] fits it, else its
  /// whole range (signed).
  Abstract narrowed(const Abstract &a, Type type);
  /// `result` with the validity and data origin of `operands`, and false
  /// validity where `wrapped` (null: cannot wrap).
  Abstract withOrigin(Abstract result, ArrayRef<Abstract> operands,
                      Value wrapped = {});
  /// Whether x + y (x - y when `subtract`), or x * y, wrapped (signed)
  /// into `result`.
  Value addSubWraps(bool subtract, Value x, Value y, Value result);
  Value mulWraps(Value x, Value y, Value product);
  /// Whether arithmetic on positions in `type` is checked for wrapping:
  /// positions (< 2^63) never wrap in index or i64, but may in narrower
  /// types (a mask that truncates indices to i8 or i32).
  static bool mayWrap(Type type) {
    return !isa<IndexType>(type) && type.getIntOrFloatBitWidth() < 64;
  }
  Abstract compare(arith::CmpIPredicate predicate, Abstract x, Abstract y);
  Abstract evaluateOp(Operation *op, Value value);
  /// The range of integer capture data over an index box.
  Abstract loadRange(tensor::ExtractOp extract);
  /// `v` from the lane `offset` away (xor) in the warp; any integer width.
  Value shuffleXor(Value v, int offset);

  ImplicitLocOpBuilder &b;
  const ScoreFunction &function;
  TileCloner &cloner;
  TileIntervals &tile;
  Abstract rowIndex, colIndex, kvStart;
  int64_t loadsPerLane, groupLanes;
  DenseMap<Value, Abstract> values;
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_INTERVALEMITTER_H
