//===- BlockClassifier.cpp - Which key blocks a query tile sees -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "BlockClassifier.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

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
} // namespace mlir::fa::detail

struct BlockClassifier::TileIntervals {
  /// The tile's row indices [0, rows - 1], made in the prologue.
  Abstract rowIndex;
  /// Values that vary with the rows only, evaluated once in the prologue.
  DenseMap<Value, Abstract> values;
};

/// Capture data is bounded by a loop over at most this many elements.
static constexpr int64_t kMaxDataRange = 256;
static constexpr int64_t kWarpSize = 32;

namespace {

/// Emits the interval evaluation of one predicate over one box.
class IntervalEmitter {
public:
  IntervalEmitter(ImplicitLocOpBuilder &b, const ScoreFunction &function,
                  TileCloner &cloner, BlockClassifier::TileIntervals &tile,
                  Abstract col, Abstract kvStart)
      : b(b), function(function), cloner(cloner), tile(tile),
        rowIndex(tile.rowIndex), colIndex(col), kvStart(kvStart) {}

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
  /// Whether x op y wraps (signed) for op = add, sub or mul.
  Value addWraps(Value x, Value y, Value sum);
  Value subWraps(Value x, Value y, Value difference);
  Value mulWraps(Value x, Value y, Value product);
  Abstract compare(arith::CmpIPredicate predicate, Abstract x, Abstract y);
  Abstract evaluateOp(Operation *op, Value value);
  /// The range of integer capture data over an index box.
  Abstract loadRange(tensor::ExtractOp extract);
  /// `v` from the lane `offset` away (xor) in the warp; any integer width.
  Value shuffleXor(Value v, int offset);

  ImplicitLocOpBuilder &b;
  const ScoreFunction &function;
  TileCloner &cloner;
  BlockClassifier::TileIntervals &tile;
  Abstract rowIndex, colIndex, kvStart;
  DenseMap<Value, Abstract> values;
};

} // namespace

Abstract IntervalEmitter::narrowed(const Abstract &a, Type type) {
  if (a.top)
    return top(type);
  Type from = a.lo.getType();
  auto bitWidth = [](Type t) -> unsigned {
    return isa<IndexType>(t) ? 64 : t.getIntOrFloatBitWidth();
  };
  auto convert = [&](Value v) -> Value {
    if (from == type)
      return v;
    if (isa<IndexType>(from) || isa<IndexType>(type))
      return b.createOrFold<arith::IndexCastOp>(type, v);
    if (bitWidth(from) < bitWidth(type))
      return b.createOrFold<arith::ExtSIOp>(type, v);
    return b.createOrFold<arith::TruncIOp>(type, v);
  };
  unsigned fromWidth = bitWidth(from), toWidth = bitWidth(type);
  if (toWidth >= fromWidth)
    return interval(convert(a.lo), convert(a.hi));
  // Narrowing: exact when the interval fits, else the whole range.
  int64_t minValue = -(int64_t(1) << (toWidth - 1));
  int64_t maxValue = (int64_t(1) << (toWidth - 1)) - 1;
  Value fits =
      andI(cmp(arith::CmpIPredicate::sge, a.lo, constant(from, minValue)),
           cmp(arith::CmpIPredicate::sle, a.hi, constant(from, maxValue)));
  return interval(select(fits, convert(a.lo), constant(type, minValue)),
                  select(fits, convert(a.hi), constant(type, maxValue)));
}

/// Whether `value` is computed from capture data.
static bool readsData(Value value) {
  SmallVector<Value> worklist = {value};
  DenseSet<Value> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    Operation *op = v.getDefiningOp();
    if (!op || !seen.insert(v).second)
      continue;
    if (isa<tensor::ExtractOp>(op))
      return true;
    llvm::append_range(worklist, op->getOperands());
  }
  return false;
}

Abstract IntervalEmitter::withOrigin(Abstract result,
                                     ArrayRef<Abstract> operands,
                                     Value wrapped) {
  if (result.top)
    return result;
  for (const Abstract &a : operands) {
    result.fromData |= a.fromData;
    if (a.valid)
      result.valid = result.valid ? andI(result.valid, a.valid) : a.valid;
  }
  // Arithmetic on positions is assumed not to wrap; on data it is checked.
  if (wrapped && result.fromData) {
    Value ok = notI(wrapped);
    result.valid = result.valid ? andI(result.valid, ok) : ok;
  }
  return result;
}

