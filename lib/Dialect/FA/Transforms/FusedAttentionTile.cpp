//===- FusedAttentionTile.cpp - The contract of a fused tile --------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What a GPU strategy reads from the IR. A fused tile is checked op by op
// against what fa-tile-attention and fa-fuse-online-softmax build: the
// structural ops (slices, the two contractions, the online softmax, the
// epilogue) must be exactly the canonical ones (TileOps.h), and the parts a
// strategy clones (the element-wise scores body, the key/value head, the
// key loop's upper bound) are returned for it to clone. Anything else is a
// diagnostic on the op that differs.
//
//===----------------------------------------------------------------------===//

#include "FusedTileMatcher.h"
#include "TileMatchers.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/SetVector.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;

using mlir::fa::detail::FusedTileMatcher;

FailureOr<Operation *> FusedTileMatcher::tileOp(Value value, StringRef role,
                                                ArrayRef<Value> operands,
                                                Operation *context) {
  Operation *op = value ? value.getDefiningOp() : nullptr;
  if (!op || getRole(op) != role) {
    (void)fail(op ? op : context, Twine("expected the '") + role +
                                      "' op of the online softmax here");
    return failure();
  }
  if (!isCanonicalTileOp(op)) {
    (void)fail(op, Twine("the body or maps of '") + role +
                       "' are not the ones fa-fuse-online-softmax builds; "
                       "only the 'scores' body may be edited");
    return failure();
  }
  bool operandsMatch = op->getNumOperands() == operands.size();
  for (auto [actual, expected] : llvm::zip(op->getOperands(), operands))
    operandsMatch &= !expected || actual == expected;
  if (!operandsMatch) {
    (void)fail(op, Twine("'") + role + "' reads other values than the "
                                       "online softmax defines");
    return failure();
  }
  return op;
}

bool FusedTileMatcher::isSequenceOffset(Value value, Value &cu, bool next) {
  Value offsets =
      matchSequenceOffset(value, tile.forall, tile.batchDim(), next);
  if (!offsets || (cu && offsets != cu))
    return false;
  cu = offsets;
  return true;
}

bool FusedTileMatcher::isSequenceLength(Value value, Value &cu, Value base) {
  auto sub = value ? value.getDefiningOp<arith::SubIOp>() : arith::SubIOp();
  return sub && sub.getRhs() == base && isSequenceOffset(base, cu, false) &&
         isSequenceOffset(sub.getLhs(), cu, true);
}

bool FusedTileMatcher::isFirstHead(OpFoldResult ofr) {
  unsigned dim = tile.batchDim() + 1;
  if (tile.packedHeads == 1 || isConstantIndex(ofr, 0))
    return isInductionVar(ofr, tile.forall, dim);
  return isa<Value>(ofr) &&
         isTileStart(cast<Value>(ofr), tile.forall, dim, tile.packedHeads);
}

