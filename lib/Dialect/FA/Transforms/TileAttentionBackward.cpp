//===- TileAttentionBackward.cpp - Tile fa.attention_backward -------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa.attention_backward -> three scf.forall stages: delta = rowsum(dO * O);
// dK and dV with key/value tiles outer and query blocks streamed; dQ with
// query tiles outer and key blocks streamed. Each recomputes the
// probabilities from the LSE with the same scores body as the forward.
//
//===----------------------------------------------------------------------===//

#include "ScoresTile.h"
#include "TileOps.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/IR/ScoreModDerivative.h"
#include "fa/Dialect/FA/Transforms/Passes.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringSwitch.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FATILEATTENTIONBACKWARD
#include "fa/Dialect/FA/Transforms/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;

AttentionTileSizes mlir::fa::getDefaultBackwardTileSizes(int64_t headDim,
                                                         bool accumulate,
                                                         bool wgmma) {
  AttentionTileSizes sizes;
  // WgmmaBackwardBlock.cpp: 64 queries are the M of dQ's warpgroup MMA;
  // 128 keys give two warpgroups, which split dQ's columns at D = 128. At
  // D = 64 blocks of 128 queries fit (a warpgroup computes dQ of 64 of
  // them): measured on the H200 1.15-1.32x faster than 64.
  if (wgmma && accumulate && headDim <= 128) {
    sizes.blockM = headDim <= 64 ? 128 : 64;
    sizes.blockN = 128;
    return sizes;
  }
  // The mma.sync kernels' tiles (MmaSyncBackwardKernel.cpp): 16 tile rows
  // per warp, with dK and dV (or dQ) and a streamed block's S and dP in
  // registers. At D = 128 that leaves room for 32 streamed query rows in
  // the key_value kernel (dK and dV take 128 registers) and 64 keys in the
  // query kernel; the GPU kernels stop at D = 128.
  sizes.blockM = headDim <= 64 ? 64 : 32;
  sizes.blockN = headDim <= 128 ? 64 : 32;
  // The fused kernel adds dS K of every (key tile, query block) to dQ with
  // f32 reductions: 128 keys (8 warps) per tile halve them; measured on the
  // H200 3-9% faster than 64 keys at D = 64. At D = 128 the gain was
  // within noise and the larger block spills: it keeps 64.
  if (accumulate && headDim <= 64)
    sizes.blockN = 128;
  return sizes;
}

bool mlir::fa::takesWgmmaBackwardTiles(AttentionBackwardOp op,
                                       StringRef defaultsFor) {
  auto queryType = op.getQuery().getType();
  Type element = queryType.getElementType();
  int64_t headDim = queryType.getDimSize(3);
  return defaultsFor == "hopper-ws" ||
         (defaultsFor == "auto" && (element.isF16() || element.isBF16()) &&
          headDim <= 128 && headDim == op.getValue().getType().getDimSize(3));
}

std::optional<BackwardDqChoice> mlir::fa::parseBackwardDq(StringRef text) {
  return llvm::StringSwitch<std::optional<BackwardDqChoice>>(text)
      .Case("auto", BackwardDqChoice::Auto)
      .Case("accumulate", BackwardDqChoice::Accumulate)
      .Case("stage", BackwardDqChoice::Stage)
      .Default(std::nullopt);
}

bool mlir::fa::tilesFusedBackward(AttentionBackwardOp op, BackwardDqChoice dq,
                                  StringRef defaultsFor) {
  if (dq != BackwardDqChoice::Auto)
    return dq == BackwardDqChoice::Accumulate;
  // The wgmma kernel is the fused stage; with mma.sync the fused kernel
  // was the faster only up to D = 64.
  int64_t headDim = op.getQuery().getType().getDimSize(3);
  return headDim <= (takesWgmmaBackwardTiles(op, defaultsFor) ? 128 : 64);
}

