//===- SplitCombine.cpp - Merge the parts of a split key range ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The combine step of a split-KV attention tile (fa-tile-attention
// split-kv): an scf.forall over (batch, head, query tile) that merges the f32
// partial outputs and LSEs of the splits, and the matcher that checks it op by
// op for the GPU strategies.
//
//===----------------------------------------------------------------------===//

#include "TileMatchers.h"
#include "TileOps.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;

scf::ForallOp mlir::fa::buildSplitCombine(OpBuilder &b, Location loc,
                                          Value partialOutput, Value partialLse,
                                          Value output, Value lseOutput,
                                          int64_t blockM) {
  auto outType = cast<RankedTensorType>(output.getType());
  int64_t valueDim = outType.getDimSize(3);
  auto dim = [&](Value tensor, int64_t index) -> OpFoldResult {
    return tensor::getMixedSize(b, loc, tensor, index);
  };
  Value blockSize = indexConst(b, loc, blockM);
  Value qLength = tensor::DimOp::create(b, loc, output, 2);
  Value tiles = arith::CeilDivUIOp::create(b, loc, qLength, blockSize);
  SmallVector<Value> outputs{output};
  if (lseOutput)
    outputs.push_back(lseOutput);
  auto forall = scf::ForallOp::create(
      b, loc, ArrayRef<OpFoldResult>{dim(output, 0), dim(output, 1), tiles},
      outputs, getBlockMapping(b.getContext(), 3));
  forall->setAttr(SplitCombineAttr::attrName,
                  SplitCombineAttr::get(b.getContext(), blockM));

  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  Value rowStart = arith::MulIOp::create(b, loc, ivs[2], blockSize);
  Value rows = arith::MinSIOp::create(
      b, loc, blockSize, arith::SubIOp::create(b, loc, qLength, rowStart));
  OpFoldResult splits = dim(partialLse, 0);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  Type f32 = b.getF32Type();
  // [splits, rows] and [splits, rows, Dv] of this tile's (batch, head).
  auto lseType = RankedTensorType::get(
      {getConstantIntValue(splits).value_or(ShapedType::kDynamic),
       ShapedType::kDynamic},
      f32);
  Value lseParts = tensor::ExtractSliceOp::create(
      b, loc, lseType, partialLse,
      ArrayRef<OpFoldResult>{zero, ivs[0], ivs[1], rowStart},
      ArrayRef<OpFoldResult>{splits, one, one, rows},
      ArrayRef<OpFoldResult>{one, one, one, one});
  auto outPartsType = RankedTensorType::get(
      {lseType.getDimSize(0), ShapedType::kDynamic, valueDim}, f32);
  Value outParts = tensor::ExtractSliceOp::create(
      b, loc, outPartsType, partialOutput,
      ArrayRef<OpFoldResult>{zero, ivs[0], ivs[1], rowStart, zero},
      ArrayRef<OpFoldResult>{dim(partialOutput, 0), one, one, rows,
                             b.getIndexAttr(valueDim)},
      ArrayRef<OpFoldResult>{one, one, one, one, one});

  Value rowShape =
      tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{rows}, f32);
  Value max = tileops::buildCombineMax(
      b, loc, lseParts,
      filledLike(b, loc, rowShape, -std::numeric_limits<double>::infinity()));
  Value weights = tileops::buildCombineWeights(b, loc, lseParts, max,
                                               emptyLike(b, loc, lseParts));
  Value sum = tileops::buildCombineSum(b, loc, weights,
                                       filledLike(b, loc, rowShape, 0.0));
  Value acc = tileops::buildCombineAcc(
      b, loc, weights, outParts,
      zeroTile(b, loc, rows, b.getIndexAttr(valueDim)));
  Value normalized =
      tileops::buildNormalize(b, loc, acc, sum, emptyLike(b, loc, acc));
  Value outTile = tileops::buildStore(
      b, loc, normalized,
      tensor::EmptyOp::create(
          b, loc, ArrayRef<OpFoldResult>{rows, b.getIndexAttr(valueDim)},
          outType.getElementType()));
  Value lseTile;
  if (lseOutput)
    lseTile = tileops::buildLse(b, loc, max, sum, emptyLike(b, loc, max));

  b.setInsertionPointToStart(forall.getTerminator().getBody());
  ValueRange shared = forall.getRegionIterArgs();
  tensor::ParallelInsertSliceOp::create(
      b, loc, outTile, shared[0],
      ArrayRef<OpFoldResult>{ivs[0], ivs[1], rowStart, zero},
      ArrayRef<OpFoldResult>{one, one, rows, b.getIndexAttr(valueDim)},
      ArrayRef<OpFoldResult>{one, one, one, one});
  if (lseTile)
    tensor::ParallelInsertSliceOp::create(
        b, loc, lseTile, shared[1],
        ArrayRef<OpFoldResult>{ivs[0], ivs[1], rowStart},
        ArrayRef<OpFoldResult>{one, one, rows},
        ArrayRef<OpFoldResult>{one, one, one});
  return forall;
}

