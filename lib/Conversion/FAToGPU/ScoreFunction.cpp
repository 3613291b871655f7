//===- ScoreFunction.cpp - What a tile's scores body depends on -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// ScoreFunction::analyze: the scores body of a fused tile, each value
// classified by what it depends on (the element's indices, the key block,
// the tile, captured data), which TileCloner then places and clones into
// a kernel (ScoreCloner.cpp).
//
//===----------------------------------------------------------------------===//

#include "ScoreCloner.h"

#include "fa/Dialect/FA/IR/ModRegions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/RegionUtils.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

bool mlir::fa::detail::isSplitCount(const FusedAttentionTile &tile,
                                     Value value) {
  if (!tile.split)
    return false;
  scf::ForallOp forall = tile.forall;
  OpFoldResult bound = forall.getMixedUpperBound()[0];
  return isa<Value>(bound) && cast<Value>(bound) == value;
}

/// The tensors a kernel receives: the tile's operands and its captures.
static bool isKernelTensor(const FusedAttentionTile &tile, Value tensor) {
  return tensor == tile.query || tensor == tile.key || tensor == tile.value ||
         tensor == tile.output ||
         (tile.lseOutput && tensor == tile.lseOutput) ||
         (tile.isVarlen() && tensor == tile.cuSeqlensQ) ||
         (tile.cuSeqlensK && tensor == tile.cuSeqlensK) ||
         (tile.isPaged() &&
          (tensor == tile.blockTable || tensor == tile.cacheSeqlens)) ||
         llvm::is_contained(tile.captures, tensor);
}

