//===- BackwardStageTile.cpp - The contract of a backward stage -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What a GPU strategy reads from a tiled fa.attention_backward.
// As for the forward's fused tile, every structural op (slices, the
// contractions, the recomputed probabilities, dS, the stores) must be the
// one fa-tile-attention-backward builds, connected as it connects them;
// the scores body and the index values it reads are returned for the
// strategy to clone. Anything else is a diagnostic on the op that differs.
//
//===----------------------------------------------------------------------===//

#include "BackwardStageMatcher.h"
#include "TileMatchers.h"
#include "TileOps.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;
using namespace mlir::fa::detail;

FailureOr<Operation *> BackwardStageMatcher::tileOp(Value value, StringRef role,
                                                    ArrayRef<Value> operands,
                                                    Operation *context) {
  Operation *op = value ? value.getDefiningOp() : nullptr;
  if (!op || getRole(op) != role) {
    (void)fail(op ? op : context,
               Twine("expected the '") + role + "' op of the stage here");
    return failure();
  }
  if (!isCanonicalTileOp(op)) {
    (void)fail(op, Twine("the body or maps of '") + role +
                       "' are not the ones fa-tile-attention-backward "
                       "builds; only the 'scores' body may be edited");
    return failure();
  }
  bool operandsMatch = op->getNumOperands() == operands.size();
  for (auto [actual, expected] : llvm::zip(op->getOperands(), operands))
    operandsMatch &= !expected || actual == expected;
  if (!operandsMatch) {
    (void)fail(op, Twine("'") + role +
                       "' reads other values than the tiling defines");
    return failure();
  }
  return op;
}

FailureOr<Value> BackwardStageMatcher::slice(Value value, Value head,
                                             Value start, Value extent,
                                             bool vector, Operation *context,
                                             StringRef what) {
  auto op = value ? value.getDefiningOp<tensor::ExtractSliceOp>()
                  : tensor::ExtractSliceOp();
  if (!op) {
    (void)fail(context, Twine("the ") + what + " tile is not a slice");
    return failure();
  }
  Value source = op.getSource();
  auto sourceType = cast<RankedTensorType>(source.getType());
  size_t rank = vector ? 3 : 4;
  SmallVector<OpFoldResult> offsets = op.getMixedOffsets(),
                            sizes = op.getMixedSizes(),
                            strides = op.getMixedStrides();
  bool ok = sourceType.getRank() == static_cast<int64_t>(rank) &&
            offsets.size() == rank &&
            isInductionVar(offsets[0], tile.forall, 0) &&
            isValue(offsets[1], head) && isValue(offsets[2], start) &&
            isConstantIndex(sizes[0], 1) && isConstantIndex(sizes[1], 1) &&
            isValue(sizes[2], extent) &&
            llvm::all_of(strides,
                         [](OpFoldResult s) { return isConstantIndex(s, 1); });
  if (ok && !vector)
    ok = isConstantIndex(offsets[3], 0) &&
         isConstantIndex(sizes[3], sourceType.getDimSize(3));
  if (!ok) {
    (void)fail(op, Twine("the ") + what + " tile must be the slice [b, h, " +
                       "start:start+n" + (vector ? "" : ", :") +
                       "] of its operand, as the tiling makes it");
    return failure();
  }
  Operation *owner = source.getParentBlock()->getParentOp();
  if (owner == tile.forall || tile.forall->isProperAncestor(owner)) {
    (void)fail(op, Twine("the ") + what +
                       " operand must be defined outside the stage");
    return failure();
  }
  return source;
}