AttentionTileSizes mlir::fa::getDefaultBackwardQueryTileSizes(int64_t headDim) {
  // dQ alone is in registers: 64 query rows (4 warps) up to D = 128.
  AttentionTileSizes sizes;
  sizes.blockM = headDim <= 128 ? 64 : 32;
  sizes.blockN = headDim <= 128 ? 64 : 32;
  return sizes;
}

namespace {

/// What every stage of one backward op reads.
struct BackwardProblem {
  AttentionBackwardOp op;
  int64_t blockM, blockN, headDim, valueHeadDim;
  Value batch, qHeads, qLength, kvHeads, kvLength, group;
  /// Key j is visible from row i iff j <= i + causalShift (null: no mask).
  Value causalShift;
};

/// The tiles of one (query block, key block) pair.
struct BlockOperands {
  Value query, gradOutput, lse, delta; // [rows, *] of one query head
  Value key, value;                    // [cols, *]
  Value head, rowStart, colStart, rows, cols;
};

/// The query-side tiles of `block` (Q, dO, LSE and delta of its rows, which
/// must be set with its head).
void loadQueryRows(OpBuilder &b, Location loc, const BackwardProblem &problem,
                   Value delta, Value batch, BlockOperands &block) {
  AttentionBackwardOp op = problem.op;
  block.query = extractRows(b, loc, op.getQuery(), batch, block.head,
                            block.rowStart, block.rows, problem.headDim);
  block.gradOutput =
      extractRows(b, loc, op.getGradOutput(), batch, block.head, block.rowStart,
                  block.rows, problem.valueHeadDim);
  block.lse = extractRowVector(b, loc, op.getLse(), batch, block.head,
                               block.rowStart, block.rows);
  block.delta = extractRowVector(b, loc, delta, batch, block.head,
                                 block.rowStart, block.rows);
}

/// P and dS of one block, recomputed from the LSE.
std::pair<Value, Value> buildBlockGradients(OpBuilder &b, Location loc,
                                            const BackwardProblem &problem,
                                            Value batch,
                                            const BlockOperands &block) {
  AttentionBackwardOp op = problem.op;
  Value qk = tileops::buildQK(b, loc, block.query, block.key,
                              zeroTile(b, loc, block.rows, block.cols));
  ScoreContext context;
  context.batch = batch;
  context.head = block.head;
  context.causalShift = problem.causalShift;
  context.scale = op.getEffectiveScale();
  context.scoreMod = &op.getScoreMod();
  context.maskMod = &op.getMaskMod();
  context.captures = op.getCaptures();
  Value derivative;
  Value scores =
      buildScoresTile(b, loc, context, block.rowStart, block.colStart, qk,
                      op.hasScoreMod() ? &derivative : nullptr);
  Value probabilities = tileops::buildRecomputedProbabilities(
      b, loc, scores, block.lse, emptyLike(b, loc, scores));
  Value gradProbabilities =
      tileops::buildGradProbabilities(b, loc, block.gradOutput, block.value,
                                      zeroTile(b, loc, block.rows, block.cols));
  Value gradScores = tileops::buildGradScores(
      b, loc, probabilities, gradProbabilities, derivative, block.delta,
      emptyLike(b, loc, scores));
  return {probabilities, gradScores};
}

/// An scf.forall over (batch, heads, tiles) with the stage's attribute and
/// the GPU block mapping of the forward's tiles.
scf::ForallOp createStage(OpBuilder &b, Location loc,
                          const BackwardProblem &problem, Value heads,
                          Value tiles, ValueRange outputs, StringRef stage) {
  MLIRContext *ctx = b.getContext();
  auto forall = scf::ForallOp::create(
      b, loc, ArrayRef<OpFoldResult>{problem.batch, heads, tiles}, outputs,
      getBlockMapping(ctx, 3));
  forall->setAttr(
      BackwardTileAttr::attrName,
      BackwardTileAttr::get(ctx, stage, problem.blockM, problem.blockN));
  return forall;
}

/// The shared output of a gradient: an empty tensor of its input's type
/// (the op's inits are not read). Its sizes are static wherever the type's
/// are, so that canonicalization has no cast to fold into the forall (which
/// would rebuild it without its attributes), as it would with an init that
/// is a tensor.cast.
Value freshInit(OpBuilder &b, Location loc, Value input) {
  return tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, input),
      cast<RankedTensorType>(input.getType()).getElementType());
}

