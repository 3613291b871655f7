//===- BackwardKeyTile.cpp - The stages that walk key tiles ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// matchBackwardStageTile for the two stages whose unit of work is a tile of
// keys: `key_value` (dq=stage; one forall iteration per key tile) and
// `fused` (dq=accumulate; a serial "key_tiles" loop per (batch, key/value
// head) that also accumulates dQ in f32). Both compute a tile the same way:
// K and V of the tile once, then the query heads of the group and the query
// blocks, accumulating dK and dV (and adding dS K to dQ when fused).
//
//===----------------------------------------------------------------------===//

#include "BackwardStageMatcher.h"
#include "TileMatchers.h"
#include "TileOps.h"
#include "TileUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;
using namespace mlir::fa::detail;

/// `value` is `base * count` (either operand order) where `base` is `head`
/// and `count` is `groups` (the same value, or equal constants).
static bool isGroupStart(Value value, Value head, Value groups) {
  auto mul = value ? value.getDefiningOp<arith::MulIOp>() : arith::MulIOp();
  if (!mul)
    return false;
  auto same = [](Value a, Value b) {
    if (a == b)
      return true;
    std::optional<int64_t> ca = getConstantIntValue(a),
                           cb = getConstantIntValue(b);
    return ca && cb && *ca == *cb;
  };
  return (mul.getLhs() == head && same(mul.getRhs(), groups)) ||
         (mul.getRhs() == head && same(mul.getLhs(), groups));
}

