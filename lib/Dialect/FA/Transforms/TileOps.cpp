//===- TileOps.cpp - The tile-level ops of tiled attention ----------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "TileOps.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;

static Value toF32(OpBuilder &b, Location loc, Value x) {
  if (x.getType().isF32())
    return x;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), x);
}

static Value f32Constant(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(static_cast<float>(value)));
}

/// The body of a product reduction: acc + f32(lhs) * f32(rhs).
static void yieldProductSum(OpBuilder &b, Location loc, ValueRange args) {
  Value product = arith::MulFOp::create(b, loc, toF32(b, loc, args[0]),
                                        toF32(b, loc, args[1]));
  linalg::YieldOp::create(
      b, loc, arith::AddFOp::create(b, loc, args[2], product).getResult());
}

/// How the operands of a tile product are laid out.
enum class Layout { Plain, TransposeRhs, TransposeLhs };

/// acc[m, n] += lhs[m, k] * rhs[k, n] (rhs[n, k] with TransposeRhs, lhs[k, m]
/// with TransposeLhs), with the operands extended to f32: the matmuls of a
/// tile.
static Value accumulateProduct(OpBuilder &b, Location loc, Value lhs, Value rhs,
                               Value acc, Layout layout, StringRef role) {
  MLIRContext *ctx = b.getContext();
  AffineExpr m = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx),
             k = getAffineDimExpr(2, ctx);
  SmallVector<AffineExpr> lhsExprs = layout == Layout::TransposeLhs
                                         ? SmallVector<AffineExpr>{k, m}
                                         : SmallVector<AffineExpr>{m, k};
  SmallVector<AffineExpr> rhsExprs = layout == Layout::TransposeRhs
                                         ? SmallVector<AffineExpr>{n, k}
                                         : SmallVector<AffineExpr>{k, n};
  auto generic = linalg::GenericOp::create(
      b, loc, acc.getType(), ValueRange{lhs, rhs}, acc,
      ArrayRef<AffineMap>{AffineMap::get(3, 0, lhsExprs, ctx),
                          AffineMap::get(3, 0, rhsExprs, ctx),
                          AffineMap::get(3, 0, {m, n}, ctx)},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      yieldProductSum);
  setRole(generic, role);
  return generic.getResult(0);
}

Value tileops::buildQK(OpBuilder &b, Location loc, Value query, Value key,
                       Value acc) {
  return accumulateProduct(b, loc, query, key, acc, Layout::TransposeRhs,
                           TileRole::qk);
}

Value tileops::buildWeightedValues(OpBuilder &b, Location loc,
                                   Value probabilities, Value value,
                                   Value acc) {
  return accumulateProduct(b, loc, probabilities, value, acc, Layout::Plain,
                           TileRole::weightedValues);
}

Value tileops::buildRowMax(OpBuilder &b, Location loc, Value tile, Value init,
                           StringRef role) {
  return reduceRows(b, loc, tile, init, role,
                    [](OpBuilder &rb, Location rl, Value acc, Value x) {
                      return arith::MaximumFOp::create(rb, rl, acc, x)
                          .getResult();
                    });
}

Value tileops::buildRowSum(OpBuilder &b, Location loc, Value tile,
                           Value init) {
  return reduceRows(b, loc, tile, init, "row_sum",
                    [](OpBuilder &rb, Location rl, Value acc, Value x) {
                      return arith::AddFOp::create(rb, rl, acc, x).getResult();
                    });
}

Value tileops::buildExp(OpBuilder &b, Location loc, Value scores, Value max,
                        Value out) {
  return mapTile(b, loc, scores, max, out, "exp",
                 [](OpBuilder &eb, Location el, ValueRange args) -> Value {
                   Value shifted = arith::SubFOp::create(
                       eb, el, args[0], safeRowMax(eb, el, args[1]));
                   return math::ExpOp::create(eb, el, shifted);
                 });
}