/// Inserts `tile` ([size, dim] or [size]) at (batch, head, start) of the
/// forall's shared output `index`.
void insertTile(OpBuilder &b, Location loc, scf::ForallOp forall,
                unsigned index, Value tile, Value batch, Value head,
                Value start, Value size) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  OpFoldResult one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> offsets{batch, head, start};
  SmallVector<OpFoldResult> sizes{one, one, size};
  auto type = cast<RankedTensorType>(tile.getType());
  if (type.getRank() == 2) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(b.getIndexAttr(type.getDimSize(1)));
  }
  SmallVector<OpFoldResult> strides(sizes.size(), one);
  tensor::ParallelInsertSliceOp::create(
      b, loc, tile, forall.getRegionIterArgs()[index], offsets, sizes, strides);
}

/// min(block, length - start): the rows or keys of a block at `start`.
Value blockExtent(OpBuilder &b, Location loc, int64_t block, Value length,
                  Value start) {
  return arith::MinSIOp::create(b, loc, indexConst(b, loc, block),
                                arith::SubIOp::create(b, loc, length, start));
}

/// Stage 1: delta[b, h, i] = sum_d dO * O, in f32.
Value buildDeltaStage(OpBuilder &b, Location loc,
                      const BackwardProblem &problem) {
  AttentionBackwardOp op = problem.op;
  // Static where Q's sizes are (the LSE's type): a dynamic type would be
  // refined by canonicalization, which rebuilds the forall without its
  // attributes.
  SmallVector<OpFoldResult> sizes;
  for (int64_t dim = 0; dim < 3; ++dim)
    sizes.push_back(tensor::getMixedSize(b, loc, op.getQuery(), dim));
  Value deltaInit = tensor::EmptyOp::create(b, loc, sizes, b.getF32Type());
  Value tiles = arith::CeilDivUIOp::create(b, loc, problem.qLength,
                                           indexConst(b, loc, problem.blockM));
  scf::ForallOp forall = createStage(b, loc, problem, problem.qHeads, tiles,
                                     deltaInit, BackwardTileAttr::delta);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  Value rowStart =
      arith::MulIOp::create(b, loc, ivs[2], indexConst(b, loc, problem.blockM));
  Value rows = blockExtent(b, loc, problem.blockM, problem.qLength, rowStart);
  Value gradOutput = extractRows(b, loc, op.getGradOutput(), ivs[0], ivs[1],
                                 rowStart, rows, problem.valueHeadDim);
  Value output = extractRows(b, loc, op.getOutput(), ivs[0], ivs[1], rowStart,
                             rows, problem.valueHeadDim);
  Value init = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{rows},
                                       b.getF32Type());
  init = filledLike(b, loc, init, 0.0);
  Value delta = tileops::buildDelta(b, loc, gradOutput, output, init);
  insertTile(b, loc, forall, 0, delta, ivs[0], ivs[1], rowStart, rows);
  return forall.getResult(0);
}

/// dK and dV of one key/value tile (in the element type) and, when
/// `gradQuery` ([G, Nq, D] f32, the query heads of the key/value head) is
/// given, that accumulator with the tile's dS K added.
struct KeyTile {
  Value cols, gradKey, gradValue, gradQuery;
};