FailureOr<unsigned> ScoreFunction::analyzeValue(Value value) {
  if (auto it = dependence.find(value); it != dependence.end())
    return it->second;
  auto fail = [&](Operation *at, const Twine &what) -> FailureOr<unsigned> {
    at->emitError("cannot evaluate the tile in a GPU kernel: ") << what;
    return failure();
  };

  unsigned result = kUniform;
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    Operation *owner = arg.getOwner()->getParentOp();
    if (owner == tile.forall && arg.getArgNumber() < tile.forall.getRank())
      result = kUniform;
    else if (owner == tile.kvLoop && arg == tile.kvLoop.getInductionVar())
      result = kBlock;
    else if (options.outerLoop && owner == options.outerLoop &&
             arg == options.outerLoop.getInductionVar())
      result = kBlock;
    else if (options.tileLoop && owner == options.tileLoop &&
             arg == options.tileLoop.getInductionVar())
      result = kUniform;
    else if (owner == tile.scores && arg.getArgNumber() == 0)
      result = kScore;
    else
      return fail(owner, "a value it uses is a block argument of this op "
                         "that no kernel index stands for");
    return dependence[value] = result;
  }

  // The split count of a split tile: the partial tensors' first dimension.
  if (isSplitCount(tile, value))
    return dependence[value] = kUniform;
  Operation *op = value.getDefiningOp();
  if (auto index = dyn_cast<linalg::IndexOp>(op)) {
    if (op->getParentOp() != tile.scores || index.getDim() > 1)
      return fail(op, "linalg.index is meaningful only in the 'scores' body");
    return dependence[value] = isRowIndex(index.getDim()) ? kRow : kCol;
  }
  // Tensors are roots (kernel arguments); their scalars are read with
  // tensor.extract / tensor.dim.
  if (isa<tensor::ExtractOp, tensor::DimOp>(op) &&
      !isKernelTensor(tile, op->getOperand(0)))
    return fail(op, "it reads a tensor the kernel does not receive (only "
                    "Q, K, V, O, LSE, the offsets or block table and lengths, "
                    "and captures read by the 'scores' body are kernel "
                    "arguments)");
  // A read at a constant index outside a tensor's static size or rank.
  auto outOfBounds = [&](Operation *at) {
    std::string wrong = describeOutOfBoundsIndex(at);
    if (!wrong.empty())
      (void)fail(at, "it " + wrong);
    return !wrong.empty();
  };
  if (outOfBounds(op))
    return failure();
  if (!isa<tensor::ExtractOp, tensor::DimOp>(op) &&
      (!isAllowedInModRegion(op) || isa<YieldOp, scf::YieldOp>(op)))
    return fail(op, Twine("'") + op->getName().getStringRef() +
                        "' is not a scalar op a kernel can evaluate");

  for (Value operand : op->getOperands()) {
    if (isa<TensorType>(operand.getType()))
      continue;
    FailureOr<unsigned> dep = analyzeValue(operand);
    if (failed(dep))
      return failure();
    result |= *dep;
  }
  // scf.if: the values its regions use from outside, and its nested ops.
  if (op->getNumRegions()) {
    WalkResult nested = op->walk([&](Operation *inner) {
      if (inner == op || isa<scf::YieldOp>(inner))
        return WalkResult::advance();
      bool readsTensor = isa<tensor::ExtractOp, tensor::DimOp>(inner);
      if ((readsTensor && !isKernelTensor(tile, inner->getOperand(0))) ||
          (!readsTensor && !isAllowedInModRegion(inner))) {
        (void)fail(inner, "it is not a scalar op a kernel can evaluate");
        return WalkResult::interrupt();
      }
      if (outOfBounds(inner))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (nested.wasInterrupted())
      return failure();
    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(op->getRegions(), above);
    for (Value outside : above) {
      if (isa<TensorType>(outside.getType())) {
        if (!isKernelTensor(tile, outside))
          return fail(op, "it reads a tensor the kernel does not receive");
        continue;
      }
      FailureOr<unsigned> dep = analyzeValue(outside);
      if (failed(dep))
        return failure();
      result |= *dep;
    }
  }
  return dependence[value] = result;
}

FailureOr<ScoreFunction>
ScoreFunction::analyze(const FusedAttentionTile &matched,
                       const ScoreFunctionOptions &options) {
  ScoreFunction function(matched, options);
  FusedAttentionTile &tile = function.tile;
  Block *body = tile.scores.getBody();
  Operation *terminator = body->getTerminator();
  if (terminator->getNumOperands() == 2)
    function.derivative = terminator->getOperand(1);
  Value kept = terminator->getOperand(0);
  FloatAttr negInf;
  if (auto select = kept.getDefiningOp<arith::SelectOp>();
      select && select->getBlock() == body &&
      matchPattern(select.getFalseValue(), m_Constant(&negInf)) &&
      negInf.getValue().isInfinity() && negInf.getValue().isNegative()) {
    function.visible = select.getCondition();
    kept = select.getTrueValue();
  }
  function.inner = kept;
  if (auto mul = kept.getDefiningOp<arith::MulFOp>();
      mul && mul->getBlock() == body) {
    for (unsigned i = 0; i < 2; ++i) {
      FloatAttr factor;
      if (!matchPattern(mul->getOperand(i), m_Constant(&factor)))
        continue;
      double c = factor.getValueAsDouble();
      if (!(c > 0) || !std::isfinite(c))
        continue;
      function.inner = mul->getOperand(1 - i);
      function.keptScale = c;
      break;
    }
  }
  function.rows = tile.rows;

  for (Value value : {function.visible, function.inner, function.derivative}) {
    if (value && failed(function.analyzeValue(value)))
      return failure();
  }
  for (Value value : options.blockValues) {
    FailureOr<unsigned> dep = function.analyzeValue(value);
    if (failed(dep))
      return failure();
    if (*dep & (kRow | kCol | kScore))
      return tile.forall.emitError("cannot evaluate the tile in a GPU "
                                   "kernel: the query head must not depend on "
                                   "a row, key or score");
  }
  if (scf::ForOp outer = options.outerLoop)
    for (Value bound : {outer.getLowerBound(), outer.getUpperBound()}) {
      FailureOr<unsigned> dep = function.analyzeValue(bound);
      if (failed(dep))
        return failure();
      if (*dep != kUniform)
        return tile.forall.emitError("cannot evaluate the tile in a GPU "
                                     "kernel: the bounds of the loop over "
                                     "query heads must depend only on the "
                                     "tile");
    }
  struct Uniform {
    Value value;
    const char *what;
  };
  for (Uniform u :
       {Uniform{tile.kvHead, "the key/value head"},
        Uniform{tile.rowStart, "the tile's first row"},
        Uniform{tile.rows, "the tile's number of rows"},
        Uniform{tile.kvLoop.getLowerBound(), "the start of the key loop"},
        Uniform{tile.kvLoop.getUpperBound(), "the end of the key loop"}}) {
    FailureOr<unsigned> dep = function.analyzeValue(u.value);
    if (failed(dep))
      return failure();
    if (*dep != kUniform)
      return tile.forall.emitError("cannot evaluate the tile in a GPU "
                                   "kernel: ")
             << u.what << " must depend only on the tile (batch, head, "
             << "query tile and sizes)";
  }
  return function;
}