Value tileops::buildExactProbabilities(OpBuilder &b, Location loc,
                                       Value scores, Value max, Value sum,
                                       Value out) {
  return mapTile(b, loc, scores, ValueRange{max, sum}, out,
                 TileRole::probabilities,
                 [](OpBuilder &eb, Location el, ValueRange args) -> Value {
                   Value shifted = arith::SubFOp::create(
                       eb, el, args[0], safeRowMax(eb, el, args[1]));
                   Value e = math::ExpOp::create(eb, el, shifted);
                   // A row that sees no key has sum 0: its probabilities
                   // are 0.
                   Value zero = f32Constant(eb, el, 0.0);
                   Value empty = arith::CmpFOp::create(
                       eb, el, arith::CmpFPredicate::OEQ, args[2], zero);
                   Value p = arith::DivFOp::create(eb, el, e, args[2]);
                   return arith::SelectOp::create(eb, el, empty, zero, p);
                 });
}

static Value exp2Shifted(OpBuilder &b, Location loc, Value x, Value max) {
  Value shifted = arith::SubFOp::create(b, loc, x, safeRowMax(b, loc, max));
  return math::Exp2Op::create(b, loc, shifted);
}

Value tileops::buildOnlineProbabilities(OpBuilder &b, Location loc,
                                        Value scores, Value max, Value out) {
  return mapTile(b, loc, scores, max, out, TileRole::probabilities,
                 [](OpBuilder &eb, Location el, ValueRange args) {
                   return exp2Shifted(eb, el, args[0], args[1]);
                 });
}

Value tileops::buildRescale(OpBuilder &b, Location loc, Value max,
                            Value newMax, Value out) {
  return mapRows(b, loc, ValueRange{max, newMax}, out, "rescale",
                 [](OpBuilder &eb, Location el, ValueRange args) {
                   return exp2Shifted(eb, el, args[0], args[1]);
                 });
}

Value tileops::buildRescaleSum(OpBuilder &b, Location loc, Value sum,
                               Value alpha, Value out) {
  return mapRows(b, loc, ValueRange{sum, alpha}, out, "rescale_sum",
                 [](OpBuilder &eb, Location el, ValueRange args) {
                   return arith::MulFOp::create(eb, el, args[0], args[1])
                       .getResult();
                 });
}

Value tileops::buildRescaleAcc(OpBuilder &b, Location loc, Value acc,
                               Value alpha, Value out) {
  return mapTile(b, loc, acc, alpha, out, "rescale_acc",
                 [](OpBuilder &eb, Location el, ValueRange args) {
                   return arith::MulFOp::create(eb, el, args[0], args[1])
                       .getResult();
                 });
}

Value tileops::buildMaxNaturalLog(OpBuilder &b, Location loc, Value max2,
                                  Value out) {
  return mapRows(b, loc, max2, out, "max_natural_log",
                 [](OpBuilder &eb, Location el, ValueRange args) {
                   Value ln2 = f32Constant(eb, el, M_LN2);
                   return arith::MulFOp::create(eb, el, args[0], ln2)
                       .getResult();
                 });
}

Value tileops::buildNormalize(OpBuilder &b, Location loc, Value acc, Value sum,
                              Value out) {
  return mapTile(b, loc, acc, sum, out, "normalize",
                 [](OpBuilder &eb, Location el, ValueRange args) -> Value {
                   Value zero = f32Constant(eb, el, 0.0);
                   Value empty = arith::CmpFOp::create(
                       eb, el, arith::CmpFPredicate::OEQ, args[1], zero);
                   Value quotient =
                       arith::DivFOp::create(eb, el, args[0], args[1]);
                   return arith::SelectOp::create(eb, el, empty, zero,
                                                  quotient);
                 });
}

Value tileops::buildStore(OpBuilder &b, Location loc, Value acc, Value out) {
  Type elementType = cast<ShapedType>(out.getType()).getElementType();
  return mapTile(b, loc, acc, {}, out, "store",
                 [&](OpBuilder &eb, Location el, ValueRange args) -> Value {
                   if (elementType.isF32())
                     return args[0];
                   return arith::TruncFOp::create(eb, el, elementType,
                                                  args[0]);
                 });
}