Value IntervalEmitter::addWraps(Value x, Value y, Value sum) {
  // The sum has the sign of neither operand.
  Value zero = constant(x.getType(), 0);
  Value both =
      b.createOrFold<arith::AndIOp>(b.createOrFold<arith::XOrIOp>(x, sum),
                                    b.createOrFold<arith::XOrIOp>(y, sum));
  return cmp(arith::CmpIPredicate::slt, both, zero);
}

Value IntervalEmitter::subWraps(Value x, Value y, Value difference) {
  // The operands' signs differ and the difference has the sign of y.
  Value zero = constant(x.getType(), 0);
  Value both = b.createOrFold<arith::AndIOp>(
      b.createOrFold<arith::XOrIOp>(x, y),
      b.createOrFold<arith::XOrIOp>(x, difference));
  return cmp(arith::CmpIPredicate::slt, both, zero);
}

Value IntervalEmitter::mulWraps(Value x, Value y, Value product) {
  // x = -1 wraps only the minimum; otherwise product / x != y (x != 0),
  // with a divisor that cannot trap or wrap itself.
  using P = arith::CmpIPredicate;
  Type type = x.getType();
  unsigned width = isa<IndexType>(type) ? 64 : type.getIntOrFloatBitWidth();
  Value zero = constant(type, 0), one = constant(type, 1);
  Value minValue =
      constant(type, width >= 64 ? INT64_MIN : -(int64_t(1) << (width - 1)));
  Value xZero = cmp(P::eq, x, zero);
  Value xMinusOne = cmp(P::eq, x, constant(type, -1));
  Value divisor = select(orI(xZero, xMinusOne), one, x);
  Value quotientDiffers =
      cmp(P::ne, b.createOrFold<arith::DivSIOp>(product, divisor), y);
  return select(xMinusOne, cmp(P::eq, y, minValue),
                andI(notI(xZero), quotientDiffers));
}

Abstract IntervalEmitter::compare(arith::CmpIPredicate predicate, Abstract x,
                                  Abstract y) {
  using P = arith::CmpIPredicate;
  Type boolType = b.getI1Type();
  if (x.top || y.top)
    return top(boolType);
  Value invalid;
  for (const Abstract *a : {&x, &y})
    if (a->valid)
      invalid = invalid ? orI(invalid, notI(a->valid)) : notI(a->valid);
  if (x.canTrue)
    x = asInteger(x);
  if (y.canTrue)
    y = asInteger(y);
  auto signedCompare = [&](P p) -> std::pair<Value, Value> {
    switch (p) {
    case P::slt:
      return {cmp(P::slt, x.lo, y.hi), cmp(P::sge, x.hi, y.lo)};
    case P::sle:
      return {cmp(P::sle, x.lo, y.hi), cmp(P::sgt, x.hi, y.lo)};
    case P::sgt:
      return {cmp(P::sgt, x.hi, y.lo), cmp(P::sle, x.lo, y.hi)};
    case P::sge:
      return {cmp(P::sge, x.hi, y.lo), cmp(P::slt, x.lo, y.hi)};
    case P::eq:
    case P::ne: {
      Value overlap = andI(cmp(P::sle, x.lo, y.hi), cmp(P::sle, y.lo, x.hi));
      Value single = andI(andI(cmp(P::eq, x.lo, x.hi), cmp(P::eq, y.lo, y.hi)),
                          cmp(P::eq, x.lo, y.lo));
      if (p == P::eq)
        return {overlap, notI(single)};
      return {notI(single), overlap};
    }
    default:
      llvm_unreachable("signed predicates only");
    }
  };
  P signedPredicate = predicate;
  bool isUnsigned = true;
  switch (predicate) {
  case P::ult:
    signedPredicate = P::slt;
    break;
  case P::ule:
    signedPredicate = P::sle;
    break;
  case P::ugt:
    signedPredicate = P::sgt;
    break;
  case P::uge:
    signedPredicate = P::sge;
    break;
  default:
    isUnsigned = false;
  }
  auto [canTrue, canFalse] = signedCompare(signedPredicate);
  if (isUnsigned) {
    // Unsigned order is the signed one when neither side can be negative.
    Value zero = constant(x.lo.getType(), 0);
    Value nonNegative = andI(cmp(P::sge, x.lo, zero), cmp(P::sge, y.lo, zero));
    canTrue = select(nonNegative, canTrue, i1(true));
    canFalse = select(nonNegative, canFalse, i1(true));
  }
  if (invalid)
    return truth(orI(canTrue, invalid), orI(canFalse, invalid));
  return truth(canTrue, canFalse);
}