namespace {

/// Matches one combine forall; every failure is a diagnostic on the op that
/// differs from what buildSplitCombine makes.
class CombineMatcher {
public:
  explicit CombineMatcher(scf::ForallOp forall) { tile.forall = forall; }
  FailureOr<SplitCombineTile> match();

private:
  LogicalResult fail(Operation *op, const Twine &what) {
    op->emitError("not a split-KV combine a GPU strategy can implement: ")
        << what;
    return failure();
  }
  /// The canonical op of `role` defining `value`, reading `operands` (null
  /// entries: anything).
  FailureOr<Operation *> tileOp(Value value, StringRef role,
                                ArrayRef<Value> operands, Operation *context);
  /// The [splits, 1, 1, rows(, Dv)] slice at [0, b, h, first row(, 0)] of a
  /// tensor defined outside the forall; returns that tensor.
  FailureOr<Value> partSlice(Value value, bool withColumns, Operation *context);

  SplitCombineTile tile;
  Value rowStart, rows;
};

} // namespace

FailureOr<Operation *> CombineMatcher::tileOp(Value value, StringRef role,
                                              ArrayRef<Value> operands,
                                              Operation *context) {
  Operation *op = value ? value.getDefiningOp() : nullptr;
  if (!op || getRole(op) != role) {
    (void)fail(op ? op : context,
               Twine("expected the '") + role + "' op of the combine here");
    return failure();
  }
  if (!isCanonicalTileOp(op)) {
    (void)fail(op, Twine("the body or maps of '") + role +
                       "' are not the ones fa-tile-attention builds");
    return failure();
  }
  bool same = op->getNumOperands() == operands.size();
  for (auto [actual, expected] : llvm::zip(op->getOperands(), operands))
    same &= !expected || actual == expected;
  if (!same) {
    (void)fail(op, Twine("'") + role +
                       "' reads other values than the "
                       "combine defines");
    return failure();
  }
  return op;
}

/// `ofr` is the number of parts of `partial`: its first dimension, or the
/// split count of the split tile that `partial` is a result of (what
/// canonicalization folds the dimension to).
static bool isPartCount(OpFoldResult ofr, Value partial) {
  if (isSizeOf(ofr, partial, 0))
    return true;
  auto tile = partial.getDefiningOp<scf::ForallOp>();
  if (!tile ||
      !AttentionTileAttr::isSplit(tile->getAttr(AttentionTileAttr::attrName)))
    return false;
  OpFoldResult count = tile.getMixedUpperBound()[0];
  if (auto value = dyn_cast<Value>(count))
    return isValue(ofr, value);
  return isConstantIndex(ofr, *getConstantIntValue(count));
}