LogicalResult BackwardStageMatcher::matchKeyTile(
    Value storedK, Operation *insertK, Value storedV, Operation *insertV,
    Block *tileBody, bool fused, KeyTileParts &parts) {
  auto storeKOr =
      tileOp(storedK, TileRole::scaledStore, {nullptr, nullptr}, insertK);
  auto storeVOr = tileOp(storedV, "store", {nullptr, nullptr}, insertV);
  if (failed(storeKOr) || failed(storeVOr))
    return failure();
  Operation *storeK = *storeKOr, *storeV = *storeVOr;
  tile.gradientScale =
      *tileops::getStoredScale(cast<linalg::GenericOp>(storeK));
  scf::ForallOp forall = tile.forall;
  unsigned carried = fused ? 3 : 2;
  auto heads = storeK->getOperand(0).getDefiningOp<scf::ForOp>();
  if (!heads || heads->getBlock() != tileBody ||
      heads.getNumResults() != carried ||
      storeK->getOperand(0) != heads.getResult(0) ||
      storeV->getOperand(0) != heads.getResult(1))
    return fail(storeK, "dK and dV must be the results of the loop over the "
                        "query heads");
  if (failed(matchLoop(heads, BackwardLoop::queryHeads, 1)) ||
      !isConstantIndex(heads.getLowerBound(), 0))
    return fail(heads, "the query heads loop runs from 0 in steps of 1");
  if (!isFillOf(heads.getInitArgs()[0], 0.0) ||
      !isFillOf(heads.getInitArgs()[1], 0.0))
    return fail(heads, "dK and dV must start from zero");
  Operation *headYield = heads.getBody()->getTerminator();
  auto blocks = headYield->getOperand(0).getDefiningOp<scf::ForOp>();
  bool carriesAll = blocks && blocks->getBlock() == heads.getBody() &&
                    blocks.getNumResults() == carried;
  for (unsigned i = 0; carriesAll && i < carried; ++i)
    carriesAll = headYield->getOperand(i) == blocks.getResult(i) &&
                 blocks.getInitArgs()[i] == heads.getRegionIterArgs()[i];
  if (!carriesAll)
    return fail(heads, fused ? "the query heads loop must carry dK, dV and the "
                               "dQ accumulator through the loop over query "
                               "blocks"
                             : "the query heads loop must carry dK and dV "
                               "through the loop over query blocks");
  if (failed(matchLoop(blocks, BackwardLoop::queryBlocks, tile.blockM)))
    return failure();
  Operation *yield = blocks.getBody()->getTerminator();
  auto dk = tileOp(yield->getOperand(0), TileRole::gradKey,
                   {nullptr, nullptr, blocks.getRegionIterArgs()[0]}, yield);
  auto dv = tileOp(yield->getOperand(1), TileRole::gradValue,
                   {nullptr, nullptr, blocks.getRegionIterArgs()[1]}, yield);
  if (failed(dk) || failed(dv))
    return failure();
  FailureOr<GradScoresChain> chain = matchChain((*dk)->getOperand(0), *dk);
  if (failed(chain))
    return failure();
  if ((*dk)->getOperand(1) != chain->querySlice)
    return fail(*dk, "dK += dS^T Q must read the Q tile of Q K^T");
  if ((*dv)->getOperand(0) != chain->probabilities->getResult(0) ||
      (*dv)->getOperand(1) != chain->gradOutputSlice)
    return fail(*dv, "dV += P^T dO must read the block's P and dO tile");

  // The tile's keys: K and V, once per tile.
  auto keySlice = chain->keySlice.getDefiningOp<tensor::ExtractSliceOp>();
  if (!keySlice || keySlice->getBlock() != tileBody ||
      keySlice.getMixedOffsets().size() != 4 ||
      !isa<Value>(keySlice.getMixedOffsets()[2]) ||
      !isa<Value>(keySlice.getMixedSizes()[2]))
    return fail(chain->qk, "the K tile must be a slice taken once per tile");
  Value colStart = cast<Value>(keySlice.getMixedOffsets()[2]);
  Value cols = cast<Value>(keySlice.getMixedSizes()[2]);
  Value kvHead = forall.getInductionVar(1);
  FailureOr<Value> key =
      slice(chain->keySlice, kvHead, colStart, cols, false, chain->qk, "K");
  FailureOr<Value> value = slice(chain->valueSlice, kvHead, colStart, cols,
                                 false, chain->gradProbabilities, "V");
  if (failed(key) || failed(value))
    return failure();
  if (chain->valueSlice.getParentBlock() != tileBody)
    return fail(chain->valueSlice.getDefiningOp(),
                "the V tile must be a slice taken once per tile");
  tile.key = *key;
  tile.value = *value;
  if (!isBlockExtent(cols, tile.blockN, tile.key, 2, colStart))
    return fail(keySlice, "a tile must hold keys [first key, +min(block_n, "
                          "Nk - first key))");

  // The streamed query blocks of one query head.
  auto querySlice = chain->querySlice.getDefiningOp<tensor::ExtractSliceOp>();
  if (!querySlice || querySlice->getBlock() != blocks.getBody() ||
      querySlice.getMixedOffsets().size() != 4 ||
      !isa<Value>(querySlice.getMixedOffsets()[1]) ||
      !isa<Value>(querySlice.getMixedSizes()[2]))
    return fail(chain->qk, "the Q tile is not a slice [b, h, start:start+n, "
                           ":] of the query block");
  Value head = cast<Value>(querySlice.getMixedOffsets()[1]);
  Value rows = cast<Value>(querySlice.getMixedSizes()[2]);
  Value iv = blocks.getInductionVar();
  FailureOr<Value> query =
      slice(chain->querySlice, head, iv, rows, false, chain->qk, "Q");
  FailureOr<Value> gradOutput = slice(chain->gradOutputSlice, head, iv, rows,
                                      false, chain->gradProbabilities, "dO");
  FailureOr<Value> lse =
      slice(chain->lseSlice, head, iv, rows, true, chain->probabilities, "LSE");
  FailureOr<Value> delta = slice(chain->deltaSlice, head, iv, rows, true,
                                 chain->gradScores, "delta");
  if (failed(query) || failed(gradOutput) || failed(lse) || failed(delta))
    return failure();
  tile.query = *query;
  tile.gradOutput = *gradOutput;
  tile.lse = *lse;
  tile.delta = *delta;
  if (!isBlockExtent(rows, tile.blockM, tile.query, 2, iv))
    return fail(querySlice, "a query block must hold min(block_m, Nq - "
                            "start) rows");
  Operation *headOwner = head.getParentBlock()->getParentOp();
  if (headOwner != heads && head != heads.getInductionVar() &&
      headOwner != forall)
    return fail(querySlice, "the query head must be computed in the loop "
                            "over query heads");
  tile.headLoop = heads;
  tile.queryHead = head;

  DenseSet<Operation *> known{chain->qk,
                              chain->scores,
                              chain->probabilities,
                              chain->gradProbabilities,
                              chain->gradScores,
                              *dk,
                              *dv,
                              storeK,
                              storeV,
                              heads,
                              blocks};
  if (fused) {
    // dQacc[g, rows] += dS K, in place in the carried accumulator, where g
    // is the query head's index in the group: the head is (kv head * G) + g.
    auto insert = yield->getOperand(2).getDefiningOp<tensor::InsertSliceOp>();
    Value acc = blocks.getRegionIterArgs()[2];
    auto dq = insert ? tileOp(insert.getSource(), TileRole::gradQuery,
                              {chain->gradScores->getResult(0), chain->keySlice,
                               nullptr},
                              insert)
                     : FailureOr<Operation *>(failure());
    if (!insert || failed(dq))
      return fail(yield, "the query blocks loop must yield the dQ "
                         "accumulator with dS K added to the block's rows");
    auto accSlice =
        (*dq)->getOperand(2).getDefiningOp<tensor::ExtractSliceOp>();
    Value g = heads.getInductionVar();
    auto isAccessOfBlock = [&](auto op, Value tensor) {
      SmallVector<OpFoldResult> offsets = op.getMixedOffsets(),
                                sizes = op.getMixedSizes();
      auto type = cast<RankedTensorType>(tensor.getType());
      if (type.getRank() != 3)
        return false;
      int64_t dim = type.getDimSize(2);
      return offsets.size() == 3 && isValue(offsets[0], g) &&
             isValue(offsets[1], iv) && isConstantIndex(offsets[2], 0) &&
             isConstantIndex(sizes[0], 1) && isValue(sizes[1], rows) &&
             isConstantIndex(sizes[2], dim) &&
             llvm::all_of(op.getMixedStrides(),
                          [](OpFoldResult s) { return isConstantIndex(s, 1); });
    };
    if (!accSlice || accSlice.getSource() != acc || insert.getDest() != acc ||
        !isAccessOfBlock(accSlice, acc) || !isAccessOfBlock(insert, acc))
      return fail(*dq, "dS K must be added to the rows [g, start:start+n, :] "
                       "of the dQ accumulator, g the query head's index in "
                       "the group");
    auto addi = head.getDefiningOp<arith::AddIOp>();
    Value base;
    if (addi && addi.getRhs() == g)
      base = addi.getLhs();
    else if (addi && addi.getLhs() == g)
      base = addi.getRhs();
    if (!base || !isGroupStart(base, kvHead, heads.getUpperBound()))
      return fail(querySlice, "the query head must be kv head * G + g for "
                              "the loop's g in [0, G): the dQ accumulator "
                              "is indexed by g");
    known.insert(*dq);
    known.insert(insert);
    parts.gradQueryAccumulator = acc;
  }
  if (failed(matchNothingElse(heads.getBody(), known)) ||
      failed(matchNothingElse(blocks.getBody(), known)))
    return failure();
  parts.colStart = colStart;
  parts.cols = cols;
  parts.known = std::move(known);

  FusedAttentionTile &view = tile.scores;
  view.forall = forall;
  view.blockM = tile.blockM;
  view.blockN = tile.blockN;
  view.query = tile.query;
  view.key = tile.key;
  view.value = tile.value;
  view.kvLoop = blocks;
  view.scores = chain->scores;
  view.rowStart = colStart;
  view.rows = cols;
  view.kvHead = kvHead;
  return success();
}