FailureOr<Value> FusedTileMatcher::slice(Value value, Value head, Value start,
                                         Value extent, Operation *context,
                                         StringRef what, int64_t heads) {
  auto op = value ? value.getDefiningOp<tensor::ExtractSliceOp>()
                  : tensor::ExtractSliceOp();
  if (!op) {
    (void)fail(context, Twine("the ") + what + " tile is not a slice");
    return failure();
  }
  Value source = op.getSource();
  auto sourceType = cast<RankedTensorType>(source.getType());
  SmallVector<OpFoldResult> offsets = op.getMixedOffsets(),
                            sizes = op.getMixedSizes(),
                            strides = op.getMixedStrides();
  unsigned base = tile.batchDim();
  if (varlen) {
    // [T, H, D]: rows [base + start, base + start + n) of head h.
    Value rowBase = what == "Q" ? tile.queryBase : tile.keyBase;
    bool ok = sourceType.getRank() == 3 && offsets.size() == 3 &&
              isa<Value>(offsets[0]) &&
              matchAddOf(cast<Value>(offsets[0]), rowBase) == start &&
              (head ? isValue(offsets[1], head) : isFirstHead(offsets[1])) &&
              isConstantIndex(offsets[2], 0) && isValue(sizes[0], extent) &&
              isConstantIndex(sizes[1], heads) &&
              isConstantIndex(sizes[2], sourceType.getDimSize(2)) &&
              hasUnitStrides(strides);
    if (!ok) {
      (void)fail(op, Twine("the ") + what +
                         " tile of a variable-length tile must be the slice "
                         "[base + start : base + start + n, h, :] of its "
                         "packed operand, base the sequence's first row");
      return failure();
    }
  }
  bool ok = varlen ||
            (sourceType.getRank() == 4 && offsets.size() == 4 &&
             isInductionVar(offsets[0], tile.forall, base) &&
             (head ? isValue(offsets[1], head) : isFirstHead(offsets[1])) &&
             isValue(offsets[2], start) && isConstantIndex(offsets[3], 0) &&
             isConstantIndex(sizes[0], 1) && isConstantIndex(sizes[1], heads) &&
             isValue(sizes[2], extent) &&
             isConstantIndex(sizes[3], sourceType.getDimSize(3)) &&
             hasUnitStrides(strides));
  if (!ok) {
    (void)fail(op, Twine("the ") + what +
                       (heads > 1 ? " tile must be the slice [b, h * G : h * "
                                    "G + G, start:start+n, :] of its operand "
                                    "(G = pack_gqa), as tiling makes it"
                                  : " tile must be the slice [b, h, "
                                    "start:start+n, :] of its operand, as "
                                    "tiling makes it"));
    return failure();
  }
  if (tile.forall->isProperAncestor(source.getParentBlock()->getParentOp()) ||
      source.getParentBlock()->getParentOp() == tile.forall) {
    (void)fail(op, Twine("the ") + what +
                       " operand must be defined outside the tile");
    return failure();
  }
  return source;
}

