//===- TileAttention.cpp - Tile fa.attention, exact softmax ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa.attention -> scf.forall over (batch, head, query tile) whose body runs
// three serial loops over key/value blocks: row max, exp-sum, and P.V.
//
//===----------------------------------------------------------------------===//

#include "TileOps.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Passes.h"
#include "fa/Dialect/FA/IR/ModRegions.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::fa {
#define GEN_PASS_DEF_FATILEATTENTION
#include "fa/Dialect/FA/Transforms/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;

LogicalResult mlir::fa::verifyAttentionTileSizes(
    const AttentionTileSizes &sizes,
    function_ref<InFlightDiagnostic()> emitError) {
  if (sizes.blockM < 0 || sizes.blockN < 0) {
    emitError() << "tile sizes must be positive (or 0 for the default), got "
                   "block-m="
                << sizes.blockM << " block-n=" << sizes.blockN;
    return failure();
  }
  // Far beyond any useful tile; keeps index arithmetic trivially in range.
  constexpr int64_t kMaxBlock = 1 << 16;
  if (sizes.blockM > kMaxBlock || sizes.blockN > kMaxBlock) {
    emitError() << "tile sizes must be at most " << kMaxBlock
                << ", got block-m=" << sizes.blockM
                << " block-n=" << sizes.blockN;
    return failure();
  }
  return success();
}

ArrayRef<int64_t> mlir::fa::getSupportedHeadDims() {
  static const int64_t dims[] = {64, 128, 192, 256};
  return dims;
}

bool mlir::fa::isWgmmaCandidate(Type elementType, int64_t headDim,
                                int64_t valueHeadDim) {
  return (elementType.isF16() || elementType.isBF16()) &&
         headDim == valueHeadDim &&
         llvm::is_contained(getSupportedHeadDims(), headDim);
}

AttentionTileSizes mlir::fa::getDefaultAttentionTileSizes(int64_t headDim,
                                                          bool wgmma) {
  AttentionTileSizes sizes;
  sizes.blockM = 128;
  if (wgmma)
    sizes.blockN = headDim <= 128 ? 128 : 64;
  else
    sizes.blockN = headDim <= 64 ? 64 : headDim <= 128 ? 48 : 32;
  sizes.wgmmaDefaults = wgmma;
  return sizes;
}

AttentionTileSizes
mlir::fa::resolveAttentionTileSizes(const AttentionTileSizes &sizes,
                                    int64_t headDim) {
  AttentionTileSizes defaults =
      getDefaultAttentionTileSizes(headDim, sizes.wgmmaDefaults);
  return {sizes.blockM ? sizes.blockM : defaults.blockM,
          sizes.blockN ? sizes.blockN : defaults.blockN, sizes.wgmmaDefaults};
}

namespace {

/// Everything the three key/value loops of one output tile need.
struct OutputTile {
  Value key, value;
  Value queryTile; // [rows, D], input element type
  Value batch, head, kvHead;
  Value rowStart, rows;
  Value kvLength;    // Nk
  Value kvEnd;       // last key (exclusive) any row of the tile can see
  Value causalShift; // key j is visible from row i iff j <= i + shift
  int64_t headDim, valueHeadDim, blockN;
  double scale;
  /// The op's score_mod and mask_mod (possibly empty) and its captures.
  Region *scoreMod = nullptr, *maskMod = nullptr;
  ValueRange captures;
};

Value indexConst(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

/// Extracts the [size, dim] tile at (batch, head, start) of a [B, H, N, dim]
/// tensor.
Value extractRows(OpBuilder &b, Location loc, Value source, Value batch,
                  Value head, Value start, Value size, int64_t dim) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  auto tileType = RankedTensorType::get({ShapedType::kDynamic, dim},
                                        sourceType.getElementType());
  SmallVector<OpFoldResult> offsets{batch, head, start, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(1), size,
                                  b.getIndexAttr(dim)};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, loc, tileType, source, offsets,
                                        sizes, strides);
}