FailureOr<Value> CombineMatcher::partSlice(Value value, bool withColumns,
                                           Operation *context) {
  auto slice = value ? value.getDefiningOp<tensor::ExtractSliceOp>()
                     : tensor::ExtractSliceOp();
  StringRef what = withColumns ? "partial outputs" : "partial LSEs";
  if (!slice) {
    (void)fail(context, Twine("the ") + what + " are not a slice");
    return failure();
  }
  Value source = slice.getSource();
  auto type = cast<RankedTensorType>(source.getType());
  SmallVector<OpFoldResult> offsets = slice.getMixedOffsets(),
                            sizes = slice.getMixedSizes();
  size_t rank = withColumns ? 5 : 4;
  bool ok = type.getRank() == static_cast<int64_t>(rank) &&
            type.getElementType().isF32() && offsets.size() == rank &&
            isConstantIndex(offsets[0], 0) &&
            isInductionVar(offsets[1], tile.forall, 0) &&
            isInductionVar(offsets[2], tile.forall, 1) &&
            isValue(offsets[3], rowStart) && isPartCount(sizes[0], source) &&
            isConstantIndex(sizes[1], 1) && isConstantIndex(sizes[2], 1) &&
            isValue(sizes[3], rows) && hasUnitStrides(slice.getMixedStrides());
  if (ok && withColumns)
    ok = isConstantIndex(offsets[4], 0) &&
         isConstantIndex(sizes[4], type.getDimSize(4));
  if (!ok) {
    (void)fail(slice, Twine("the ") + what +
                          " must be the f32 slice [0:S, b, h, rows" +
                          (withColumns ? ", :" : "") + "] of their tensor");
    return failure();
  }
  Operation *owner = source.getParentBlock()->getParentOp();
  if (owner == tile.forall || tile.forall->isProperAncestor(owner)) {
    (void)fail(slice,
               Twine("the ") + what + " must be defined outside the combine");
    return failure();
  }
  return source;
}