Abstract IntervalEmitter::evaluate(Value value) {
  if (auto it = values.find(value); it != values.end())
    return it->second;
  unsigned dep = function.getDependence(value);
  // What varies with the rows only is the same for every block: evaluated
  // once, in the prologue.
  bool rowsOnly = dep == kRow;
  if (rowsOnly) {
    if (auto it = tile.values.find(value); it != tile.values.end())
      return it->second;
  }
  OpBuilder::InsertionGuard guard(b);
  if (rowsOnly)
    b.setInsertionPoint(cloner.getPrologue());
  Abstract result;
  Type type = value.getType();
  if (!type.isIntOrIndex()) {
    result = top(type);
  } else if (dep == kUniform) {
    result = exact(cloner.uniform(value));
    result.fromData = readsData(value);
  } else if (dep & kScore) {
    result = top(type);
  } else if (auto arg = dyn_cast<BlockArgument>(value)) {
    // The only non-uniform block argument without the score: the key
    // loop's induction variable.
    result = kvStart;
  } else {
    Operation *op = value.getDefiningOp();
    result = evaluateOp(op, value);
    // Every interval keeps the data origin and validity of its operands
    // (a comparison folds them into its answer).
    if (!result.top && !type.isInteger(1)) {
      SmallVector<Abstract> operands;
      for (Value operand : op->getOperands())
        if (operand.getType().isIntOrIndex() && !operand.getType().isInteger(1))
          operands.push_back(evaluate(operand));
      result = withOrigin(result, operands);
    }
  }
  if (rowsOnly)
    tile.values[value] = result;
  return values[value] = result;
}

Value IntervalEmitter::shuffleXor(Value v, int offset) {
  Type type = v.getType();
  Type i32 = b.getI32Type();
  Value offsetValue = constant(i32, offset),
        widthValue = constant(i32, kWarpSize);
  auto shuffle32 = [&](Value x) {
    return gpu::ShuffleOp::create(b, x, offsetValue, widthValue,
                                  gpu::ShuffleMode::XOR)
        .getShuffleResult();
  };
  unsigned width = type.getIntOrFloatBitWidth();
  if (width == 32)
    return shuffle32(v);
  if (width < 32)
    return arith::TruncIOp::create(
        b, type, shuffle32(arith::ExtSIOp::create(b, i32, v)));
  // 64 bits: two 32-bit halves.
  Value shift = constant(type, 32);
  Value low = shuffle32(arith::TruncIOp::create(b, i32, v));
  Value high = shuffle32(
      arith::TruncIOp::create(b, i32, arith::ShRUIOp::create(b, v, shift)));
  return arith::OrIOp::create(
      b, arith::ShLIOp::create(b, arith::ExtUIOp::create(b, type, high), shift),
      arith::ExtUIOp::create(b, type, low));
}