/// S = score_mod(scale * Q_tile K_block^T) over keys [start, start + cols),
/// with -inf where the causal mask or mask_mod hides a key. Shape [rows,
/// cols], f32. The body computes each element with its global indices
/// (row = rowStart + linalg.index 0, col = start + linalg.index 1) and ends
/// in `select(visible, modified, -inf)` when anything masks.
Value buildScores(OpBuilder &b, Location loc, const OutputTile &tile,
                  Value start, Value cols) {
  Value keyTile = extractRows(b, loc, tile.key, tile.batch, tile.kvHead, start,
                              cols, tile.headDim);
  Value init = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{tile.rows, cols}, b.getF32Type());
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  init = linalg::FillOp::create(b, loc, zero, init).getResult(0);

  Value qk = tileops::buildQK(b, loc, tile.queryTile, keyTile, init);

  float scale = static_cast<float>(tile.scale);
  return mapTile(
      b, loc, {}, {}, qk, TileRole::scores,
      [&](OpBuilder &nb, Location nl, ValueRange args) -> Value {
        // The scale is a constant of the body so that the fusion pass can
        // fold log2(e) into it.
        Value scaleValue =
            arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(scale));
        // Before a score_mod the product may be contracted into the mod's
        // first operation, where that operation allows it (fastmath
        // contract on both, as the op's description says).
        auto fastmath = tile.scoreMod->empty()
                            ? arith::FastMathFlags::none
                            : arith::FastMathFlags::contract;
        Value modified =
            arith::MulFOp::create(nb, nl, args[0], scaleValue, fastmath);
        bool masked = tile.causalShift || !tile.maskMod->empty();
        if (tile.scoreMod->empty() && !masked)
          return modified;
        Value row = arith::AddIOp::create(nb, nl, tile.rowStart,
                                          linalg::IndexOp::create(nb, nl, 0));
        Value col = arith::AddIOp::create(nb, nl, start,
                                          linalg::IndexOp::create(nb, nl, 1));
        auto modArguments = [&](Value score) {
          SmallVector<Value> values;
          if (score)
            values.push_back(score);
          values.append({tile.batch, tile.head, row, col});
          llvm::append_range(values, tile.captures);
          return values;
        };
        if (!tile.scoreMod->empty())
          modified =
              cloneModRegion(nb, *tile.scoreMod, modArguments(modified));
        if (!masked)
          return modified;
        Value visible;
        if (tile.causalShift) {
          Value lastVisible =
              arith::AddIOp::create(nb, nl, row, tile.causalShift);
          visible = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sle,
                                          col, lastVisible);
        }
        if (!tile.maskMod->empty()) {
          Value keep =
              cloneModRegion(nb, *tile.maskMod, modArguments(Value()));
          visible = visible ? arith::AndIOp::create(nb, nl, visible, keep)
                                  .getResult()
                            : keep;
        }
        Value negInf = arith::ConstantOp::create(
            nb, nl,
            nb.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
        return arith::SelectOp::create(nb, nl, visible, modified, negInf);
      });
}

/// A loop over the key/value blocks of `tile` carrying `init`; `body`
/// returns the next value of the carried tensor.
scf::ForOp buildKeyLoop(OpBuilder &b, Location loc, const OutputTile &tile,
                        Value init, StringRef stage,
                        function_ref<Value(OpBuilder &, Location, Value start,
                                           Value cols, Value carried)>
                            body) {
  Value zero = indexConst(b, loc, 0);
  Value step = indexConst(b, loc, tile.blockN);
  auto loop = scf::ForOp::create(
      b, loc, zero, tile.kvEnd, step, ValueRange{init},
      [&](OpBuilder &nb, Location nl, Value start, ValueRange carried) {
        Value remaining = arith::SubIOp::create(nb, nl, tile.kvLength, start);
        Value cols = arith::MinSIOp::create(nb, nl, step, remaining);
        scf::YieldOp::create(nb, nl, body(nb, nl, start, cols, carried[0]));
      });
  loop->setAttr(SoftmaxStage::attrName, b.getStringAttr(stage));
  return loop;
}

/// The exact softmax of one tile: returns (O_tile f32 [rows, Dv], row max,
/// row sum).
std::tuple<Value, Value, Value> buildExactSoftmax(OpBuilder &b, Location loc,
                                                  const OutputTile &tile) {
  Value rowShape = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{tile.rows}, b.getF32Type());
  Value maxInit =
      filledLike(b, loc, rowShape, -std::numeric_limits<double>::infinity());
  scf::ForOp rowMax = buildKeyLoop(
      b, loc, tile, maxInit, SoftmaxStage::rowMax,
      [&](OpBuilder &nb, Location nl, Value start, Value cols, Value max) {
        Value scores = buildScores(nb, nl, tile, start, cols);
        return tileops::buildRowMax(nb, nl, scores, max, "row_max");
      });
  Value max = rowMax.getResult(0);

  Value sumInit = filledLike(b, loc, rowShape, 0.0);
  scf::ForOp rowSum = buildKeyLoop(
      b, loc, tile, sumInit, SoftmaxStage::rowSum,
      [&](OpBuilder &nb, Location nl, Value start, Value cols, Value sum) {
        Value scores = buildScores(nb, nl, tile, start, cols);
        Value exps = tileops::buildExp(nb, nl, scores, max,
                                       emptyLike(nb, nl, scores));
        return tileops::buildRowSum(nb, nl, exps, sum);
      });
  Value sum = rowSum.getResult(0);

  Value accInit = tensor::EmptyOp::create(
      b, loc,
      ArrayRef<OpFoldResult>{tile.rows, b.getIndexAttr(tile.valueHeadDim)},
      b.getF32Type());
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  accInit = linalg::FillOp::create(b, loc, zero, accInit).getResult(0);
  scf::ForOp weighted = buildKeyLoop(
      b, loc, tile, accInit, SoftmaxStage::weightedValues,
      [&](OpBuilder &nb, Location nl, Value start, Value cols, Value acc) {
        Value scores = buildScores(nb, nl, tile, start, cols);
        Value probs = tileops::buildExactProbabilities(
            nb, nl, scores, max, sum, emptyLike(nb, nl, scores));
        Value valueTile =
            extractRows(nb, nl, tile.value, tile.batch, tile.kvHead, start,
                        cols, tile.valueHeadDim);
        return tileops::buildWeightedValues(nb, nl, probs, valueTile, acc);
      });
  return {weighted.getResult(0), max, sum};
}