FailureOr<SplitCombineTile> CombineMatcher::match() {
  scf::ForallOp forall = tile.forall;
  std::optional<int64_t> blockM =
      SplitCombineAttr::getBlockM(forall->getAttr(SplitCombineAttr::attrName));
  if (!blockM || forall.getRank() != 3) {
    (void)fail(forall, Twine("it has no valid '") + SplitCombineAttr::attrName +
                           "' attribute");
    return failure();
  }
  tile.blockM = *blockM;
  ValueRange outputs = forall.getOutputs();
  if (outputs.empty() || outputs.size() > 2) {
    (void)fail(forall, "a combine writes O and, optionally, the LSE");
    return failure();
  }
  tile.output = outputs[0];
  if (outputs.size() == 2)
    tile.lseOutput = outputs[1];

  // The grid: (B, Hq, ceildiv(Nq, block_m)) over O.
  SmallVector<OpFoldResult> ubs = forall.getMixedUpperBound();
  auto ceil = isa<Value>(ubs[2])
                  ? cast<Value>(ubs[2]).getDefiningOp<arith::CeilDivUIOp>()
                  : arith::CeilDivUIOp();
  int64_t queryLength =
      cast<RankedTensorType>(tile.output.getType()).getDimSize(2);
  bool tilesOk =
      (ceil && isSizeOf(ceil.getLhs(), tile.output, 2) &&
       isConstantIndex(ceil.getRhs(), tile.blockM)) ||
      (!ShapedType::isDynamic(queryLength) &&
       isConstantIndex(ubs[2], llvm::divideCeil(queryLength, tile.blockM)));
  if (!isSizeOf(ubs[0], tile.output, 0) || !isSizeOf(ubs[1], tile.output, 1) ||
      !tilesOk) {
    (void)fail(forall, "the tiles must cover (B, Hq, ceildiv(Nq, block_m)) "
                       "of O");
    return failure();
  }

  auto inserts = forall.getTerminator().getYieldingOps();
  if (llvm::range_size(inserts) != outputs.size()) {
    (void)fail(forall, "each output is written once per tile");
    return failure();
  }
  auto outInsert = dyn_cast<tensor::ParallelInsertSliceOp>(*inserts.begin());
  if (!outInsert || outInsert.getDest() != forall.getRegionIterArgs()[0]) {
    (void)fail(forall, "expected a parallel_insert_slice per output");
    return failure();
  }
  SmallVector<OpFoldResult> offsets = outInsert.getMixedOffsets(),
                            sizes = outInsert.getMixedSizes();
  if (offsets.size() != 4 || !hasUnitStrides(outInsert.getMixedStrides()) ||
      !isInductionVar(offsets[0], forall, 0) ||
      !isInductionVar(offsets[1], forall, 1) ||
      !isConstantIndex(offsets[3], 0) || !isa<Value>(offsets[2]) ||
      !isa<Value>(sizes[2])) {
    (void)fail(outInsert, "a tile writes rows [first row, first row + rows) "
                          "of its (batch, head)");
    return failure();
  }
  rowStart = cast<Value>(offsets[2]);
  rows = cast<Value>(sizes[2]);
  if (!isTileStart(rowStart, forall, 2, tile.blockM) ||
      !isBlockExtent(rows, tile.blockM, tile.output, 2, rowStart)) {
    (void)fail(outInsert, "a tile holds rows [tile * block_m, min(block_m, "
                          "Nq - first row))");
    return failure();
  }

  // O = store(normalize(combine_acc(w, parts), combine_sum(w))).
  auto store =
      tileOp(outInsert.getSource(), "store", {nullptr, nullptr}, outInsert);
  if (failed(store))
    return failure();
  auto normalize = tileOp((*store)->getOperand(0), "normalize",
                          {nullptr, nullptr, nullptr}, *store);
  if (failed(normalize))
    return failure();
  Value sum = (*normalize)->getOperand(1);
  auto acc = tileOp((*normalize)->getOperand(0), TileRole::combineAcc,
                    {nullptr, nullptr, nullptr}, *normalize);
  if (failed(acc))
    return failure();
  Value weights = (*acc)->getOperand(0);
  if (!isFillOf((*acc)->getOperand(2), 0.0)) {
    (void)fail(*acc, "the combined output must start from zero");
    return failure();
  }
  auto weightsOp = tileOp(weights, TileRole::combineWeights,
                          {nullptr, nullptr, nullptr}, *acc);
  if (failed(weightsOp))
    return failure();
  Value lseParts = (*weightsOp)->getOperand(0),
        max = (*weightsOp)->getOperand(1);
  auto maxOp =
      tileOp(max, TileRole::combineMax, {lseParts, nullptr}, *weightsOp);
  auto sumOp =
      tileOp(sum, TileRole::combineSum, {weights, nullptr}, *normalize);
  if (failed(maxOp) || failed(sumOp))
    return failure();
  if (!isFillOf((*maxOp)->getOperand(1),
                -std::numeric_limits<double>::infinity()) ||
      !isFillOf((*sumOp)->getOperand(1), 0.0)) {
    (void)fail(*maxOp, "the combine's maximum starts from -inf and its sum "
                       "from 0");
    return failure();
  }
  FailureOr<Value> partialLse = partSlice(lseParts, false, *weightsOp);
  FailureOr<Value> partialOutput = partSlice((*acc)->getOperand(1), true, *acc);
  if (failed(partialLse) || failed(partialOutput))
    return failure();
  tile.partialLse = *partialLse;
  tile.partialOutput = *partialOutput;

  if (tile.lseOutput) {
    auto lseInsert =
        dyn_cast<tensor::ParallelInsertSliceOp>(*std::next(inserts.begin()));
    if (!lseInsert || lseInsert.getDest() != forall.getRegionIterArgs()[1] ||
        lseInsert.getMixedOffsets().size() != 3 ||
        !hasUnitStrides(lseInsert.getMixedStrides()) ||
        !isInductionVar(lseInsert.getMixedOffsets()[0], forall, 0) ||
        !isInductionVar(lseInsert.getMixedOffsets()[1], forall, 1) ||
        !isValue(lseInsert.getMixedOffsets()[2], rowStart) ||
        !isValue(lseInsert.getMixedSizes()[2], rows)) {
      (void)fail(forall, "the LSE of a tile is written at its rows");
      return failure();
    }
    if (failed(tileOp(lseInsert.getSource(), "lse", {max, sum, nullptr},
                      lseInsert)))
      return failure();
  }
  // Nothing else computes in the tile.
  for (Operation &op : forall.getBody()->without_terminator())
    if (getRole(&op).empty() &&
        !isa<tensor::EmptyOp, tensor::DimOp, tensor::ExtractSliceOp,
             linalg::FillOp, arith::ConstantOp, arith::SubIOp, arith::MinSIOp,
             arith::MulIOp>(&op)) {
      (void)fail(&op, "the combine holds an op fa-tile-attention does not "
                      "build");
      return failure();
    }
  return tile;
}

FailureOr<SplitCombineTile> mlir::fa::matchSplitCombine(scf::ForallOp forall) {
  return CombineMatcher(forall).match();
}