LogicalResult FusedTileMatcher::matchLoop() {
  scf::ForallOp forall = tile.forall;
  for (auto loop : forall.getBody()->getOps<scf::ForOp>()) {
    auto stage = loop->getAttrOfType<StringAttr>(SoftmaxStage::attrName);
    if (!stage)
      continue;
    if (stage.getValue() != SoftmaxStage::online)
      return fail(loop, "its softmax is not fused (fa.softmax_stage = \"" +
                            stage.getValue() +
                            "\"); run fa-fuse-online-softmax first");
    if (tile.kvLoop)
      return fail(loop, "a tile has one online key/value loop");
    tile.kvLoop = loop;
  }
  if (!tile.kvLoop)
    return fail(forall, "it has no key/value loop marked fa.softmax_stage");
  scf::ForOp loop = tile.kvLoop;
  if (loop.getNumRegionIterArgs() != 3 ||
      !isFillOf(loop.getInitArgs()[0],
                -std::numeric_limits<double>::infinity()) ||
      !isFillOf(loop.getInitArgs()[1], 0.0) ||
      !isFillOf(loop.getInitArgs()[2], 0.0))
    return fail(loop, "the online loop must carry (max = -inf, sum = 0, "
                      "acc = 0)");
  Value iv = loop.getInductionVar();
  // The loop starts at 0, or (split) at x times a multiple of block_n.
  if (!isConstantIndex(loop.getLowerBound(), 0)) {
    auto start = loop.getLowerBound().getDefiningOp<arith::MulIOp>();
    std::optional<int64_t> factor;
    if (start) {
      for (auto [constant, other] : {std::pair(start.getRhs(), start.getLhs()),
                                     std::pair(start.getLhs(), start.getRhs())})
        if (std::optional<int64_t> c = getConstantIntValue(constant);
            c && *c > 0 && *c % tile.blockN == 0) {
          factor = *c / tile.blockN;
          tile.firstBlock = other;
          break;
        }
    }
    if (!tile.split || !factor)
      return fail(loop, tile.split ? "the key loop of a split tile must start "
                                     "at 'first block * block_n'"
                                   : "the key loop must start at 0");
    tile.firstBlockScale = *factor;
  }
  Value maxIn = loop.getRegionIterArgs()[0], sumIn = loop.getRegionIterArgs()[1],
        accIn = loop.getRegionIterArgs()[2];
  Operation *yield = loop.getBody()->getTerminator();

  // Walk back from what the loop yields: (running_max, row_sum, weighted).
  auto weighted = tileOp(yield->getOperand(2), TileRole::weightedValues,
                         {nullptr, nullptr, nullptr}, yield);
  if (failed(weighted))
    return failure();
  Value probs = (*weighted)->getOperand(0), valueTile = (*weighted)->getOperand(1);
  auto rescaleAcc =
      tileOp((*weighted)->getOperand(2), "rescale_acc", {accIn, nullptr, nullptr},
             *weighted);
  if (failed(rescaleAcc))
    return failure();
  Value alpha = (*rescaleAcc)->getOperand(1);
  auto runningMax = tileOp(yield->getOperand(0), "running_max",
                           {nullptr, maxIn}, yield);
  if (failed(runningMax))
    return failure();
  Value scores = (*runningMax)->getOperand(0), newMax = (*runningMax)->getResult(0);
  if (failed(tileOp(alpha, "rescale", {maxIn, newMax, nullptr}, *rescaleAcc)) ||
      failed(tileOp(probs, TileRole::probabilities, {scores, newMax, nullptr},
                    *weighted)))
    return failure();
  auto rowSum = tileOp(yield->getOperand(1), "row_sum", {probs, nullptr}, yield);
  if (failed(rowSum) ||
      failed(tileOp((*rowSum)->getOperand(1), "rescale_sum",
                    {sumIn, alpha, nullptr}, *rowSum)))
    return failure();

  // The scores: an element-wise op over the Q K^T tile.
  auto scoresOp = scores.getDefiningOp<linalg::GenericOp>();
  if (!scoresOp || getRole(scoresOp) != TileRole::scores)
    return fail(*runningMax, "the online softmax must read the 'scores' op");
  if (scoresOp.getNumDpsInputs() != 0 || scoresOp.getNumDpsInits() != 1 ||
      scoresOp.getNumLoops() != 2 || scoresOp.getNumReductionLoops() != 0 ||
      !scoresOp.getIndexingMapsArray()[0].isIdentity() ||
      scoresOp->getBlock() != loop.getBody())
    return fail(scoresOp, "'scores' must be an element-wise map over the "
                          "Q K^T tile with no other input");
  tile.scores = scoresOp;
  auto qk = tileOp(scoresOp.getDpsInits()[0], TileRole::qk,
                   {nullptr, nullptr, nullptr}, scoresOp);
  if (failed(qk))
    return failure();
  if (!isFillOf((*qk)->getOperand(2), 0.0))
    return fail(*qk, "Q K^T must start from zero");

  // The slices: Q outside the loop; K and V at the block, one head.
  if (auto pagedKey = (*qk)->getOperand(1).getDefiningOp<PagedRowsOp>()) {
    if (failed(matchPagedRows(pagedKey, valueTile, iv, *weighted)) ||
        failed(matchQuery((*qk)->getOperand(0), *qk)))
      return failure();
  } else {
    if (failed(matchSlicedRows(*qk, valueTile, iv, *weighted)) ||
        failed(matchQuery((*qk)->getOperand(0), *qk)))
      return failure();
  }

  // Nothing else in the loop computes: the remaining ops only size the out
  // tensors of the maps and the block.
  for (Operation &op : loop.getBody()->without_terminator()) {
    // (The packed K/V row: only slices read it.)
    if (varlen && isa<arith::AddIOp>(op) &&
        llvm::all_of(op.getUsers(), [](Operation *user) {
          return isa<tensor::ExtractSliceOp>(user);
        }))
      continue;
    if (getRole(&op).empty() &&
        !isa<tensor::EmptyOp, tensor::DimOp, tensor::ExtractSliceOp,
             linalg::FillOp, arith::ConstantOp, arith::SubIOp, arith::MinSIOp>(
            &op) &&
        !(paged && isa<PagedRowsOp>(op)))
      return fail(&op, "the online loop holds an op the tile passes do not "
                       "build; edit the 'scores' body instead");
  }
  return success();
}