/// The parallel_insert_slice of each of the forall's first `count` outputs
/// (in any order), or failure.
static FailureOr<SmallVector<tensor::ParallelInsertSliceOp>>
getInserts(scf::ForallOp forall, unsigned count) {
  auto yielding = forall.getTerminator().getYieldingOps();
  if (forall.getOutputs().size() != count ||
      llvm::range_size(yielding) != count)
    return failure();
  SmallVector<tensor::ParallelInsertSliceOp> inserts(count);
  for (Operation &op : yielding) {
    auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(&op);
    if (!insert)
      return failure();
    auto arg = dyn_cast<BlockArgument>(insert.getDest());
    if (!arg || arg.getOwner() != forall.getBody() ||
        arg.getArgNumber() < forall.getRank())
      return failure();
    unsigned index = arg.getArgNumber() - forall.getRank();
    if (inserts[index])
      return failure();
    inserts[index] = insert;
  }
  return inserts;
}

LogicalResult BackwardStageMatcher::matchKeyValue() {
  scf::ForallOp forall = tile.forall;
  auto inserts = getInserts(forall, 2);
  if (failed(inserts))
    return fail(forall, "the key_value stage writes dK and dV once per tile");
  tensor::ParallelInsertSliceOp insertK = (*inserts)[0],
                                insertV = (*inserts)[1];
  KeyTileParts parts;
  if (failed(matchKeyTile(insertK.getSource(), insertK, insertV.getSource(),
                          insertV, forall.getBody(), false, parts)))
    return failure();
  if (!isTileStart(parts.colStart, forall, 2, tile.blockN))
    return fail(parts.colStart.getDefiningOp() ? parts.colStart.getDefiningOp()
                                               : forall.getOperation(),
                "a tile's first key must be tile * block_n");
  Value kvHead = forall.getInductionVar(1);
  tile.results.assign(forall.getOutputs().begin(), forall.getOutputs().end());
  if (failed(matchInsert(insertK, 0, kvHead, parts.colStart, parts.cols,
                         insertK.getSource(), false)) ||
      failed(matchInsert(insertV, 1, kvHead, parts.colStart, parts.cols,
                         insertV.getSource(), false)) ||
      failed(matchGrid(tile.key, tile.blockN)))
    return failure();
  return matchNothingElse(forall.getBody(), parts.known);
}