Abstract IntervalEmitter::loadRange(tensor::ExtractOp extract) {
  using P = arith::CmpIPredicate;
  Type type = extract.getType();
  Value memref = cloner.tensorArgument(extract.getTensor());
  if (!isa<IntegerType>(type) || type.isInteger(1) || !memref)
    return top(type);
  // One index may range over an interval; the others must be exact.
  SmallVector<Abstract> indices;
  int varying = -1;
  for (auto [i, index] : llvm::enumerate(extract.getIndices())) {
    Abstract a = evaluate(index);
    if (a.top)
      return top(type);
    if (a.lo != a.hi) {
      if (varying >= 0)
        return top(type);
      varying = i;
    }
    indices.push_back(a);
  }
  // Indices are clamped into the capture, as the kernel's loads are.
  Value zero = arith::ConstantIndexOp::create(b, 0);
  auto clamp = [&](Value index, unsigned dim) -> Value {
    Value last = b.createOrFold<arith::SubIOp>(
        b.createOrFold<memref::DimOp>(memref, dim),
        arith::ConstantIndexOp::create(b, 1));
    return b.createOrFold<arith::MinSIOp>(
        b.createOrFold<arith::MaxSIOp>(index, zero), last);
  };
  SmallVector<Value> at;
  for (auto [i, a] : llvm::enumerate(indices))
    at.push_back(clamp(a.lo, i));
  auto fromData = [](Abstract a) {
    a.fromData = true;
    return a;
  };
  if (varying < 0) {
    Value v = memref::LoadOp::create(b, memref, at);
    return fromData(interval(v, v));
  }
  // min and max over [lo, hi] of the varying index, when it spans at most
  // kMaxDataRange elements (one block of keys, the tile's rows); else
  // unbounded. The warp's lanes share the loads (lane-strided) and combine
  // their partial results with shuffles, so every lane ends with the same
  // bounds: the classification stays warp-uniform.
  Value lo = at[varying], hi = clamp(indices[varying].hi, varying);
  Value count = b.createOrFold<arith::SubIOp>(hi, lo);
  Value small =
      cmp(P::ult, count, arith::ConstantIndexOp::create(b, kMaxDataRange));
  unsigned width = type.getIntOrFloatBitWidth();
  Value typeMin =
      constant(type, width >= 64 ? INT64_MIN : -(int64_t(1) << (width - 1)));
  Value typeMax =
      constant(type, width >= 64 ? INT64_MAX : (int64_t(1) << (width - 1)) - 1);
  auto range = scf::IfOp::create(
      b, small,
      [&](OpBuilder &, Location) {
        Value lane = gpu::LaneIdOp::create(b, /*upper_bound=*/nullptr);
        auto loop = scf::ForOp::create(
            b, b.createOrFold<arith::AddIOp>(lo, lane),
            b.createOrFold<arith::AddIOp>(hi,
                                          arith::ConstantIndexOp::create(b, 1)),
            arith::ConstantIndexOp::create(b, kWarpSize),
            ValueRange{typeMax, typeMin},
            [&](OpBuilder &, Location, Value i, ValueRange minMax) {
              SmallVector<Value> point(at);
              point[varying] = i;
              Value v = memref::LoadOp::create(b, memref, point);
              scf::YieldOp::create(
                  b, ValueRange{arith::MinSIOp::create(b, minMax[0], v),
                                arith::MaxSIOp::create(b, minMax[1], v)});
            });
        Value minValue = loop.getResult(0), maxValue = loop.getResult(1);
        for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
          minValue =
              arith::MinSIOp::create(b, minValue, shuffleXor(minValue, offset));
          maxValue =
              arith::MaxSIOp::create(b, maxValue, shuffleXor(maxValue, offset));
        }
        scf::YieldOp::create(b, ValueRange{minValue, maxValue});
      },
      [&](OpBuilder &, Location) {
        scf::YieldOp::create(b, ValueRange{typeMin, typeMax});
      });
  return fromData(interval(range.getResult(0), range.getResult(1)));
}