KeyTile buildKeyTile(OpBuilder &b, Location loc, const BackwardProblem &problem,
                     Value delta, Value batch, Value kvHead, Value colStart,
                     Value gradQuery) {
  AttentionBackwardOp op = problem.op;
  KeyTile result;
  Value cols = blockExtent(b, loc, problem.blockN, problem.kvLength, colStart);
  result.cols = cols;
  Value key = extractRows(b, loc, op.getKey(), batch, kvHead, colStart, cols,
                          problem.headDim);
  Value value = extractRows(b, loc, op.getValue(), batch, kvHead, colStart,
                            cols, problem.valueHeadDim);
  Value zero = indexConst(b, loc, 0), one = indexConst(b, loc, 1);
  SmallVector<Value> inits{
      zeroTile(b, loc, cols, b.getIndexAttr(problem.headDim)),
      zeroTile(b, loc, cols, b.getIndexAttr(problem.valueHeadDim))};
  if (gradQuery)
    inits.push_back(gradQuery);

  // Rows before the first one that sees the tile's first key see none of
  // its keys.
  Value firstRow = zero;
  if (problem.causalShift)
    firstRow = arith::MaxSIOp::create(
        b, loc, zero,
        arith::SubIOp::create(b, loc, colStart, problem.causalShift));

  auto heads = scf::ForOp::create(
      b, loc, zero, problem.group, one, inits,
      [&](OpBuilder &hb, Location hl, Value member, ValueRange headAcc) {
        Value head = arith::AddIOp::create(
            hb, hl, arith::MulIOp::create(hb, hl, kvHead, problem.group),
            member);
        auto blocks = scf::ForOp::create(
            hb, hl, firstRow, problem.qLength,
            indexConst(hb, hl, problem.blockM), headAcc,
            [&](OpBuilder &qb, Location ql, Value rowStart, ValueRange acc) {
              BlockOperands block;
              block.head = head;
              block.rowStart = rowStart;
              block.colStart = colStart;
              block.rows = blockExtent(qb, ql, problem.blockM, problem.qLength,
                                       rowStart);
              block.cols = cols;
              loadQueryRows(qb, ql, problem, delta, batch, block);
              block.key = key;
              block.value = value;
              auto [probabilities, gradScores] =
                  buildBlockGradients(qb, ql, problem, batch, block);
              SmallVector<Value> next{
                  tileops::buildGradKey(qb, ql, gradScores, block.query,
                                        acc[0]),
                  tileops::buildGradValue(qb, ql, probabilities,
                                          block.gradOutput, acc[1])};
              if (gradQuery) {
                // dQ[g, rows] += dS K, in the accumulator of the group.
                OpFoldResult oneAttr = qb.getIndexAttr(1);
                SmallVector<OpFoldResult> offsets{member, rowStart,
                                                  qb.getIndexAttr(0)};
                SmallVector<OpFoldResult> sizes{
                    oneAttr, block.rows, qb.getIndexAttr(problem.headDim)};
                SmallVector<OpFoldResult> strides(3, oneAttr);
                auto rowsType = RankedTensorType::get(
                    {ShapedType::kDynamic, problem.headDim}, qb.getF32Type());
                Value rowsAcc = tensor::ExtractSliceOp::create(
                    qb, ql, rowsType, acc[2], offsets, sizes, strides);
                Value added =
                    tileops::buildGradQuery(qb, ql, gradScores, key, rowsAcc);
                next.push_back(tensor::InsertSliceOp::create(
                    qb, ql, added, acc[2], offsets, sizes, strides));
              }
              scf::YieldOp::create(qb, ql, next);
            });
        blocks->setAttr(BackwardLoop::attrName,
                        hb.getStringAttr(BackwardLoop::queryBlocks));
        scf::YieldOp::create(hb, hl, blocks.getResults());
      });
  heads->setAttr(BackwardLoop::attrName,
                 b.getStringAttr(BackwardLoop::queryHeads));

  Type elementType = op.getQuery().getType().getElementType();
  auto emptyTile = [&](int64_t dim) {
    return tensor::EmptyOp::create(
        b, loc, ArrayRef<OpFoldResult>{cols, b.getIndexAttr(dim)}, elementType);
  };
  result.gradKey = tileops::buildScaledStore(b, loc, heads.getResult(0),
                                             op.getEffectiveScale(),
                                             emptyTile(problem.headDim));
  result.gradValue = tileops::buildStore(b, loc, heads.getResult(1),
                                         emptyTile(problem.valueHeadDim));
  if (gradQuery)
    result.gradQuery = heads.getResult(2);
  return result;
}