Value tileops::buildLse(OpBuilder &b, Location loc, Value max, Value sum,
                        Value out) {
  return mapRows(b, loc, ValueRange{max, sum}, out, "lse",
                 [](OpBuilder &eb, Location el, ValueRange args) -> Value {
                   Value logSum = math::LogOp::create(eb, el, args[1]);
                   return arith::AddFOp::create(eb, el, args[0], logSum);
                 });
}

//===----------------------------------------------------------------------===//
// The backward pass
//===----------------------------------------------------------------------===//

Value tileops::buildDelta(OpBuilder &b, Location loc, Value gradOutput,
                          Value output, Value init) {
  MLIRContext *ctx = b.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{gradOutput, output}, init,
      ArrayRef<AffineMap>{identity, identity, row},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      yieldProductSum);
  setRole(generic, TileRole::delta);
  return generic.getResult(0);
}

Value tileops::buildRecomputedProbabilities(OpBuilder &b, Location loc,
                                            Value scores, Value lse,
                                            Value out) {
  // A row that keeps no key has LSE -inf and scores -inf: subtracting 0
  // instead gives exp(-inf) = 0, not NaN.
  return mapTile(b, loc, scores, lse, out, TileRole::recomputedProbabilities,
                 [](OpBuilder &eb, Location el, ValueRange args) -> Value {
                   Value shifted = arith::SubFOp::create(
                       eb, el, args[0], safeRowMax(eb, el, args[1]));
                   return math::ExpOp::create(eb, el, shifted);
                 });
}

Value tileops::buildGradProbabilities(OpBuilder &b, Location loc,
                                      Value gradOutput, Value value,
                                      Value acc) {
  return accumulateProduct(b, loc, gradOutput, value, acc, Layout::TransposeRhs,
                           TileRole::gradProbabilities);
}

Value tileops::buildGradScores(OpBuilder &b, Location loc, Value probabilities,
                               Value gradProbabilities, Value derivative,
                               Value delta, Value out) {
  SmallVector<Value> tiles{probabilities, gradProbabilities};
  if (derivative)
    tiles.push_back(derivative);
  bool withDerivative = static_cast<bool>(derivative);
  return mapTile(b, loc, tiles, delta, out, TileRole::gradScores,
                 [&](OpBuilder &eb, Location el, ValueRange args) -> Value {
                   Value p = args[0];
                   Value rowDelta = args[withDerivative ? 3 : 2];
                   Value centered =
                       arith::SubFOp::create(eb, el, args[1], rowDelta);
                   Value ds = arith::MulFOp::create(eb, el, p, centered);
                   if (!withDerivative)
                     return ds;
                   // Where P is 0 (masked, or underflowed) the gradient is 0
                   // even if the derivative of the score_mod is not finite
                   // there.
                   Value scaled = arith::MulFOp::create(eb, el, ds, args[2]);
                   Value zero = f32Constant(eb, el, 0.0);
                   Value none = arith::CmpFOp::create(
                       eb, el, arith::CmpFPredicate::OEQ, p, zero);
                   return arith::SelectOp::create(eb, el, none, zero, scaled);
                 });
}

Value tileops::buildGradValue(OpBuilder &b, Location loc, Value probabilities,
                              Value gradOutput, Value acc) {
  return accumulateProduct(b, loc, probabilities, gradOutput, acc,
                           Layout::TransposeLhs, TileRole::gradValue);
}

Value tileops::buildGradKey(OpBuilder &b, Location loc, Value gradScores,
                            Value query, Value acc) {
  return accumulateProduct(b, loc, gradScores, query, acc, Layout::TransposeLhs,
                           TileRole::gradKey);
}

Value tileops::buildGradQuery(OpBuilder &b, Location loc, Value gradScores,
                              Value key, Value acc) {
  return accumulateProduct(b, loc, gradScores, key, acc, Layout::Plain,
                           TileRole::gradQuery);
}

Value tileops::buildScaledStore(OpBuilder &b, Location loc, Value acc,
                                double scale, Value out) {
  Type elementType = cast<ShapedType>(out.getType()).getElementType();
  return mapElements(b, loc, acc, out, TileRole::scaledStore,
                     [&](OpBuilder &eb, Location el, ValueRange args) -> Value {
                       // (A scale of 1 is no multiplication, as
                       // canonicalization would leave it.)
                       Value scaled = args[0];
                       if (scale != 1.0)
                         scaled = arith::MulFOp::create(
                             eb, el, args[0], f32Constant(eb, el, scale));
                       if (elementType.isF32())
                         return scaled;
                       return arith::TruncFOp::create(eb, el, elementType,
                                                      scaled);
                     });
}