LogicalResult FusedTileMatcher::matchPagedRows(PagedRowsOp key, Value valueTile,
                                               Value iv, Operation *weighted) {
  paged = true;
  auto value = valueTile.getDefiningOp<PagedRowsOp>();
  if (!value)
    return fail(weighted, "the V tile of a paged tile must be read through "
                          "its block table (fa.paged_rows) as the K tile is");
  tile.kvHead = key.getHead();
  cols = key.getCount();
  tile.blockTable = key.getBlockTable();
  if (!isInductionVar(key.getSequence(), tile.forall, tile.batchDim()))
    return fail(key, "a paged tile reads the pages of its own sequence (the "
                     "batch index)");
  if (key.getStart() != iv)
    return fail(key, "the K rows of a paged tile must start at the block's "
                     "first key");
  if (value.getBlockTable() != tile.blockTable ||
      value.getSequence() != key.getSequence() ||
      value.getHead() != tile.kvHead || value.getStart() != iv ||
      value.getCount() != cols)
    return fail(value, "the V rows of a paged tile must be the K rows' "
                       "(same block table, sequence, head and keys)");
  for (Value outside :
       {Value(key.getCache()), Value(value.getCache()), tile.blockTable})
    if (!isDefinedOutside(outside))
      return fail(key, "the caches and the block table of a paged tile must "
                       "be defined outside the tile");
  if (key.getPageSize() != value.getPageSize())
    return fail(value, "the K and V caches of a paged tile must share their "
                       "page size");
  tile.key = key.getCache();
  tile.value = value.getCache();
  // min(block_n, cache_seqlens[b] - start) keys.
  auto min = cols.getDefiningOp<arith::MinSIOp>();
  auto remaining =
      min ? (isConstantIndex(min.getLhs(), tile.blockN) ? min.getRhs()
                                                        : min.getLhs())
                .getDefiningOp<arith::SubIOp>()
          : arith::SubIOp();
  tile.keyLength = remaining ? remaining.getLhs() : Value();
  tile.cacheSeqlens = tile.keyLength
                          ? matchSequenceOffset(tile.keyLength, tile.forall,
                                                tile.batchDim(), /*next=*/false)
                          : Value();
  if (!tile.cacheSeqlens ||
      !isBlockExtentOf(cols, tile.blockN, tile.keyLength, iv))
    return fail(key, "a key block of a paged tile must hold min(block_n, "
                     "cache_seqlens[b] - start) keys");
  return success();
}

LogicalResult FusedTileMatcher::matchSlicedRows(Operation *qk, Value valueTile,
                                                Value iv, Operation *weighted) {
  auto keySlice = qk->getOperand(1).getDefiningOp<tensor::ExtractSliceOp>();
  // A variable-length tile slices packed [T, H, D] operands: rows from the
  // sequence's first, cu_k[b].
  varlen = keySlice && keySlice.getMixedOffsets().size() == 3;
  unsigned rowDim = varlen ? 0 : 2;
  if (!keySlice || (!varlen && keySlice.getMixedOffsets().size() != 4) ||
      !isa<Value>(keySlice.getMixedOffsets()[1]) ||
      !isa<Value>(keySlice.getMixedSizes()[rowDim]) ||
      !isa<Value>(keySlice.getMixedOffsets()[rowDim]))
    return fail(qk, "the K tile is not a slice [b, h, start:start+n, :] "
                    "(or [cu_k[b] + start : ..., h, :] when packed)");
  tile.kvHead = cast<Value>(keySlice.getMixedOffsets()[1]);
  cols = cast<Value>(keySlice.getMixedSizes()[rowDim]);
  if (varlen) {
    Value keyRow = cast<Value>(keySlice.getMixedOffsets()[0]);
    auto add = keyRow.getDefiningOp<arith::AddIOp>();
    tile.keyBase = !add                 ? Value()
                   : add.getRhs() == iv ? add.getLhs()
                   : add.getLhs() == iv ? add.getRhs()
                                        : Value();
    if (!tile.keyBase || !isSequenceOffset(tile.keyBase, tile.cuSeqlensK,
                                           /*next=*/false))
      return fail(keySlice, "the K tile of a variable-length tile must start "
                            "at cu_k[b] + the block's first key");
  }
  FailureOr<Value> key =
      slice(qk->getOperand(1), tile.kvHead, iv, cols, qk, "K");
  FailureOr<Value> value =
      slice(valueTile, tile.kvHead, iv, cols, weighted, "V");
  if (failed(key) || failed(value))
    return failure();
  tile.key = *key;
  tile.value = *value;
  if (varlen) {
    auto min = cols.getDefiningOp<arith::MinSIOp>();
    auto remaining =
        min ? (isConstantIndex(min.getLhs(), tile.blockN) ? min.getRhs()
                                                          : min.getLhs())
                  .getDefiningOp<arith::SubIOp>()
            : arith::SubIOp();
    tile.keyLength = remaining ? remaining.getLhs() : Value();
    if (!isBlockExtentOf(cols, tile.blockN, tile.keyLength, iv) ||
        !isSequenceLength(tile.keyLength, tile.cuSeqlensK, tile.keyBase))
      return fail(keySlice, "a key block of a variable-length tile must "
                            "hold min(block_n, (cu_k[b + 1] - cu_k[b]) - "
                            "start) keys");
  } else if (!isBlockExtent(cols, tile.blockN, tile.key, 2, iv)) {
    return fail(keySlice, "a key block must hold min(block_n, Nk - start) "
                          "keys");
  }

  return success();
}

