//===- IntervalEmitter.cpp - Interval arithmetic over a scores body -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "IntervalEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

/// Capture data is bounded by a loop over at most this many elements.
static constexpr int64_t kMaxDataRange = 256;
static constexpr int64_t kWarpSize = 32;

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
  // Arithmetic on positions in 64 bits is assumed not to wrap; on data,
  // and in narrower types, it is checked (mayWrap).
  if (wrapped) {
    Value ok = notI(wrapped);
    result.valid = result.valid ? andI(result.valid, ok) : ok;
  }
  return result;
}

Value IntervalEmitter::addSubWraps(bool subtract, Value x, Value y,
                                   Value result) {
  // x + y wraps when the result has the sign of neither operand; x - y
  // when the operands' signs differ and the result has the sign of y.
  Value zero = constant(x.getType(), 0);
  Value xr = b.createOrFold<arith::XOrIOp>(x, result);
  Value other =
      b.createOrFold<arith::XOrIOp>(subtract ? x : y, subtract ? y : result);
  return cmp(arith::CmpIPredicate::slt,
             b.createOrFold<arith::AndIOp>(other, xr), zero);
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
  P signedPredicate = getSignedPredicate(predicate);
  bool isUnsigned = signedPredicate != predicate;
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
  // max(kMaxDataRange, groupLanes x loadsPerLane) elements (one block of
  // keys, the tile's rows); else unbounded. The lanes of a group (the warp,
  // or groupLanes aligned lanes of it) share the loads: per step each lane
  // loads loadsPerLane elements groupLanes apart, all in flight together
  // (indices past hi load hi again, which changes neither bound), and the
  // group's lanes combine their partial results with shuffles, so every
  // lane of the group ends with the same bounds.
  Value lo = at[varying], hi = clamp(indices[varying].hi, varying);
  Value count = b.createOrFold<arith::SubIOp>(hi, lo);
  int64_t step = groupLanes * loadsPerLane;
  Value small =
      cmp(P::ult, count,
          arith::ConstantIndexOp::create(b, std::max(kMaxDataRange, step)));
  unsigned width = type.getIntOrFloatBitWidth();
  Value typeMin =
      constant(type, width >= 64 ? INT64_MIN : -(int64_t(1) << (width - 1)));
  Value typeMax =
      constant(type, width >= 64 ? INT64_MAX : (int64_t(1) << (width - 1)) - 1);
  auto range = scf::IfOp::create(
      b, small,
      [&](OpBuilder &, Location) {
        Value lane = gpu::LaneIdOp::create(b, /*upper_bound=*/nullptr);
        if (groupLanes < kWarpSize)
          lane = arith::RemUIOp::create(
              b, lane, arith::ConstantIndexOp::create(b, groupLanes));
        auto loop = scf::ForOp::create(
            b, b.createOrFold<arith::AddIOp>(lo, lane),
            b.createOrFold<arith::AddIOp>(hi,
                                          arith::ConstantIndexOp::create(b, 1)),
            arith::ConstantIndexOp::create(b, step),
            ValueRange{typeMax, typeMin},
            [&](OpBuilder &, Location, Value i, ValueRange minMax) {
              SmallVector<Value> loaded;
              for (int64_t k = 0; k < loadsPerLane; ++k) {
                SmallVector<Value> point(at);
                point[varying] =
                    k == 0 ? i
                           : b.createOrFold<arith::MinSIOp>(
                                 b.createOrFold<arith::AddIOp>(
                                     i, arith::ConstantIndexOp::create(
                                            b, k * groupLanes)),
                                 hi);
                loaded.push_back(memref::LoadOp::create(b, memref, point));
              }
              Value minValue = minMax[0], maxValue = minMax[1];
              for (Value v : loaded) {
                minValue = arith::MinSIOp::create(b, minValue, v);
                maxValue = arith::MaxSIOp::create(b, maxValue, v);
              }
              scf::YieldOp::create(b, ValueRange{minValue, maxValue});
            });
        Value minValue = loop.getResult(0), maxValue = loop.getResult(1);
        for (int64_t offset = groupLanes / 2; offset > 0; offset /= 2) {
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
    return function.isRowIndex(index.getDim()) ? rowIndex : colIndex;
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
  if (isa<arith::AddIOp, arith::SubIOp>(op)) {
    Abstract x = operand(0), y = operand(1);
    if (x.top || y.top || x.canTrue || y.canTrue)
      return top(type);
    // [x.lo + y.lo, x.hi + y.hi], or [x.lo - y.hi, x.hi - y.lo].
    bool subtract = isa<arith::SubIOp>(op);
    Value yLo = subtract ? y.hi : y.lo, yHi = subtract ? y.lo : y.hi;
    auto apply = [&](Value l, Value r) -> Value {
      if (subtract)
        return b.createOrFold<arith::SubIOp>(l, r);
      return b.createOrFold<arith::AddIOp>(l, r);
    };
    Value lo = apply(x.lo, yLo), hi = apply(x.hi, yHi);
    Value wraps;
    if (x.fromData || y.fromData || mayWrap(type))
      wraps = orI(addSubWraps(subtract, x.lo, yLo, lo),
                  addSubWraps(subtract, x.hi, yHi, hi));
    return withOrigin(interval(lo, hi), {x, y}, wraps);
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
      if (x.fromData || y.fromData || mayWrap(type)) {
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
    if ((x.fromData || mayWrap(type)) && isa<arith::ShLIOp>(op)) {
      // Shifting back must give the operand.
      auto back = [&](Value shifted, Value original) {
        return cmp(P::ne, b.createOrFold<arith::ShRSIOp>(shifted, divisorValue),
                   original);
      };
      wraps = orI(back(lo, x.lo), back(hi, x.hi));
    }
    return withOrigin(interval(lo, hi), {x}, wraps);
  }
  if (isa<arith::DivUIOp, arith::RemUIOp>(op) &&
      function.getDependence(op->getOperand(1)) == kUniform) {
    // Unsigned division by a per-tile value d (a packed tile's positions
    // per head, read from the offsets when variable-length): over a
    // non-negative x in [lo, hi], x / d is monotone and x % d is too within
    // one period, else it spans [0, d - 1]. A possibly negative x (a huge
    // unsigned one) spans the whole type. The bounds divide by max(d, 1):
    // the IR may guard its own division by zero (a variable-length tile
    // past its sequence has d = 0 and visits no key block).
    Abstract x = operand(0);
    if (x.top || x.fromData)
      return top(type);
    Value one = constant(type, 1);
    Value d =
        b.createOrFold<arith::MaxUIOp>(cloner.uniform(op->getOperand(1)), one);
    Value zero = constant(type, 0);
    Value nonNegative = cmp(P::sge, x.lo, zero);
    unsigned bits = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
    Value typeMin =
        constant(type, APInt::getSignedMinValue(bits).getSExtValue());
    Value typeMax =
        constant(type, APInt::getSignedMaxValue(bits).getSExtValue());
    auto divU = [&](Value v) { return b.createOrFold<arith::DivUIOp>(v, d); };
    auto remU = [&](Value v) { return b.createOrFold<arith::RemUIOp>(v, d); };
    // (A divisor read from data makes the result data: what is computed
    // from it checks for wrapping.)
    Abstract divisor = exact(d);
    divisor.fromData = readsData(op->getOperand(1));
    if (isa<arith::DivUIOp>(op))
      return withOrigin(interval(select(nonNegative, divU(x.lo), typeMin),
                                 select(nonNegative, divU(x.hi), typeMax)),
                        {x, divisor});
    Value samePeriod = andI(nonNegative, cmp(P::eq, divU(x.lo), divU(x.hi)));
    Value wideLo = select(nonNegative, zero, typeMin);
    Value wideHi =
        select(nonNegative, b.createOrFold<arith::SubIOp>(d, one), typeMax);
    return withOrigin(interval(select(samePeriod, remU(x.lo), wideLo),
                               select(samePeriod, remU(x.hi), wideHi)),
                      {x, divisor});
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
    if (x.fromData || mayWrap(type))
      wraps = addSubWraps(/*subtract=*/true, zero, x.lo, negLo);
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
    // An unsigned cast to a type no wider keeps the bits, as the signed
    // one does (a truncation, or index <-> i64).
    auto bitWidth = [](Type t) -> unsigned {
      return isa<IndexType>(t) ? 64 : t.getIntOrFloatBitWidth();
    };
    unsigned fromWidth = bitWidth(op->getOperand(0).getType());
    if (isSigned || isa<arith::TruncIOp>(op) || bitWidth(type) <= fromWidth)
      return narrowed(x, type);
    // Zero extension keeps a non-negative interval; a possibly negative
    // value becomes one of [0, 2^from - 1] (which the wider type holds).
    Abstract widened = narrowed(x, type);
    if (widened.top)
      return widened;
    Value nonNegative = cmp(P::sge, x.lo, constant(x.lo.getType(), 0));
    Value maxValue = constant(type, (int64_t(1) << fromWidth) - 1);
    return interval(select(nonNegative, widened.lo, constant(type, 0)),
                    select(nonNegative, widened.hi, maxValue));
  }
  return top(type);
}