/// Stage 2: dK and dV of a key/value tile, query blocks streamed.
scf::ForallOp buildKeyValueStage(OpBuilder &b, Location loc,
                                 const BackwardProblem &problem, Value delta) {
  AttentionBackwardOp op = problem.op;
  Value blockN = indexConst(b, loc, problem.blockN);
  Value tiles = arith::CeilDivUIOp::create(b, loc, problem.kvLength, blockN);
  scf::ForallOp forall =
      createStage(b, loc, problem, problem.kvHeads, tiles,
                  ValueRange{freshInit(b, loc, op.getKey()),
                             freshInit(b, loc, op.getValue())},
                  BackwardTileAttr::keyValue);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  Value batch = ivs[0], kvHead = ivs[1];
  Value colStart = arith::MulIOp::create(b, loc, ivs[2], blockN);
  KeyTile tile = buildKeyTile(b, loc, problem, delta, batch, kvHead, colStart,
                              /*gradQuery=*/Value());
  insertTile(b, loc, forall, 0, tile.gradKey, batch, kvHead, colStart,
             tile.cols);
  insertTile(b, loc, forall, 1, tile.gradValue, batch, kvHead, colStart,
             tile.cols);
  return forall;
}

/// The fused stage: per (batch, key/value head), a serial loop over key
/// tiles computes dK and dV of each tile and accumulates the dQ of the
/// group's query heads in f32; then dQ = scale * dQ.
scf::ForallOp buildFusedStage(OpBuilder &b, Location loc,
                              const BackwardProblem &problem, Value delta) {
  AttentionBackwardOp op = problem.op;
  MLIRContext *ctx = b.getContext();
  auto forall = scf::ForallOp::create(
      b, loc, ArrayRef<OpFoldResult>{problem.batch, problem.kvHeads},
      ValueRange{freshInit(b, loc, op.getKey()),
                 freshInit(b, loc, op.getValue()),
                 freshInit(b, loc, op.getQuery())},
      getBlockMapping(ctx, 2));
  forall->setAttr(BackwardTileAttr::attrName,
                  BackwardTileAttr::get(ctx, BackwardTileAttr::fused,
                                        problem.blockM, problem.blockN));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  Value batch = ivs[0], kvHead = ivs[1];
  Type elementType = op.getQuery().getType().getElementType();

  // The whole key/value head's dK and dV (every row is written by one
  // tile) and the group's dQ accumulator.
  auto fullRows = [&](Value length, int64_t dim) {
    return tensor::EmptyOp::create(
        b, loc, ArrayRef<OpFoldResult>{length, b.getIndexAttr(dim)},
        elementType);
  };
  Value gradKey = fullRows(problem.kvLength, problem.headDim);
  Value gradValue = fullRows(problem.kvLength, problem.valueHeadDim);
  Value gradQuery = tensor::EmptyOp::create(
      b, loc,
      ArrayRef<OpFoldResult>{problem.group, problem.qLength,
                             b.getIndexAttr(problem.headDim)},
      b.getF32Type());
  gradQuery = filledLike(b, loc, gradQuery, 0.0);

  auto tiles = scf::ForOp::create(
      b, loc, indexConst(b, loc, 0), problem.kvLength,
      indexConst(b, loc, problem.blockN),
      ValueRange{gradKey, gradValue, gradQuery},
      [&](OpBuilder &tb, Location tl, Value colStart, ValueRange acc) {
        KeyTile tile = buildKeyTile(tb, tl, problem, delta, batch, kvHead,
                                    colStart, acc[2]);
        auto insertRows = [&](Value rows, Value into, int64_t dim) {
          OpFoldResult one = tb.getIndexAttr(1);
          return tensor::InsertSliceOp::create(
              tb, tl, rows, into,
              ArrayRef<OpFoldResult>{colStart, tb.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{tile.cols, tb.getIndexAttr(dim)},
              ArrayRef<OpFoldResult>{one, one});
        };
        scf::YieldOp::create(
            tb, tl,
            ValueRange{insertRows(tile.gradKey, acc[0], problem.headDim),
                       insertRows(tile.gradValue, acc[1], problem.valueHeadDim),
                       tile.gradQuery});
      });
  tiles->setAttr(BackwardLoop::attrName,
                 b.getStringAttr(BackwardLoop::keyTiles));

  Value queryOut = tensor::EmptyOp::create(
      b, loc,
      ArrayRef<OpFoldResult>{problem.group, problem.qLength,
                             b.getIndexAttr(problem.headDim)},
      elementType);
  Value queryTile = tileops::buildScaledStore(b, loc, tiles.getResult(2),
                                              op.getEffectiveScale(), queryOut);

  b.setInsertionPointToStart(forall.getTerminator().getBody());
  ValueRange shared = forall.getRegionIterArgs();
  OpFoldResult one = b.getIndexAttr(1), zeroAttr = b.getIndexAttr(0);
  SmallVector<OpFoldResult> strides(4, one);
  for (auto [index, rows, dim] :
       {std::make_tuple(0u, tiles.getResult(0), problem.headDim),
        std::make_tuple(1u, tiles.getResult(1), problem.valueHeadDim)})
    tensor::ParallelInsertSliceOp::create(
        b, loc, rows, shared[index],
        ArrayRef<OpFoldResult>{batch, kvHead, zeroAttr, zeroAttr},
        ArrayRef<OpFoldResult>{one, one, problem.kvLength, b.getIndexAttr(dim)},
        strides);
  // The group's query heads are kvHead * G ... kvHead * G + G - 1.
  OpBuilder::InsertionGuard headGuard(b);
  b.setInsertionPoint(forall.getTerminator());
  Value firstHead = arith::MulIOp::create(b, loc, kvHead, problem.group);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      b, loc, queryTile, shared[2],
      ArrayRef<OpFoldResult>{batch, firstHead, zeroAttr, zeroAttr},
      ArrayRef<OpFoldResult>{one, problem.group, problem.qLength,
                             b.getIndexAttr(problem.headDim)},
      strides);
  return forall;
}