std::optional<double> tileops::getStoredScale(linalg::GenericOp op) {
  auto muls = op.getBody()->getOps<arith::MulFOp>();
  if (muls.empty())
    return 1.0;
  if (std::next(muls.begin()) != muls.end())
    return std::nullopt;
  arith::MulFOp mul = *muls.begin();
  APFloat value(0.0f);
  if (!matchPattern(mul.getRhs(), m_ConstantFloat(&value)) &&
      !matchPattern(mul.getLhs(), m_ConstantFloat(&value)))
    return std::nullopt;
  return value.convertToDouble();
}

//===----------------------------------------------------------------------===//
// The combine step of a split key range
//===----------------------------------------------------------------------===//

/// out[r] = combine over s of in[s, r] (in: [splits, rows], out: [rows]).
static Value
reduceSplits(OpBuilder &b, Location loc, Value in, Value init, StringRef role,
             function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
  MLIRContext *ctx = b.getContext();
  AffineExpr r = getAffineDimExpr(0, ctx), s = getAffineDimExpr(1, ctx);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), in, init,
      ArrayRef<AffineMap>{AffineMap::get(2, 0, {s, r}, ctx),
                          AffineMap::get(2, 0, {r}, ctx)},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        linalg::YieldOp::create(nb, nl, combine(nb, nl, args[1], args[0]));
      });
  setRole(generic, role);
  return generic.getResult(0);
}

Value tileops::buildCombineMax(OpBuilder &b, Location loc, Value lse,
                               Value init) {
  return reduceSplits(
      b, loc, lse, init, TileRole::combineMax,
      [](OpBuilder &nb, Location nl, Value acc, Value x) {
        return arith::MaximumFOp::create(nb, nl, acc, x).getResult();
      });
}

Value tileops::buildCombineSum(OpBuilder &b, Location loc, Value weights,
                               Value init) {
  return reduceSplits(
      b, loc, weights, init, TileRole::combineSum,
      [](OpBuilder &nb, Location nl, Value acc, Value x) {
        return arith::AddFOp::create(nb, nl, acc, x).getResult();
      });
}

Value tileops::buildCombineWeights(OpBuilder &b, Location loc, Value lse,
                                   Value max, Value out) {
  MLIRContext *ctx = b.getContext();
  AffineExpr s = getAffineDimExpr(0, ctx), r = getAffineDimExpr(1, ctx);
  AffineMap identity = AffineMap::get(2, 0, {s, r}, ctx);
  auto generic = linalg::GenericOp::create(
      b, loc, out.getType(), ValueRange{lse, max}, out,
      ArrayRef<AffineMap>{identity, AffineMap::get(2, 0, {r}, ctx), identity},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        // exp(lse_s - max): 0 for a split that saw no key, and for every
        // split of a row that saw none (max = -inf is taken as 0).
        Value shifted =
            arith::SubFOp::create(nb, nl, args[0], safeRowMax(nb, nl, args[1]));
        linalg::YieldOp::create(
            nb, nl, math::ExpOp::create(nb, nl, shifted).getResult());
      });
  setRole(generic, TileRole::combineWeights);
  return generic.getResult(0);
}

Value tileops::buildCombineAcc(OpBuilder &b, Location loc, Value weights,
                               Value partial, Value acc) {
  MLIRContext *ctx = b.getContext();
  AffineExpr r = getAffineDimExpr(0, ctx), d = getAffineDimExpr(1, ctx),
             s = getAffineDimExpr(2, ctx);
  auto generic = linalg::GenericOp::create(
      b, loc, acc.getType(), ValueRange{weights, partial}, acc,
      ArrayRef<AffineMap>{AffineMap::get(3, 0, {s, r}, ctx),
                          AffineMap::get(3, 0, {s, r, d}, ctx),
                          AffineMap::get(3, 0, {r, d}, ctx)},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      yieldProductSum);
  setRole(generic, TileRole::combineAcc);
  return generic.getResult(0);
}