/// Emits runtime checks of what the verifier cannot see with dynamic heads.
void buildHeadChecks(OpBuilder &b, Location loc, AttentionOp op, Value qHeads,
                     Value kvHeads) {
  if (!op.getQueryType().isDynamicDim(1) && !op.getKeyType().isDynamicDim(1))
    return;
  Value zero = indexConst(b, loc, 0);
  Value positive =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, kvHeads, zero);
  cf::AssertOp::create(b, loc, positive,
                       "fa.attention: number of key/value heads must be "
                       "positive");
  Value rem = arith::RemUIOp::create(b, loc, qHeads, kvHeads);
  Value divisible =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rem, zero);
  cf::AssertOp::create(b, loc, divisible,
                       "fa.attention: number of query heads must be a multiple "
                       "of the number of key/value heads");
}

} // namespace

FailureOr<scf::ForallOp>
mlir::fa::tileAttention(RewriterBase &rewriter, AttentionOp op,
                        const AttentionTileSizes &requested) {
  if (failed(verifyAttentionTileSizes(requested,
                                      [&]() { return op.emitOpError(); })))
    return failure();
  AttentionTileSizes chosen = requested;
  if (requested.wgmmaDefaultsWherePossible) {
    auto valueType = cast<ShapedType>(op.getValue().getType());
    chosen.wgmmaDefaults = isWgmmaCandidate(
        getElementTypeOrSelf(op.getQuery().getType()), op.getHeadDim(),
        valueType.getDimSize(valueType.getRank() - 1));
  }
  AttentionTileSizes sizes = resolveAttentionTileSizes(chosen, op.getHeadDim());

  Location loc = op.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  Value query = op.getQuery(), key = op.getKey(), value = op.getValue();

  auto dim = [&](Value tensor, int64_t index) -> Value {
    return tensor::DimOp::create(rewriter, loc, tensor, index);
  };
  Value batch = dim(query, 0), qHeads = dim(query, 1), qLength = dim(query, 2);
  Value kvHeads = dim(key, 1), kvLength = dim(key, 2);
  buildHeadChecks(rewriter, loc, op, qHeads, kvHeads);
  Value group = arith::DivUIOp::create(rewriter, loc, qHeads, kvHeads);
  Value blockM = indexConst(rewriter, loc, sizes.blockM);
  Value numTiles = arith::CeilDivUIOp::create(rewriter, loc, qLength, blockM);

  Value causalShift;
  if (std::optional<CausalAlignment> causal = op.getCausal()) {
    causalShift = *causal == CausalAlignment::TopLeft
                      ? indexConst(rewriter, loc, 0)
                      : arith::SubIOp::create(rewriter, loc, kvLength, qLength)
                            .getResult();
  }

  SmallVector<Value> outputs{op.getOutput()};
  if (op.hasLse())
    outputs.push_back(op.getLseOutput());
  // (batch, head, query tile) are the GPU grid's (z, y, x): a kernel
  // launches one block per tile. The mapping also keeps canonicalization
  // from folding away a dimension of size 1 (a static batch of 1), which
  // would change the tile's shape under the later passes.
  MLIRContext *ctx = rewriter.getContext();
  ArrayAttr mapping = rewriter.getArrayAttr(
      {gpu::GPUBlockMappingAttr::get(ctx, gpu::MappingId::DimZ),
       gpu::GPUBlockMappingAttr::get(ctx, gpu::MappingId::DimY),
       gpu::GPUBlockMappingAttr::get(ctx, gpu::MappingId::DimX)});
  auto forall = scf::ForallOp::create(
      rewriter, loc, ArrayRef<OpFoldResult>{batch, qHeads, numTiles}, outputs,
      mapping);

  forall->setAttr(AttentionTileAttr::attrName,
                  AttentionTileAttr::get(rewriter.getContext(), sizes.blockM,
                                         sizes.blockN));

  rewriter.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  OutputTile tile;
  tile.key = key;
  tile.value = value;
  tile.batch = ivs[0];
  tile.head = ivs[1];
  tile.scoreMod = &op.getScoreMod();
  tile.maskMod = &op.getMaskMod();
  tile.captures = op.getCaptures();
  tile.kvHead = arith::DivUIOp::create(rewriter, loc, ivs[1], group);
  tile.rowStart = arith::MulIOp::create(rewriter, loc, ivs[2], blockM);
  tile.rows = arith::MinSIOp::create(
      rewriter, loc, blockM,
      arith::SubIOp::create(rewriter, loc, qLength, tile.rowStart));
  tile.kvLength = kvLength;
  tile.causalShift = causalShift;
  tile.kvEnd = kvLength;
  if (causalShift) {
    // Keys past the one the tile's last row sees are never loaded.
    Value lastRowEnd = arith::AddIOp::create(
        rewriter, loc,
        arith::AddIOp::create(rewriter, loc, tile.rowStart, tile.rows),
        causalShift);
    Value clamped = arith::MaxSIOp::create(rewriter, loc, lastRowEnd,
                                           indexConst(rewriter, loc, 0));
    tile.kvEnd = arith::MinSIOp::create(rewriter, loc, kvLength, clamped);
  }
  tile.headDim = op.getHeadDim();
  tile.valueHeadDim = op.getValueHeadDim();
  tile.blockN = sizes.blockN;
  tile.scale = op.getEffectiveScale();
  tile.queryTile = extractRows(rewriter, loc, query, ivs[0], ivs[1],
                               tile.rowStart, tile.rows, tile.headDim);

  auto [acc, max, sum] = buildExactSoftmax(rewriter, loc, tile);

  Type elementType = op.getQueryType().getElementType();
  Value outInit = tensor::EmptyOp::create(
      rewriter, loc,
      ArrayRef<OpFoldResult>{tile.rows,
                             rewriter.getIndexAttr(tile.valueHeadDim)},
      elementType);
  Value outTile = tileops::buildStore(rewriter, loc, acc, outInit);

  Value lseTile;
  if (op.hasLse())
    lseTile = tileops::buildLse(rewriter, loc, max, sum,
                                emptyLike(rewriter, loc, max));

  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  ValueRange shared = forall.getRegionIterArgs();
  OpFoldResult one = rewriter.getIndexAttr(1);
  OpFoldResult zeroAttr = rewriter.getIndexAttr(0);
  tensor::ParallelInsertSliceOp::create(
      rewriter, loc, outTile, shared[0],
      ArrayRef<OpFoldResult>{ivs[0], ivs[1], tile.rowStart, zeroAttr},
      ArrayRef<OpFoldResult>{one, one, tile.rows,
                             rewriter.getIndexAttr(tile.valueHeadDim)},
      ArrayRef<OpFoldResult>{one, one, one, one});
  if (lseTile) {
    tensor::ParallelInsertSliceOp::create(
        rewriter, loc, lseTile, shared[1],
        ArrayRef<OpFoldResult>{ivs[0], ivs[1], tile.rowStart},
        ArrayRef<OpFoldResult>{one, one, tile.rows},
        ArrayRef<OpFoldResult>{one, one, one});
  }
  rewriter.replaceOp(op, forall.getResults());
  return forall;
}

namespace {

struct FATileAttentionPass
    : public fa::impl::FATileAttentionBase<FATileAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    // Option errors at the function's location, without the function.
    Location loc = getOperation().getLoc();
    if (defaultsFor != "mma-sync" && defaultsFor != "hopper-ws" &&
        defaultsFor != "auto") {
      emitError(loc, "defaults-for must be mma-sync, hopper-ws or auto, got '")
          << defaultsFor.getValue() << "'";
      return signalPassFailure();
    }
    AttentionTileSizes sizes{blockM, blockN, defaultsFor == "hopper-ws",
                             defaultsFor == "auto"};
    if (failed(verifyAttentionTileSizes(sizes,
                                        [&]() { return emitError(loc); })))
      return signalPassFailure();
    SmallVector<AttentionOp> ops;
    getOperation().walk([&](AttentionOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (AttentionOp op : ops)
      if (failed(tileAttention(rewriter, op, sizes)))
        return signalPassFailure();
  }
};

} // namespace