/// Stage 3: dQ of a query tile, key blocks streamed.
scf::ForallOp buildQueryStage(OpBuilder &b, Location loc,
                              const BackwardProblem &problem, Value delta) {
  AttentionBackwardOp op = problem.op;
  Value blockM = indexConst(b, loc, problem.blockM);
  Value tiles = arith::CeilDivUIOp::create(b, loc, problem.qLength, blockM);
  scf::ForallOp forall =
      createStage(b, loc, problem, problem.qHeads, tiles,
                  freshInit(b, loc, op.getQuery()), BackwardTileAttr::query);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  Value batch = ivs[0], head = ivs[1];
  Value kvHead = arith::DivUIOp::create(b, loc, head, problem.group);
  Value rowStart = arith::MulIOp::create(b, loc, ivs[2], blockM);
  Value rows = blockExtent(b, loc, problem.blockM, problem.qLength, rowStart);
  // The query side is the tile's; each key block adds its K and V.
  BlockOperands tileRows;
  tileRows.head = head;
  tileRows.rowStart = rowStart;
  tileRows.rows = rows;
  loadQueryRows(b, loc, problem, delta, batch, tileRows);

  // Keys past the one the tile's last row sees are never loaded.
  Value zero = indexConst(b, loc, 0);
  Value keyEnd = problem.kvLength;
  if (problem.causalShift)
    keyEnd = buildCausalKeyEnd(b, loc, rowStart, rows, problem.causalShift,
                               problem.kvLength);
  Value init = zeroTile(b, loc, rows, b.getIndexAttr(problem.headDim));
  auto loop = scf::ForOp::create(
      b, loc, zero, keyEnd, indexConst(b, loc, problem.blockN),
      ValueRange{init},
      [&](OpBuilder &kb, Location kl, Value colStart, ValueRange acc) {
        BlockOperands block = tileRows;
        block.colStart = colStart;
        block.cols =
            blockExtent(kb, kl, problem.blockN, problem.kvLength, colStart);
        block.key = extractRows(kb, kl, op.getKey(), batch, kvHead, colStart,
                                block.cols, problem.headDim);
        block.value = extractRows(kb, kl, op.getValue(), batch, kvHead,
                                  colStart, block.cols, problem.valueHeadDim);
        Value gradScores =
            buildBlockGradients(kb, kl, problem, batch, block).second;
        scf::YieldOp::create(
            kb, kl,
            tileops::buildGradQuery(kb, kl, gradScores, block.key, acc[0]));
      });
  loop->setAttr(BackwardLoop::attrName,
                b.getStringAttr(BackwardLoop::keyBlocks));
  Value out = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{rows, b.getIndexAttr(problem.headDim)},
      op.getQuery().getType().getElementType());
  Value tile = tileops::buildScaledStore(b, loc, loop.getResult(0),
                                         op.getEffectiveScale(), out);
  insertTile(b, loc, forall, 0, tile, batch, head, rowStart, rows);
  return forall;
}

} // namespace