LogicalResult FusedTileMatcher::matchQuery(Value queryTile, Operation *qk) {
  scf::ForallOp forall = tile.forall;
  int64_t heads = tile.packedHeads;
  // A packed tile collapses its [G, n, D] slice into G * n rows.
  if (heads > 1) {
    auto collapse = queryTile.getDefiningOp<tensor::CollapseShapeOp>();
    SmallVector<ReassociationIndices, 4> groups;
    if (collapse)
      groups = collapse.getReassociationIndices();
    if (!collapse || collapse->getBlock() != forall.getBody() ||
        groups.size() != 2 || groups[0] != ReassociationIndices{0, 1} ||
        groups[1] != ReassociationIndices{2})
      return fail(qk, "the Q tile of a packed tile must be its [G, n, D] "
                      "slice collapsed into G * n rows");
    queryTile = collapse.getSrc();
    // Packed tokens [n, G, D] transposed to [G, n, D] first.
    auto transpose = queryTile.getDefiningOp<linalg::TransposeOp>();
    // (Packed queries against a paged cache: the K rows said nothing.)
    if (paged)
      varlen = static_cast<bool>(transpose);
    if (varlen) {
      if (!transpose || transpose->getBlock() != forall.getBody() ||
          transpose.getPermutation() != ArrayRef<int64_t>{1, 0, 2})
        return fail(qk, "the Q tile of a packed variable-length tile must be "
                        "its [n, G, D] slice transposed to [G, n, D] and "
                        "collapsed into G * n rows");
      queryTile = transpose.getInput();
    }
  }
  auto querySlice = queryTile.getDefiningOp<tensor::ExtractSliceOp>();
  // Packed queries against a paged cache: the K rows said nothing.
  if (paged && querySlice && heads == 1)
    varlen = querySlice.getMixedOffsets().size() == 3;
  unsigned rowDim = varlen ? 0 : 2;
  if (!querySlice || querySlice->getBlock() != forall.getBody() ||
      querySlice.getMixedOffsets().size() != (varlen ? 3 : 4) ||
      !isa<Value>(querySlice.getMixedOffsets()[rowDim]) ||
      !isa<Value>(querySlice.getMixedSizes()[rowDim]))
    return fail(qk, "the Q tile must be a slice taken once per tile");
  tile.rowStart = cast<Value>(querySlice.getMixedOffsets()[rowDim]);
  tile.rows = cast<Value>(querySlice.getMixedSizes()[rowDim]);
  if (varlen) {
    // Row cu_q[b] + first of the packed Q.
    auto add = tile.rowStart.getDefiningOp<arith::AddIOp>();
    Value lhs = add ? add.getLhs() : Value(),
          rhs = add ? add.getRhs() : Value();
    if (lhs && isSequenceOffset(lhs, tile.cuSeqlensQ, /*next=*/false))
      tile.queryBase = lhs, tile.rowStart = rhs;
    else if (rhs && isSequenceOffset(rhs, tile.cuSeqlensQ, /*next=*/false))
      tile.queryBase = rhs, tile.rowStart = lhs;
    else
      return fail(querySlice, "the Q tile of a variable-length tile must "
                              "start at cu_q[b] + the tile's first row");
  }
  FailureOr<Value> query = slice(querySlice.getResult(), /*head=*/Value(),
                                 tile.rowStart, tile.rows, qk, "Q", heads);
  if (failed(query))
    return failure();
  tile.query = *query;
  int64_t positions = tile.positions();
  // (With one position canonicalization folds 'tile * 1' to the tile.)
  bool startOk =
      isTileStart(tile.rowStart, forall, tile.batchDim() + 2, positions) ||
      (positions == 1 &&
       isInductionVar(tile.rowStart, forall, tile.batchDim() + 2));
  if (!startOk)
    return fail(querySlice, heads > 1 ? "the tile's first row must be 'tile * "
                                        "block_m / G'"
                                      : "the tile's first row must be 'tile * "
                                        "block_m'");
  if (varlen) {
    // max(min(block_m, (cu_q[b + 1] - cu_q[b]) - first row), 0).
    auto max = tile.rows.getDefiningOp<arith::MaxSIOp>();
    auto min =
        max ? (isConstantIndex(max.getRhs(), 0) ? max.getLhs() : max.getRhs())
                  .getDefiningOp<arith::MinSIOp>()
            : arith::MinSIOp();
    auto remaining =
        min ? (isConstantIndex(min.getLhs(), positions) ? min.getRhs()
                                                        : min.getLhs())
                  .getDefiningOp<arith::SubIOp>()
            : arith::SubIOp();
    tile.queryLength = remaining ? remaining.getLhs() : Value();
    if (!isBlockExtentOf(tile.rows, positions, tile.queryLength, tile.rowStart,
                         /*clamped=*/true) ||
        !isSequenceLength(tile.queryLength, tile.cuSeqlensQ, tile.queryBase))
      return fail(querySlice, "a variable-length tile must hold max(min("
                              "block_m, (cu_q[b + 1] - cu_q[b]) - first "
                              "row), 0) rows");
    return success();
  }
  if (!isBlockExtent(tile.rows, positions, tile.query, 2, tile.rowStart))
    return fail(querySlice, heads > 1
                                ? "a packed tile must hold min(block_m / G, "
                                  "Nq - first row) positions of each head"
                                : "a tile must hold min(block_m, Nq - first "
                                  "row) rows");
  return success();
}