Abstract IntervalEmitter::evaluateOp(Operation *op, Value value) {
  using P = arith::CmpIPredicate;
  Type type = value.getType();
  if (auto index = dyn_cast<linalg::IndexOp>(op))
    return index.getDim() == 0 ? rowIndex : colIndex;
  if (auto constantOp = dyn_cast<arith::ConstantOp>(op))
    return exact(arith::ConstantOp::create(b, constantOp.getValue()));

  if (auto extract = dyn_cast<tensor::ExtractOp>(op))
    return loadRange(extract);
  auto operand = [&](unsigned i) { return evaluate(op->getOperand(i)); };
  auto constantOperand = [&](unsigned i) -> std::optional<int64_t> {
    APInt c;
    if (matchPattern(op->getOperand(i), m_ConstantInt(&c)))
      return c.getSExtValue();
    return std::nullopt;
  };
  bool isBool = type.isInteger(1);

  if (isBool) {
    if (auto cmpOp = dyn_cast<arith::CmpIOp>(op))
      return compare(cmpOp.getPredicate(), operand(0), operand(1));
    if (isa<arith::AndIOp>(op)) {
      Abstract x = operand(0), y = operand(1);
      return truth(andI(x.canTrue, y.canTrue), orI(x.canFalse, y.canFalse));
    }
    if (isa<arith::OrIOp>(op)) {
      Abstract x = operand(0), y = operand(1);
      return truth(orI(x.canTrue, y.canTrue), andI(x.canFalse, y.canFalse));
    }
    if (isa<arith::XOrIOp>(op)) {
      Abstract x = operand(0), y = operand(1);
      return truth(
          orI(andI(x.canTrue, y.canFalse), andI(x.canFalse, y.canTrue)),
          orI(andI(x.canTrue, y.canTrue), andI(x.canFalse, y.canFalse)));
    }
    if (isa<arith::SelectOp>(op)) {
      Abstract c = operand(0), x = operand(1), y = operand(2);
      return truth(
          orI(andI(c.canTrue, x.canTrue), andI(c.canFalse, y.canTrue)),
          orI(andI(c.canTrue, x.canFalse), andI(c.canFalse, y.canFalse)));
    }
    return top(type);
  }

  // Integers and index: intervals.
  if (isa<arith::AddIOp>(op)) {
    Abstract x = operand(0), y = operand(1);
    if (x.top || y.top || x.canTrue || y.canTrue)
      return top(type);
    Value lo = b.createOrFold<arith::AddIOp>(x.lo, y.lo);
    Value hi = b.createOrFold<arith::AddIOp>(x.hi, y.hi);
    if (!x.fromData && !y.fromData)
      return interval(lo, hi);
    return withOrigin(interval(lo, hi), {x, y},
                      orI(addWraps(x.lo, y.lo, lo), addWraps(x.hi, y.hi, hi)));
  }
  if (isa<arith::SubIOp>(op)) {
    Abstract x = operand(0), y = operand(1);
    if (x.top || y.top || x.canTrue || y.canTrue)
      return top(type);
    Value lo = b.createOrFold<arith::SubIOp>(x.lo, y.hi);
    Value hi = b.createOrFold<arith::SubIOp>(x.hi, y.lo);
    if (!x.fromData && !y.fromData)
      return interval(lo, hi);
    return withOrigin(interval(lo, hi), {x, y},
                      orI(subWraps(x.lo, y.hi, lo), subWraps(x.hi, y.lo, hi)));
  }
  if (isa<arith::MulIOp>(op)) {
    Abstract x = operand(0), y = operand(1);
    if (x.top || y.top || x.canTrue || y.canTrue)
      return top(type);
    std::pair<Value, Value> factors[] = {
        {x.lo, y.lo}, {x.lo, y.hi}, {x.hi, y.lo}, {x.hi, y.hi}};
    Value corners[4], wraps;
    for (auto [i, f] : llvm::enumerate(factors)) {
      corners[i] = b.createOrFold<arith::MulIOp>(f.first, f.second);
      if (x.fromData || y.fromData) {
        Value w = mulWraps(f.first, f.second, corners[i]);
        wraps = wraps ? orI(wraps, w) : w;
      }
    }
    return withOrigin(
        interval(
            minS(minS(corners[0], corners[1]), minS(corners[2], corners[3])),
            maxS(maxS(corners[0], corners[1]), maxS(corners[2], corners[3]))),
        {x, y}, wraps);
  }
  if (isa<arith::MinSIOp, arith::MaxSIOp>(op)) {
    Abstract x = operand(0), y = operand(1);
    if (x.top || y.top)
      return top(type);
    if (isa<arith::MinSIOp>(op))
      return interval(minS(x.lo, y.lo), minS(x.hi, y.hi));
    return interval(maxS(x.lo, y.lo), maxS(x.hi, y.hi));
  }
  if (isa<arith::DivSIOp, arith::FloorDivSIOp, arith::CeilDivSIOp,
          arith::ShRSIOp, arith::ShLIOp>(op)) {
    // Monotone in the dividend for a constant positive divisor (or shift).
    std::optional<int64_t> divisor = constantOperand(1);
    Abstract x = operand(0);
    bool isShift = isa<arith::ShRSIOp, arith::ShLIOp>(op);
    if (x.top || !divisor || *divisor <= 0 || (isShift && *divisor >= 63))
      return top(type);
    // The divisor is a constant: its clone is the same constant.
    Value divisorValue = cloner.uniform(op->getOperand(1));
    auto applyWith = [&](Value v) -> Value {
      IRMapping mapping;
      mapping.map(op->getOperand(0), v);
      mapping.map(op->getOperand(1), divisorValue);
      return b.clone(*op, mapping)->getResult(0);
    };
    Value lo = applyWith(x.lo), hi = applyWith(x.hi);
    Value wraps;
    if (x.fromData && isa<arith::ShLIOp>(op)) {
      // Shifting back must give the operand.
      auto back = [&](Value shifted, Value original) {
        return cmp(P::ne, b.createOrFold<arith::ShRSIOp>(shifted, divisorValue),
                   original);
      };
      wraps = orI(back(lo, x.lo), back(hi, x.hi));
    }
    return withOrigin(interval(lo, hi), {x}, wraps);
  }
  if (isa<arith::RemSIOp>(op)) {
    std::optional<int64_t> divisor = constantOperand(1);
    Abstract x = operand(0);
    if (x.top || !divisor || *divisor <= 0)
      return top(type);
    Value c = constant(type, *divisor), zero = constant(type, 0);
    // Within one period the remainder is monotone; otherwise it spans the
    // period (of the dividend's sign).
    Value samePeriod = andI(cmp(P::sge, x.lo, zero),
                            cmp(P::eq, b.createOrFold<arith::DivSIOp>(x.lo, c),
                                b.createOrFold<arith::DivSIOp>(x.hi, c)));
    Value nonNegative = cmp(P::sge, x.lo, zero);
    Value wideLo = select(nonNegative, zero, constant(type, 1 - *divisor));
    Value wideHi =
        select(cmp(P::sle, x.hi, zero), zero, constant(type, *divisor - 1));
    return interval(
        select(samePeriod, b.createOrFold<arith::RemSIOp>(x.lo, c), wideLo),
        select(samePeriod, b.createOrFold<arith::RemSIOp>(x.hi, c), wideHi));
  }
  if (isa<math::AbsIOp>(op)) {
    Abstract x = operand(0);
    if (x.top)
      return top(type);
    Value zero = constant(type, 0);
    Value negLo = b.createOrFold<arith::SubIOp>(zero, x.lo);
    Value negHi = b.createOrFold<arith::SubIOp>(zero, x.hi);
    Value nonNegative = cmp(P::sge, x.lo, zero);
    Value nonPositive = cmp(P::sle, x.hi, zero);
    // |x| of the minimum is the minimum again.
    Value wraps;
    if (x.fromData)
      wraps = subWraps(zero, x.lo, negLo);
    return withOrigin(
        interval(select(nonNegative, x.lo, select(nonPositive, negHi, zero)),
                 select(nonNegative, x.hi,
                        select(nonPositive, negLo, maxS(negLo, x.hi)))),
        {x}, wraps);
  }
  if (auto selectOp = dyn_cast<arith::SelectOp>(op)) {
    Abstract c = operand(0), x = operand(1), y = operand(2);
    if (x.top || y.top)
      return top(type);
    // Only the branches the condition may take.
    Value lo =
        select(c.canTrue, select(c.canFalse, minS(x.lo, y.lo), x.lo), y.lo);
    Value hi =
        select(c.canTrue, select(c.canFalse, maxS(x.hi, y.hi), x.hi), y.hi);
    return interval(lo, hi);
  }
  if (isa<arith::IndexCastOp, arith::ExtSIOp, arith::TruncIOp, arith::ExtUIOp,
          arith::IndexCastUIOp>(op)) {
    bool isSigned = !isa<arith::ExtUIOp, arith::IndexCastUIOp>(op);
    Abstract x = operand(0);
    if (op->getOperand(0).getType().isInteger(1))
      return castFromBool(x, type, isSigned);
    if (x.top)
      return top(type);
    if (isSigned || isa<arith::TruncIOp>(op))
      return narrowed(x, type);
    // Zero extension keeps a non-negative interval; a possibly negative
    // value becomes a large one.
    Abstract widened = narrowed(x, type);
    if (widened.top)
      return widened;
    Value nonNegative = cmp(P::sge, x.lo, constant(x.lo.getType(), 0));
    unsigned width = isa<IndexType>(type) ? 64 : type.getIntOrFloatBitWidth();
    Value maxValue =
        constant(type, width >= 64 ? INT64_MAX : (int64_t(1) << width) - 1);
    return interval(select(nonNegative, widened.lo, constant(type, 0)),
                    select(nonNegative, widened.hi, maxValue));
  }
  return top(type);
}

//===----------------------------------------------------------------------===//
// BlockClassifier
//===----------------------------------------------------------------------===//

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

BlockRanges BlockClassifier::computeRanges(Value numBlocks) {
  Value zero = arith::ConstantIndexOp::create(b, 0);
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