LogicalResult BackwardStageMatcher::matchScoresBody(linalg::GenericOp scores) {
  unsigned results = scores->getNumResults();
  if (scores.getNumDpsInputs() != 0 || (results != 1 && results != 2) ||
      scores.getNumLoops() != 2 || scores.getNumReductionLoops() != 0 ||
      !llvm::all_of(scores.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return fail(scores, "'scores' must be an element-wise map over the Q K^T "
                        "tile with no other input (and, with a score_mod, a "
                        "second result: its derivative)");
  llvm::SetVector<Value> captures(tile.scores.captures.begin(),
                                  tile.scores.captures.end());
  if (failed(collectScoresCaptures(
          scores, tile.forall, "stage",
          [&](Operation *op, const Twine &what) { return fail(op, what); },
          captures)))
    return failure();
  tile.scores.captures.assign(captures.begin(), captures.end());
  return success();
}

FailureOr<GradScoresChain>
BackwardStageMatcher::matchChain(Value gradScores, Operation *context) {
  GradScoresChain chain;
  // Three inputs, or four with the derivative of the score_mod.
  Operation *dsOp = gradScores ? gradScores.getDefiningOp() : nullptr;
  unsigned operands = dsOp ? dsOp->getNumOperands() : 0;
  SmallVector<Value> any(operands == 5 ? 5 : 4, Value());
  auto ds = tileOp(gradScores, TileRole::gradScores, any, context);
  if (failed(ds))
    return failure();
  chain.gradScores = *ds;
  unsigned inputs = cast<linalg::GenericOp>(*ds).getNumDpsInputs();
  bool derivative = inputs == 4;
  Value probabilities = (*ds)->getOperand(0);
  Value gradProbabilities = (*ds)->getOperand(1);
  chain.deltaSlice = (*ds)->getOperand(derivative ? 3 : 2);

  auto p = tileOp(probabilities, TileRole::recomputedProbabilities,
                  {nullptr, nullptr, nullptr}, *ds);
  if (failed(p))
    return failure();
  chain.probabilities = *p;
  chain.lseSlice = (*p)->getOperand(1);
  Value scores = (*p)->getOperand(0);
  auto scoresOp = scores.getDefiningOp<linalg::GenericOp>();
  if (!scoresOp || getRole(scoresOp) != TileRole::scores ||
      cast<OpResult>(scores).getResultNumber() != 0)
    return (void)fail(*p, "the probabilities must read the first result of "
                          "the 'scores' op"),
           failure();
  chain.scores = scoresOp;
  bool hasDerivative = scoresOp->getNumResults() == 2;
  if (derivative != hasDerivative ||
      (derivative && (*ds)->getOperand(2) != scoresOp->getResult(1)))
    return (void)fail(*ds, "dS must multiply by the derivative the 'scores' "
                           "op yields exactly when it yields one"),
           failure();
  if (failed(matchScoresBody(scoresOp)))
    return failure();

  auto qk = tileOp(scoresOp.getDpsInits()[0], TileRole::qk,
                   {nullptr, nullptr, nullptr}, scoresOp);
  if (failed(qk))
    return failure();
  if (!isFillOf((*qk)->getOperand(2), 0.0))
    return (void)fail(*qk, "Q K^T must start from zero"), failure();
  chain.qk = *qk;
  chain.querySlice = (*qk)->getOperand(0);
  chain.keySlice = (*qk)->getOperand(1);

  auto dp = tileOp(gradProbabilities, TileRole::gradProbabilities,
                   {nullptr, nullptr, nullptr}, *ds);
  if (failed(dp))
    return failure();
  if (!isFillOf((*dp)->getOperand(2), 0.0))
    return (void)fail(*dp, "dO V^T must start from zero"), failure();
  chain.gradProbabilities = *dp;
  chain.gradOutputSlice = (*dp)->getOperand(0);
  chain.valueSlice = (*dp)->getOperand(1);
  return chain;
}

LogicalResult BackwardStageMatcher::matchGrid(Value operand, int64_t block) {
  scf::ForallOp forall = tile.forall;
  SmallVector<OpFoldResult> ubs = forall.getMixedUpperBound();
  if (ubs.size() != 3)
    return fail(forall, "a stage runs over (batch, head, tile)");
  for (auto [lb, step] :
       llvm::zip(forall.getMixedLowerBound(), forall.getMixedStep()))
    if (!isConstantIndex(lb, 0) || !isConstantIndex(step, 1))
      return fail(forall, "a stage's (batch, head, tile) run from 0 in steps "
                          "of 1: one GPU block per iteration");
  auto ceil = isa<Value>(ubs[2])
                  ? cast<Value>(ubs[2]).getDefiningOp<arith::CeilDivUIOp>()
                  : arith::CeilDivUIOp();
  int64_t length = cast<RankedTensorType>(operand.getType()).getDimSize(2);
  bool tilesOk = (ceil && isSizeOf(ceil.getLhs(), operand, 2) &&
                  isConstantIndex(ceil.getRhs(), block)) ||
                 (!ShapedType::isDynamic(length) &&
                  isConstantIndex(ubs[2], llvm::divideCeil(length, block)));
  // The batch may be counted in Q (the tiling's choice) or the operand.
  bool batchOk = isSizeOf(ubs[0], operand, 0) ||
                 (tile.query && isSizeOf(ubs[0], tile.query, 0));
  if (!batchOk || !isSizeOf(ubs[1], operand, 1) || !tilesOk)
    return fail(forall, "the tiles must cover (B, heads, ceildiv(N, block)) "
                        "of the operand they tile");
  return success();
}

LogicalResult
BackwardStageMatcher::matchInsert(tensor::ParallelInsertSliceOp insert,
                                  unsigned index, Value head, Value start,
                                  Value extent, Value source, bool vector) {
  scf::ForallOp forall = tile.forall;
  if (insert.getDest() != forall.getRegionIterArgs()[index] ||
      insert.getSource() != source)
    return fail(insert, "expected the stage's tile of this output here");
  SmallVector<OpFoldResult> offsets = insert.getMixedOffsets(),
                            sizes = insert.getMixedSizes();
  size_t rank = vector ? 3 : 4;
  if (sizes.size() != rank ||
      !llvm::all_of(insert.getMixedStrides(),
                    [](OpFoldResult s) { return isConstantIndex(s, 1); }) ||
      !isConstantIndex(sizes[0], 1) || !isConstantIndex(sizes[1], 1) ||
      (!vector &&
       !isConstantIndex(sizes[3], cast<RankedTensorType>(insert.getDestType())
                                      .getDimSize(3))))
    return fail(insert, "a stage writes whole rows with unit strides");
  if (offsets.size() != rank || !isInductionVar(offsets[0], forall, 0) ||
      !isValue(offsets[1], head) || !isValue(offsets[2], start) ||
      (!vector && !isConstantIndex(offsets[3], 0)) ||
      !isValue(sizes[2], extent))
    return fail(insert, "a stage writes rows [first row, first row + rows) "
                        "of its (batch, head)");
  return success();
}

LogicalResult BackwardStageMatcher::matchLoop(scf::ForOp loop, StringRef name,
                                              int64_t step) {
  auto attr = loop->getAttrOfType<StringAttr>(BackwardLoop::attrName);
  if (!attr || attr.getValue() != name)
    return fail(loop, Twine("expected the loop marked '") +
                          BackwardLoop::attrName + " = \"" + name + "\"'");
  if (!isConstantIndex(loop.getStep(), step))
    return fail(loop, Twine("the loop must step by ") + Twine(step));
  return success();
}

LogicalResult
BackwardStageMatcher::matchNothingElse(Block *block,
                                       const DenseSet<Operation *> &known) {
  for (Operation &op : block->without_terminator()) {
    if (known.contains(&op))
      continue;
    if (!getRole(&op).empty())
      return fail(&op, "this op is not part of the stage's computation");
    // Only the stage's own loops (in `known`) hold regions; everything else
    // sizes tensors or computes indices, without side effects.
    auto fill = dyn_cast<linalg::FillOp>(op);
    bool sizing =
        (fill && fill.hasPureTensorSemantics()) ||
        (op.getNumRegions() == 0 && isMemoryEffectFree(&op) &&
         (isa<tensor::EmptyOp, tensor::DimOp, tensor::ExtractSliceOp,
              arith::ConstantOp>(op) ||
          llvm::all_of(op.getResultTypes(),
                       [](Type t) { return t.isIntOrIndex(); })));
    if (!sizing)
      return fail(&op, "the stage holds an op the tiling does not build; "
                       "edit the 'scores' body instead");
  }
  return success();
}

LogicalResult BackwardStageMatcher::matchDelta() {
  scf::ForallOp forall = tile.forall;
  ValueRange outputs = forall.getOutputs();
  if (outputs.size() != 1)
    return fail(forall, "the delta stage writes delta");
  auto inserts = forall.getTerminator().getYieldingOps();
  if (llvm::range_size(inserts) != 1)
    return fail(forall, "each output is written once per tile");
  auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(&*inserts.begin());
  if (!insert)
    return fail(forall, "expected a parallel_insert_slice");
  auto delta = tileOp(insert.getSource(), TileRole::delta,
                      {nullptr, nullptr, nullptr}, insert);
  if (failed(delta))
    return failure();
  if (!isFillOf((*delta)->getOperand(2), 0.0))
    return fail(*delta, "delta must start from zero");
  auto first = (*delta)->getOperand(0).getDefiningOp<tensor::ExtractSliceOp>();
  if (!first || first.getMixedOffsets().size() != 4 ||
      !isa<Value>(first.getMixedOffsets()[2]) ||
      !isa<Value>(first.getMixedSizes()[2]))
    return fail(*delta, "the dO tile is not a slice [b, h, start:start+n, :]");
  Value rowStart = cast<Value>(first.getMixedOffsets()[2]);
  Value rows = cast<Value>(first.getMixedSizes()[2]);
  Value head = forall.getInductionVar(1);
  FailureOr<Value> gradOutput =
      slice((*delta)->getOperand(0), head, rowStart, rows, false, *delta, "dO");
  FailureOr<Value> output =
      slice((*delta)->getOperand(1), head, rowStart, rows, false, *delta, "O");
  if (failed(gradOutput) || failed(output))
    return failure();
  tile.gradOutput = *gradOutput;
  tile.output = *output;
  // The tiling counts the rows in Q (which this stage does not read); with
  // static sizes, in constants. `query` records the tensor, which the
  // strategy checks is the backward's Q or dO.
  tile.query = tile.gradOutput;
  if (auto min = rows.getDefiningOp<arith::MinSIOp>())
    for (Value operand : min->getOperands())
      if (auto sub = operand.getDefiningOp<arith::SubIOp>())
        if (auto dim = sub.getLhs().getDefiningOp<tensor::DimOp>())
          if (cast<ShapedType>(dim.getSource().getType()).getRank() == 4)
            tile.query = dim.getSource();
  if (!isTileStart(rowStart, forall, 2, tile.blockM) ||
      !isBlockExtent(rows, tile.blockM, tile.query, 2, rowStart))
    return fail(first, "a tile must hold rows [tile * block_m, +min(block_m, "
                       "Nq - first row))");
  tile.results.push_back(outputs[0]);
  if (failed(matchInsert(insert, 0, head, rowStart, rows, insert.getSource(),
                         /*vector=*/true)) ||
      failed(matchGrid(tile.query, tile.blockM)))
    return failure();
  return matchNothingElse(forall.getBody(), {*delta});
}

LogicalResult BackwardStageMatcher::matchQuery() {
  scf::ForallOp forall = tile.forall;
  ValueRange outputs = forall.getOutputs();
  auto inserts = forall.getTerminator().getYieldingOps();
  if (outputs.size() != 1 || llvm::range_size(inserts) != 1)
    return fail(forall, "the query stage writes dQ once per tile");
  auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(&*inserts.begin());
  if (!insert)
    return fail(forall, "expected a parallel_insert_slice");
  auto store = tileOp(insert.getSource(), TileRole::scaledStore,
                      {nullptr, nullptr}, insert);
  if (failed(store))
    return failure();
  tile.gradientScale =
      *tileops::getStoredScale(cast<linalg::GenericOp>(*store));
  auto loop = (*store)->getOperand(0).getDefiningOp<scf::ForOp>();
  if (!loop || loop->getBlock() != forall.getBody() ||
      loop.getNumResults() != 1)
    return fail(*store, "dQ must be the result of the loop over key blocks");
  if (failed(matchLoop(loop, BackwardLoop::keyBlocks, tile.blockN)))
    return failure();
  if (!isFillOf(loop.getInitArgs()[0], 0.0))
    return fail(loop, "dQ must start from zero");
  Operation *yield = loop.getBody()->getTerminator();
  auto dq = tileOp(yield->getOperand(0), TileRole::gradQuery,
                   {nullptr, nullptr, loop.getRegionIterArgs()[0]}, yield);
  if (failed(dq))
    return failure();
  FailureOr<GradScoresChain> chain = matchChain((*dq)->getOperand(0), *dq);
  if (failed(chain))
    return failure();
  if ((*dq)->getOperand(1) != chain->keySlice)
    return fail(*dq, "dQ += dS K must read the K tile of Q K^T");

  // The tile's rows: Q, dO, LSE and delta, taken once per tile.
  auto querySlice = chain->querySlice.getDefiningOp<tensor::ExtractSliceOp>();
  if (!querySlice || querySlice->getBlock() != forall.getBody() ||
      querySlice.getMixedOffsets().size() != 4 ||
      !isa<Value>(querySlice.getMixedOffsets()[2]) ||
      !isa<Value>(querySlice.getMixedSizes()[2]))
    return fail(chain->qk, "the Q tile must be a slice taken once per tile");
  Value rowStart = cast<Value>(querySlice.getMixedOffsets()[2]);
  Value rows = cast<Value>(querySlice.getMixedSizes()[2]);
  Value head = forall.getInductionVar(1);
  FailureOr<Value> query =
      slice(chain->querySlice, head, rowStart, rows, false, chain->qk, "Q");
  FailureOr<Value> gradOutput =
      slice(chain->gradOutputSlice, head, rowStart, rows, false,
            chain->gradProbabilities, "dO");
  FailureOr<Value> lse = slice(chain->lseSlice, head, rowStart, rows, true,
                               chain->probabilities, "LSE");
  FailureOr<Value> delta = slice(chain->deltaSlice, head, rowStart, rows, true,
                                 chain->gradScores, "delta");
  if (failed(query) || failed(gradOutput) || failed(lse) || failed(delta))
    return failure();
  for (Value s : {chain->gradOutputSlice, chain->lseSlice, chain->deltaSlice})
    if (s.getParentBlock() != forall.getBody())
      return fail(s.getDefiningOp(), "the tile's rows are read once per tile");
  tile.query = *query;
  tile.gradOutput = *gradOutput;
  tile.lse = *lse;
  tile.delta = *delta;
  if (!isTileStart(rowStart, forall, 2, tile.blockM) ||
      !isBlockExtent(rows, tile.blockM, tile.query, 2, rowStart))
    return fail(querySlice, "a tile must hold rows [tile * block_m, "
                            "+min(block_m, Nq - first row))");

  // The streamed key blocks.
  auto keySlice = chain->keySlice.getDefiningOp<tensor::ExtractSliceOp>();
  if (!keySlice || keySlice->getBlock() != loop.getBody() ||
      keySlice.getMixedOffsets().size() != 4 ||
      !isa<Value>(keySlice.getMixedOffsets()[1]) ||
      !isa<Value>(keySlice.getMixedSizes()[2]))
    return fail(chain->qk, "the K tile is not a slice [b, h, start:start+n, "
                           ":] of the key block");
  Value kvHead = cast<Value>(keySlice.getMixedOffsets()[1]);
  Value cols = cast<Value>(keySlice.getMixedSizes()[2]);
  Value iv = loop.getInductionVar();
  FailureOr<Value> key =
      slice(chain->keySlice, kvHead, iv, cols, false, chain->qk, "K");
  FailureOr<Value> value = slice(chain->valueSlice, kvHead, iv, cols, false,
                                 chain->gradProbabilities, "V");
  if (failed(key) || failed(value))
    return failure();
  tile.key = *key;
  tile.value = *value;
  if (!isBlockExtent(cols, tile.blockN, tile.key, 2, iv))
    return fail(keySlice, "a key block must hold min(block_n, Nk - start) "
                          "keys");
  if (kvHead.getParentBlock() != forall.getBody() &&
      kvHead != forall.getInductionVar(1))
    return fail(keySlice, "the key/value head must be computed once per tile");

  tile.results.push_back(outputs[0]);
  if (failed(matchInsert(insert, 0, head, rowStart, rows, insert.getSource(),
                         /*vector=*/false)) ||
      failed(matchGrid(tile.query, tile.blockM)))
    return failure();
  DenseSet<Operation *> known{chain->qk,
                              chain->scores,
                              chain->probabilities,
                              chain->gradProbabilities,
                              chain->gradScores,
                              *dq,
                              *store,
                              loop};
  if (failed(matchNothingElse(forall.getBody(), known)) ||
      failed(matchNothingElse(loop.getBody(), known)))
    return failure();

  FusedAttentionTile &view = tile.scores;
  view.forall = forall;
  view.blockM = tile.blockM;
  view.blockN = tile.blockN;
  view.query = tile.query;
  view.key = tile.key;
  view.value = tile.value;
  view.kvLoop = loop;
  view.scores = chain->scores;
  view.rowStart = rowStart;
  view.rows = rows;
  view.kvHead = kvHead;
  return success();
}

FailureOr<BackwardStageTile> BackwardStageMatcher::match() {
  scf::ForallOp forall = tile.forall;
  // A kernel writes its outputs' memory: they must be fresh tensors (the
  // tiling's tensor.empty), never an operand the stages read.
  for (Value output : forall.getOutputs())
    if (!output.getDefiningOp<tensor::EmptyOp>()) {
      (void)fail(forall, "a stage's outputs must be fresh tensor.empty "
                         "values, as the tiling makes them: its kernel "
                         "writes their memory");
      return failure();
    }
  auto attr = forall->getAttrOfType<DictionaryAttr>(BackwardTileAttr::attrName);
  auto stage = attr ? attr.getAs<StringAttr>("stage") : StringAttr();
  auto blockM = attr ? attr.getAs<IntegerAttr>("block_m") : IntegerAttr();
  auto blockN = attr ? attr.getAs<IntegerAttr>("block_n") : IntegerAttr();
  if (!stage || !blockM || !blockN) {
    (void)fail(forall, Twine("it has no valid '") + BackwardTileAttr::attrName +
                           "' attribute");
    return failure();
  }
  tile.blockM = blockM.getInt();
  tile.blockN = blockN.getInt();
  LogicalResult matched = failure();
  if (stage.getValue() == BackwardTileAttr::delta) {
    tile.stage = BackwardTileAttr::delta;
    matched = matchDelta();
  } else if (stage.getValue() == BackwardTileAttr::keyValue) {
    tile.stage = BackwardTileAttr::keyValue;
    matched = matchKeyValue();
  } else if (stage.getValue() == BackwardTileAttr::query) {
    tile.stage = BackwardTileAttr::query;
    matched = matchQuery();
  } else if (stage.getValue() == BackwardTileAttr::fused) {
    tile.stage = BackwardTileAttr::fused;
    matched = matchFused();
  } else {
    (void)fail(forall, Twine("unknown stage '") + stage.getValue() + "'");
  }
  if (failed(matched))
    return failure();
  return tile;
}

FailureOr<BackwardStageTile>
mlir::fa::matchBackwardStageTile(scf::ForallOp forall) {
  return BackwardStageMatcher(forall).match();
}