LogicalResult FusedTileMatcher::matchScoresBody() {
  llvm::SetVector<Value> captures;
  if (failed(collectScoresCaptures(
          tile.scores, tile.forall, "tile",
          [&](Operation *op, const Twine &what) { return fail(op, what); },
          captures)))
    return failure();
  tile.captures.assign(captures.begin(), captures.end());
  return success();
}

FailureOr<FusedAttentionTile> FusedTileMatcher::match() {
  scf::ForallOp forall = tile.forall;
  std::optional<std::pair<int64_t, int64_t>> sizes =
      AttentionTileAttr::getBlockSizes(
          forall->getAttr(AttentionTileAttr::attrName));
  if (!sizes) {
    (void)fail(forall, Twine("it has no valid '") +
                           AttentionTileAttr::attrName + "' attribute");
    return failure();
  }
  std::tie(tile.blockM, tile.blockN) = *sizes;
  tile.split =
      AttentionTileAttr::isSplit(forall->getAttr(AttentionTileAttr::attrName));
  tile.packedHeads = AttentionTileAttr::getPackedHeads(
      forall->getAttr(AttentionTileAttr::attrName));
  if (forall.getRank() != (tile.split ? 4 : 3)) {
    (void)fail(forall, "its rank does not match its 'fa.attention_tile'");
    return failure();
  }
  if (failed(matchLoop()) || failed(matchEpilogue()) ||
      failed(matchScoresBody()))
    return failure();
  return tile;
}

FailureOr<FusedAttentionTile>
mlir::fa::matchFusedAttentionTile(scf::ForallOp forall) {
  return FusedTileMatcher(forall).match();
}