FailureOr<TiledAttentionBackward>
mlir::fa::tileAttentionBackward(RewriterBase &rewriter, AttentionBackwardOp op,
                                const BackwardTilingOptions &options) {
  AttentionTileSizes requested{options.blockM, options.blockN};
  AttentionTileSizes requestedQuery{options.queryBlockM, options.queryBlockN};
  Location loc = op.getLoc();
  if (failed(verifyAttentionTileSizes(requested,
                                      [&]() { return emitError(loc); })) ||
      failed(verifyAttentionTileSizes(
          requestedQuery, [&]() { return emitError(loc); }, "query-block-m",
          "query-block-n")) ||
      failed(verifyScoreModDifferentiable(op.getScoreMod(), loc)))
    return failure();
  auto queryType = op.getQuery().getType();
  auto keyType = op.getKey().getType();
  auto valueType = op.getValue().getType();
  int64_t headDim = queryType.getDimSize(3);
  AttentionTileSizes defaults = getDefaultBackwardTileSizes(
      headDim, options.accumulateQueryGradient, options.wgmmaDefaults);

  BackwardProblem problem;
  problem.op = op;
  problem.blockM = requested.blockM ? requested.blockM : defaults.blockM;
  problem.blockN = requested.blockN ? requested.blockN : defaults.blockN;
  // The wgmma kernel's 128-query blocks need a warpgroup per 64 of them
  // (with another block-n asked for, the default block-m is 64), and the
  // registers of S^T beside P^T until dS^T: with a score_mod whose
  // derivative varies (softcap's tanh) they spilled 240 bytes and ran 13 %
  // slower than 64-query blocks on the H200 (ALiBi's and masks' did not).
  if (defaults.blockM == 128 && !requested.blockM &&
      (problem.blockN != 128 || !hasConstantDerivative(op.getScoreMod())))
    problem.blockM = 64;
  problem.headDim = headDim;
  problem.valueHeadDim = valueType.getDimSize(3);

  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  auto dim = [&](Value tensor, int64_t index) -> Value {
    return tensor::DimOp::create(rewriter, loc, tensor, index);
  };
  Value query = op.getQuery(), key = op.getKey();
  problem.batch = dim(query, 0);
  problem.qHeads = dim(query, 1);
  problem.qLength = dim(query, 2);
  problem.kvHeads = dim(key, 1);
  problem.kvLength = dim(key, 2);
  buildHeadChecks(rewriter, loc,
                  queryType.isDynamicDim(1) || keyType.isDynamicDim(1),
                  problem.qHeads, problem.kvHeads, "fa.attention_backward");
  problem.group =
      arith::DivUIOp::create(rewriter, loc, problem.qHeads, problem.kvHeads);
  if (std::optional<CausalAlignment> causal = op.getCausal())
    problem.causalShift =
        *causal == CausalAlignment::TopLeft
            ? indexConst(rewriter, loc, 0)
            : arith::SubIOp::create(rewriter, loc, problem.kvLength,
                                    problem.qLength)
                  .getResult();

  TiledAttentionBackward tiled;
  Value delta = buildDeltaStage(rewriter, loc, problem);
  tiled.delta = delta.getDefiningOp<scf::ForallOp>();
  if (options.accumulateQueryGradient) {
    tiled.keyValue = buildFusedStage(rewriter, loc, problem, delta);
    rewriter.replaceOp(op, ValueRange{tiled.keyValue.getResult(2),
                                      tiled.keyValue.getResult(0),
                                      tiled.keyValue.getResult(1)});
    return tiled;
  }
  tiled.keyValue = buildKeyValueStage(rewriter, loc, problem, delta);
  // The query stage has its own tiles: its registers hold dQ, not dK and dV.
  BackwardProblem queryProblem = problem;
  AttentionTileSizes queryDefaults = getDefaultBackwardQueryTileSizes(headDim);
  queryProblem.blockM = options.queryBlockM   ? options.queryBlockM
                        : requested.blockM    ? requested.blockM
                                              : queryDefaults.blockM;
  queryProblem.blockN = options.queryBlockN   ? options.queryBlockN
                        : requested.blockN    ? requested.blockN
                                              : queryDefaults.blockN;
  tiled.query = buildQueryStage(rewriter, loc, queryProblem, delta);
  rewriter.replaceOp(op, ValueRange{tiled.query.getResult(0),
                                    tiled.keyValue.getResult(0),
                                    tiled.keyValue.getResult(1)});
  return tiled;
}