LogicalResult BackwardStageMatcher::matchFused() {
  scf::ForallOp forall = tile.forall;
  if (forall.getRank() != 2)
    return fail(forall, "the fused stage runs over (batch, key/value head)");
  for (auto [lb, step] :
       llvm::zip(forall.getMixedLowerBound(), forall.getMixedStep()))
    if (!isConstantIndex(lb, 0) || !isConstantIndex(step, 1))
      return fail(forall, "a stage's (batch, head) run from 0 in steps of 1");
  auto inserts = getInserts(forall, 3);
  if (failed(inserts))
    return fail(forall, "the fused stage writes dK, dV and dQ once per "
                        "(batch, key/value head)");
  auto [insertK, insertV, insertQ] =
      std::tuple((*inserts)[0], (*inserts)[1], (*inserts)[2]);
  auto tiles = insertK.getSource().getDefiningOp<scf::ForOp>();
  if (!tiles || tiles->getBlock() != forall.getBody() ||
      tiles.getNumResults() != 3 || insertK.getSource() != tiles.getResult(0) ||
      insertV.getSource() != tiles.getResult(1))
    return fail(insertK, "dK and dV must be the results of the loop over the "
                         "key tiles");
  if (failed(matchLoop(tiles, BackwardLoop::keyTiles, tile.blockN)) ||
      !isConstantIndex(tiles.getLowerBound(), 0))
    return fail(tiles, "the key tiles loop runs from 0 in steps of block_n");
  for (unsigned i = 0; i < 2; ++i)
    if (!tiles.getInitArgs()[i].getDefiningOp<tensor::EmptyOp>())
      return fail(tiles, "dK and dV of the key tiles start as fresh tensors");
  Value acc = tiles.getInitArgs()[2];
  if (!isFillOf(acc, 0.0))
    return fail(tiles, "the dQ accumulator must start from zero");

  // One key tile: the tile's dK and dV stored into the carried tensors at
  // its first key; the accumulator carried on.
  Block *body = tiles.getBody();
  Operation *yield = body->getTerminator();
  auto insertTileK =
      yield->getOperand(0).getDefiningOp<tensor::InsertSliceOp>();
  auto insertTileV =
      yield->getOperand(1).getDefiningOp<tensor::InsertSliceOp>();
  if (!insertTileK || !insertTileV ||
      insertTileK.getDest() != tiles.getRegionIterArgs()[0] ||
      insertTileV.getDest() != tiles.getRegionIterArgs()[1])
    return fail(yield, "each key tile inserts its dK and dV into the carried "
                       "dK and dV");
  KeyTileParts parts;
  if (failed(matchKeyTile(insertTileK.getSource(), insertTileK,
                          insertTileV.getSource(), insertTileV, body, true,
                          parts)))
    return failure();
  scf::ForOp heads = tile.headLoop;
  if (parts.colStart != tiles.getInductionVar())
    return fail(tiles, "a key tile starts at the key tiles loop's induction "
                       "variable");
  if (heads.getInitArgs()[2] != tiles.getRegionIterArgs()[2] ||
      yield->getOperand(2) != heads.getResult(2))
    return fail(heads, "the key tiles loop must carry the dQ accumulator "
                       "through the loop over query heads");
  if (!isSizeOf(tiles.getUpperBound(), tile.key, 2))
    return fail(tiles, "the key tiles must cover the keys [0, Nk)");
  for (tensor::InsertSliceOp insert : {insertTileK, insertTileV}) {
    SmallVector<OpFoldResult> offsets = insert.getMixedOffsets(),
                              sizes = insert.getMixedSizes();
    if (offsets.size() != 2 || !isValue(offsets[0], parts.colStart) ||
        !isConstantIndex(offsets[1], 0) || !isValue(sizes[0], parts.cols) ||
        !isConstantIndex(sizes[1], insert.getSourceType().getDimSize(1)) ||
        !llvm::all_of(insert.getMixedStrides(),
                      [](OpFoldResult s) { return isConstantIndex(s, 1); }))
      return fail(insert, "a key tile writes its rows [first key, +keys) of "
                          "dK and dV");
  }

  // dQ = scale * the accumulator, into the group's query heads.
  auto storeQ = tileOp(insertQ.getSource(), TileRole::scaledStore,
                       {tiles.getResult(2), nullptr}, insertQ);
  if (failed(storeQ))
    return failure();
  tile.queryGradientScale =
      *tileops::getStoredScale(cast<linalg::GenericOp>(*storeQ));
  Value kvHead = forall.getInductionVar(1);
  Value groups = heads.getUpperBound();
  auto accType = cast<RankedTensorType>(acc.getType());
  SmallVector<OpFoldResult> qOffsets = insertQ.getMixedOffsets(),
                            qSizes = insertQ.getMixedSizes();
  Value qStart = qOffsets.size() == 4 && isa<Value>(qOffsets[1])
                     ? cast<Value>(qOffsets[1])
                     : Value();
  bool dqOk =
      accType.getRank() == 3 && qOffsets.size() == 4 &&
      isInductionVar(qOffsets[0], forall, 0) &&
      isGroupStart(qStart, kvHead, groups) && isConstantIndex(qOffsets[2], 0) &&
      isConstantIndex(qOffsets[3], 0) && isConstantIndex(qSizes[0], 1) &&
      (isValue(qSizes[1], groups) ||
       (getConstantIntValue(qSizes[1]) &&
        getConstantIntValue(qSizes[1]) == getConstantIntValue(groups))) &&
      isSizeOf(qSizes[2], tile.query, 2) &&
      isConstantIndex(qSizes[3], accType.getDimSize(2)) &&
      llvm::all_of(insertQ.getMixedStrides(),
                   [](OpFoldResult s) { return isConstantIndex(s, 1); });
  if (!dqOk)
    return fail(insertQ, "dQ is written as [b, kv head * G, 0, 0] of sizes "
                         "[1, G, Nq, D]: the accumulator of the group's "
                         "query heads");

  // The grid: (B, Hkv) of K.
  SmallVector<OpFoldResult> ubs = forall.getMixedUpperBound();
  if (!(isSizeOf(ubs[0], tile.key, 0) || isSizeOf(ubs[0], tile.query, 0)) ||
      !isSizeOf(ubs[1], tile.key, 1))
    return fail(forall, "the fused stage must cover (B, Hkv) of K");
  tile.keyTiles = tiles;
  tile.results = {forall.getOutputs()[0], forall.getOutputs()[1],
                  forall.getOutputs()[2]};
  auto wholeRows = [&](tensor::ParallelInsertSliceOp insert) {
    SmallVector<OpFoldResult> offsets = insert.getMixedOffsets(),
                              sizes = insert.getMixedSizes();
    return offsets.size() == 4 && isInductionVar(offsets[0], forall, 0) &&
           isValue(offsets[1], kvHead) && isConstantIndex(offsets[2], 0) &&
           isConstantIndex(offsets[3], 0) && isConstantIndex(sizes[0], 1) &&
           isConstantIndex(sizes[1], 1) && isSizeOf(sizes[2], tile.key, 2) &&
           isConstantIndex(sizes[3], insert.getDestType().getDimSize(3)) &&
           llvm::all_of(insert.getMixedStrides(),
                        [](OpFoldResult s) { return isConstantIndex(s, 1); });
  };
  for (auto insert : {insertK, insertV})
    if (insert.getSource() != tiles.getResult(insert == insertK ? 0 : 1) ||
        !wholeRows(insert))
      return fail(insert, "the fused stage writes all keys [b, kv head, :, "
                          ":] of dK and dV");
  DenseSet<Operation *> known = parts.known;
  known.insert(*storeQ);
  known.insert(tiles);
  for (Operation *op : {insertTileK.getOperation(), insertTileV.getOperation()})
    known.insert(op);
  if (failed(matchNothingElse(body, known)) ||
      failed(matchNothingElse(forall.getBody(), known)))
    return failure();
  return success();
}