//===----------------------------------------------------------------------===//
// Checking an op against its builder
//===----------------------------------------------------------------------===//

/// Rebuilds `op` from its own operands with the builder of its role; null
/// when the role or the operand count is not one the builders make.
static Value rebuild(OpBuilder &b, linalg::GenericOp op) {
  StringRef role = getRole(op);
  Location loc = op.getLoc();
  SmallVector<Value> in(op.getDpsInputs());
  if (op.getNumDpsInits() != 1)
    return {};
  Value out = op.getDpsInits()[0];
  auto inputs = [&](size_t n) { return in.size() == n; };
  if (role == TileRole::qk && inputs(2))
    return tileops::buildQK(b, loc, in[0], in[1], out);
  if (role == TileRole::weightedValues && inputs(2))
    return tileops::buildWeightedValues(b, loc, in[0], in[1], out);
  if ((role == "row_max" || role == "running_max") && inputs(1))
    return tileops::buildRowMax(b, loc, in[0], out, role);
  if (role == "row_sum" && inputs(1))
    return tileops::buildRowSum(b, loc, in[0], out);
  if (role == "exp" && inputs(2))
    return tileops::buildExp(b, loc, in[0], in[1], out);
  if (role == TileRole::probabilities && inputs(3))
    return tileops::buildExactProbabilities(b, loc, in[0], in[1], in[2], out);
  if (role == TileRole::probabilities && inputs(2))
    return tileops::buildOnlineProbabilities(b, loc, in[0], in[1], out);
  if (role == "rescale" && inputs(2))
    return tileops::buildRescale(b, loc, in[0], in[1], out);
  if (role == "rescale_sum" && inputs(2))
    return tileops::buildRescaleSum(b, loc, in[0], in[1], out);
  if (role == "rescale_acc" && inputs(2))
    return tileops::buildRescaleAcc(b, loc, in[0], in[1], out);
  if (role == "max_natural_log" && inputs(1))
    return tileops::buildMaxNaturalLog(b, loc, in[0], out);
  if (role == TileRole::combineMax && inputs(1))
    return tileops::buildCombineMax(b, loc, in[0], out);
  if (role == TileRole::combineSum && inputs(1))
    return tileops::buildCombineSum(b, loc, in[0], out);
  if (role == TileRole::combineWeights && inputs(2))
    return tileops::buildCombineWeights(b, loc, in[0], in[1], out);
  if (role == TileRole::combineAcc && inputs(2))
    return tileops::buildCombineAcc(b, loc, in[0], in[1], out);
  if (role == "normalize" && inputs(2))
    return tileops::buildNormalize(b, loc, in[0], in[1], out);
  if (role == "store" && inputs(1))
    return tileops::buildStore(b, loc, in[0], out);
  if (role == "lse" && inputs(2))
    return tileops::buildLse(b, loc, in[0], in[1], out);
  if (role == TileRole::delta && inputs(2))
    return tileops::buildDelta(b, loc, in[0], in[1], out);
  if (role == TileRole::recomputedProbabilities && inputs(2))
    return tileops::buildRecomputedProbabilities(b, loc, in[0], in[1], out);
  if (role == TileRole::gradProbabilities && inputs(2))
    return tileops::buildGradProbabilities(b, loc, in[0], in[1], out);
  if (role == TileRole::gradScores && inputs(3))
    return tileops::buildGradScores(b, loc, in[0], in[1], Value(), in[2], out);
  if (role == TileRole::gradScores && inputs(4))
    return tileops::buildGradScores(b, loc, in[0], in[1], in[2], in[3], out);
  if (role == TileRole::gradValue && inputs(2))
    return tileops::buildGradValue(b, loc, in[0], in[1], out);
  if (role == TileRole::gradKey && inputs(2))
    return tileops::buildGradKey(b, loc, in[0], in[1], out);
  if (role == TileRole::gradQuery && inputs(2))
    return tileops::buildGradQuery(b, loc, in[0], in[1], out);
  if (role == TileRole::scaledStore && inputs(1))
    if (std::optional<double> scale = tileops::getStoredScale(op))
      return tileops::buildScaledStore(b, loc, in[0], *scale, out);
  return {};
}