namespace {

struct FATileAttentionBackwardPass
    : public fa::impl::FATileAttentionBackwardBase<
          FATileAttentionBackwardPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<AttentionBackwardOp> ops;
    getOperation().walk([&](AttentionBackwardOp op) { ops.push_back(op); });
    // Option errors once, at a function that has an op to tile.
    if (ops.empty())
      return;
    Location loc = getOperation().getLoc();
    std::optional<BackwardDqChoice> dqChoice = parseBackwardDq(dq);
    if (!dqChoice) {
      emitError(loc, getOptionValueError("dq", kBackwardDqValues, dq));
      return signalPassFailure();
    }
    if (failed(verifyAttentionTileSizes(AttentionTileSizes{blockM, blockN},
                                        [&]() { return emitError(loc); })) ||
        failed(verifyAttentionTileSizes(
            AttentionTileSizes{queryBlockM, queryBlockN},
            [&]() { return emitError(loc); }, "query-block-m",
            "query-block-n")))
      return signalPassFailure();
    if (!parseGPUStrategy(defaultsFor)) {
      emitError(loc, getOptionValueError("defaults-for", kStrategyValues,
                                         defaultsFor));
      return signalPassFailure();
    }
    BackwardTilingOptions options{blockM, blockN,
                                  *dqChoice == BackwardDqChoice::Accumulate,
                                  queryBlockM, queryBlockN};
    IRRewriter rewriter(&getContext());
    for (AttentionBackwardOp op : ops) {
      options.wgmmaDefaults = takesWgmmaBackwardTiles(op, defaultsFor);
      options.accumulateQueryGradient =
          tilesFusedBackward(op, *dqChoice, defaultsFor);
      if (failed(tileAttentionBackward(rewriter, op, options)))
        return signalPassFailure();
    }
  }
};

} // namespace