/// Whether `lhs` and `rhs` compute the same value: compared as dataflow
/// graphs (so that canonicalization's reordering, constant hoisting and CSE
/// do not matter), commutative operands in either order.
static bool equivalentValues(Value lhs, Value rhs,
                             DenseMap<Value, Value> &equivalent);

static bool equivalentOps(Operation *lhs, Operation *rhs,
                          DenseMap<Value, Value> &equivalent) {
  if (lhs->getName() != rhs->getName() ||
      lhs->getPropertiesAsAttribute() != rhs->getPropertiesAsAttribute() ||
      lhs->getDiscardableAttrDictionary() !=
          rhs->getDiscardableAttrDictionary() ||
      lhs->getResultTypes() != rhs->getResultTypes() ||
      lhs->getNumOperands() != rhs->getNumOperands() ||
      lhs->getNumRegions() != rhs->getNumRegions())
    return false;
  auto operandsMatch = [&](bool swapped) {
    DenseMap<Value, Value> trial = equivalent;
    for (unsigned i = 0, e = lhs->getNumOperands(); i < e; ++i) {
      unsigned j = swapped ? e - 1 - i : i;
      if (!equivalentValues(lhs->getOperand(i), rhs->getOperand(j), trial))
        return false;
    }
    equivalent = std::move(trial);
    return true;
  };
  if (!operandsMatch(false) &&
      !(lhs->getNumOperands() == 2 &&
        lhs->hasTrait<OpTrait::IsCommutative>() && operandsMatch(true)))
    return false;
  // Single-block regions: the arguments correspond, then what each
  // terminator yields.
  for (auto [lr, rr] : llvm::zip(lhs->getRegions(), rhs->getRegions())) {
    if (lr.getBlocks().size() != rr.getBlocks().size() ||
        lr.getBlocks().size() > 1)
      return false;
    if (lr.empty())
      continue;
    Block &lb = lr.front(), &rb = rr.front();
    if (lb.getArgumentTypes() != rb.getArgumentTypes())
      return false;
    for (auto [la, ra] : llvm::zip(lb.getArguments(), rb.getArguments()))
      equivalent[la] = ra;
    if (!equivalentOps(lb.getTerminator(), rb.getTerminator(), equivalent))
      return false;
  }
  for (auto [l, r] : llvm::zip(lhs->getResults(), rhs->getResults()))
    equivalent[l] = r;
  return true;
}

static bool equivalentValues(Value lhs, Value rhs,
                             DenseMap<Value, Value> &equivalent) {
  if (lhs == rhs)
    return true;
  if (auto it = equivalent.find(lhs); it != equivalent.end())
    return it->second == rhs;
  Attribute lc, rc;
  if (lhs.getType() == rhs.getType() && matchPattern(lhs, m_Constant(&lc)) &&
      matchPattern(rhs, m_Constant(&rc)))
    return lc == rc;
  auto lr = dyn_cast<OpResult>(lhs), rr = dyn_cast<OpResult>(rhs);
  if (!lr || !rr || lr.getResultNumber() != rr.getResultNumber())
    return false;
  return equivalentOps(lr.getOwner(), rr.getOwner(), equivalent);
}

bool mlir::fa::areEquivalentOps(Operation *lhs, Operation *rhs,
                                DenseMap<Value, Value> &equivalent) {
  return equivalentOps(lhs, rhs, equivalent);
}

bool mlir::fa::isCanonicalTileOp(Operation *op) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic)
    return false;
  // Built in a detached block: the IR under inspection is not touched.
  Block scratch;
  OpBuilder b(op->getContext());
  b.setInsertionPointToEnd(&scratch);
  Value rebuilt = rebuild(b, generic);
  DenseMap<Value, Value> equivalent;
  bool same =
      rebuilt && areEquivalentOps(op, rebuilt.getDefiningOp(), equivalent);
  for (Operation &scratchOp :
       llvm::make_early_inc_range(llvm::reverse(scratch)))
    scratchOp.erase();
  return same;
}
