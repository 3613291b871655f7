//===- FusedTileEpilogue.cpp - The grid and writes of a fused tile --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What a fused tile covers (the forall's bounds) and writes (its
// parallel_insert_slices of the normalized output and the LSE), checked op
// by op as FusedAttentionTile.cpp checks the loop.
//
//===----------------------------------------------------------------------===//

#include "FusedTileMatcher.h"
#include "TileMatchers.h"
#include "TileUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;

/// The dimension of K that holds the key/value heads: 2 of a paged cache
/// [pages, page_size, Hkv, D], else 1.
static unsigned getKeyHeadsDim(const FusedAttentionTile &tile) {
  return tile.isPaged() ? 2 : 1;
}

/// Whether a packed tile's head counts are static with Hq = G * Hkv.
static bool hasPackedHeadCounts(const FusedAttentionTile &tile) {
  auto queryType = cast<RankedTensorType>(tile.query.getType());
  auto keyType = cast<RankedTensorType>(tile.key.getType());
  unsigned kvHeads = getKeyHeadsDim(tile);
  return !queryType.isDynamicDim(1) && !keyType.isDynamicDim(kvHeads) &&
         queryType.getDimSize(1) ==
             tile.packedHeads * keyType.getDimSize(kvHeads);
}

static constexpr const char *kPackedHeadCounts =
    "a packed tile needs static head counts with Hq = G * Hkv (G = "
    "pack_gqa)";
using mlir::fa::detail::FusedTileMatcher;

LogicalResult FusedTileMatcher::matchEpilogue() {
  scf::ForallOp forall = tile.forall;
  ValueRange outputs = forall.getOutputs();
  if (outputs.empty() || outputs.size() > 2)
    return fail(forall, "a tile writes O and, optionally, the LSE");
  if (tile.split && outputs.size() != 2)
    return fail(forall, "a split tile writes a partial O and a partial LSE");
  tile.output = outputs[0];
  if (outputs.size() == 2)
    tile.lseOutput = outputs[1];
  unsigned base = tile.batchDim();

  // The grid: (B, Hq, ceildiv(Nq, block_m)) over Q, after the splits.
  SmallVector<OpFoldResult> ubs = forall.getMixedUpperBound();
  if (tile.split) {
    // The partial tensors hold one part per split: the kernels read the
    // split count from their first dimension.
    auto partsOk = [&](Value tensor, int64_t rank) {
      auto type = cast<RankedTensorType>(tensor.getType());
      if (type.getRank() != rank || !type.getElementType().isF32())
        return false;
      if (isSizeOf(ubs[0], tensor, 0))
        return true;
      auto empty = tensor.getDefiningOp<tensor::EmptyOp>();
      return empty && isValue(ubs[0], empty.getDynamicSize(0));
    };
    if (!partsOk(tile.output, 5) || !partsOk(tile.lseOutput, 4))
      return fail(forall, "the partial outputs of a split tile must be f32 "
                          "[S, B, Hq, Nq, Dv] and [S, B, Hq, Nq] with S the "
                          "forall's first bound");
    ubs.erase(ubs.begin());
  }
  if (varlen)
    return matchVarlenEpilogue(ubs);
  auto ceil = isa<Value>(ubs[2])
                  ? cast<Value>(ubs[2]).getDefiningOp<arith::CeilDivUIOp>()
                  : arith::CeilDivUIOp();
  auto queryType = cast<RankedTensorType>(tile.query.getType());
  int64_t queryLength = queryType.getDimSize(2);
  bool tilesOk = (ceil && isSizeOf(ceil.getLhs(), tile.query, 2)) ||
                 (tile.positions() == 1 && isSizeOf(ubs[2], tile.query, 2)) ||
                 (!ShapedType::isDynamic(queryLength) &&
                  isConstantIndex(
                      ubs[2], llvm::divideCeil(queryLength, tile.positions())));
  if (tile.packedHeads > 1) {
    // The heads of a packed tile are the key/value heads, each with its G
    // query heads.
    unsigned kvHeads = getKeyHeadsDim(tile);
    if (!hasPackedHeadCounts(tile))
      return fail(forall, kPackedHeadCounts);
    if (!isSizeOf(ubs[0], tile.query, 0) ||
        !isSizeOf(ubs[1], tile.key, kvHeads) || !tilesOk)
      return fail(forall, "the packed tiles must cover (B, Hkv, ceildiv(Nq, "
                          "block_m / G))");
  } else if (!isSizeOf(ubs[0], tile.query, 0) ||
             !isSizeOf(ubs[1], tile.query, 1) || !tilesOk) {
    return fail(forall, "the tiles must cover (B, Hq, ceildiv(Nq, block_m)) "
                        "of Q");
  }

  auto inserts = forall.getTerminator().getYieldingOps();
  if (llvm::range_size(inserts) != outputs.size())
    return fail(forall, "each output is written once per tile");
  for (auto [index, op] : llvm::enumerate(inserts)) {
    auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(&op);
    if (!insert || insert.getDest() != forall.getRegionIterArgs()[index])
      return fail(&op, "expected a parallel_insert_slice per output");
    SmallVector<OpFoldResult> offsets = insert.getMixedOffsets(),
                              sizes = insert.getMixedSizes();
    bool isLse = index == 1;
    size_t rank = (isLse ? 3 : 4) + base;
    if (offsets.size() != rank || !hasUnitStrides(insert.getMixedStrides()) ||
        (tile.split && (!isInductionVar(offsets[0], forall, 0) ||
                        !isConstantIndex(sizes[0], 1))) ||
        !isInductionVar(offsets[base], forall, base) ||
        !isConstantIndex(sizes[base], 1) || !isFirstHead(offsets[base + 1]) ||
        !isConstantIndex(sizes[base + 1], tile.packedHeads) ||
        !isValue(offsets[base + 2], tile.rowStart) ||
        (!isLse && !isConstantIndex(offsets[base + 3], 0)) ||
        !isValue(sizes[base + 2], tile.rows))
      return fail(insert, tile.packedHeads > 1
                              ? "a packed tile writes rows [first row, first "
                                "row + rows) of its G query heads"
                              : "a tile writes rows [first row, first row + "
                                "rows) of its (batch, head)");
    Value source = insert.getSource();
    if (tile.packedHeads > 1) {
      FailureOr<Value> rows = matchExpandedRows(insert, source);
      if (failed(rows))
        return failure();
      source = *rows;
    }
    if (failed(matchWrittenTile(insert, source, isLse)))
      return failure();
  }
  return success();
}

FailureOr<Value> FusedTileMatcher::matchExpandedRows(Operation *insert,
                                                     Value source) {
  auto expand = source.getDefiningOp<tensor::ExpandShapeOp>();
  SmallVector<ReassociationIndices, 4> groups;
  if (expand)
    groups = expand.getReassociationIndices();
  if (!expand || groups.empty() || groups[0] != ReassociationIndices{0, 1} ||
      (groups.size() == 2 && groups[1] != ReassociationIndices{2})) {
    (void)fail(insert, "a packed tile writes its G * n rows expanded into "
                       "[G, n, ...]");
    return failure();
  }
  return expand.getSrc();
}

LogicalResult FusedTileMatcher::matchWrittenTile(Operation *insert,
                                                 Value source, bool isLse) {
  scf::ForOp loop = tile.kvLoop;
  if (!isLse) {
    // A split tile writes the normalized f32 output itself; the others
    // round it (store).
    Operation *reader = insert;
    if (!tile.split) {
      auto store = tileOp(source, "store", {nullptr, nullptr}, insert);
      if (failed(store))
        return failure();
      source = (*store)->getOperand(0);
      reader = *store;
    }
    return tileOp(source, "normalize",
                  {loop.getResult(2), loop.getResult(1), nullptr}, reader);
  }
  auto lse =
      tileOp(source, "lse", {nullptr, loop.getResult(1), nullptr}, insert);
  if (failed(lse))
    return failure();
  return tileOp((*lse)->getOperand(0), "max_natural_log",
                {loop.getResult(0), nullptr}, *lse);
}

LogicalResult
FusedTileMatcher::matchVarlenEpilogue(ArrayRef<OpFoldResult> ubs) {
  scf::ForallOp forall = tile.forall;
  if (tile.split)
    return fail(forall, "a variable-length tile is not split");
  // The grid: (B = offsets - 1, Hq, ceildiv(max_seqlen_q, block_m)), or
  // packed (B, Hkv, ceildiv(max_seqlen_q, block_m / G)).
  int64_t heads = tile.packedHeads;
  auto isSequenceCount = [&](OpFoldResult ofr) {
    auto value = dyn_cast<Value>(ofr);
    if (!value)
      return false;
    if (auto sub = value.getDefiningOp<arith::SubIOp>())
      return isConstantIndex(sub.getRhs(), 1) &&
             isDimOf(sub.getLhs(), tile.cuSeqlensQ, 0);
    if (auto add = value.getDefiningOp<arith::AddIOp>())
      return isConstantIndex(add.getRhs(), -1) &&
             isDimOf(add.getLhs(), tile.cuSeqlensQ, 0);
    return false;
  };
  auto ceil = isa<Value>(ubs[2])
                  ? cast<Value>(ubs[2]).getDefiningOp<arith::CeilDivUIOp>()
                  : arith::CeilDivUIOp();
  if (ceil && isConstantIndex(ceil.getRhs(), tile.positions())) {
    Operation *owner = ceil.getLhs().getParentBlock()->getParentOp();
    if (owner != forall && !forall->isProperAncestor(owner))
      tile.maxSeqlenQ = ceil.getLhs();
  }
  if (heads > 1) {
    unsigned kvHeads = getKeyHeadsDim(tile);
    if (!hasPackedHeadCounts(tile))
      return fail(forall, kPackedHeadCounts);
    if (!isSequenceCount(ubs[0]) || !isSizeOf(ubs[1], tile.key, kvHeads) ||
        !tile.maxSeqlenQ)
      return fail(forall, "the packed tiles of a variable-length tile must "
                          "cover (offsets - 1, Hkv, ceildiv(max_seqlen_q, "
                          "block_m / G)) with max_seqlen_q defined outside "
                          "the tile");
  } else if (!isSequenceCount(ubs[0]) || !isSizeOf(ubs[1], tile.query, 1) ||
             !tile.maxSeqlenQ) {
    return fail(forall, "the tiles of a variable-length tile must cover "
                        "(offsets - 1, Hq, ceildiv(max_seqlen_q, block_m)) "
                        "with max_seqlen_q defined outside the tile");
  }

  auto inserts = forall.getTerminator().getYieldingOps();
  ValueRange outputs = forall.getOutputs();
  if (llvm::range_size(inserts) != outputs.size())
    return fail(forall, "each output is written once per tile");
  for (auto [index, op] : llvm::enumerate(inserts)) {
    auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(&op);
    if (!insert || insert.getDest() != forall.getRegionIterArgs()[index])
      return fail(&op, "expected a parallel_insert_slice per output");
    SmallVector<OpFoldResult> offsets = insert.getMixedOffsets(),
                              sizes = insert.getMixedSizes();
    bool isLse = index == 1;
    // O [Tq, Hq, Dv] at (cu_q[b] + first, h, 0); LSE [Hq, Tq] at (h,
    // cu_q[b] + first).
    unsigned token = isLse ? 1 : 0, head = isLse ? 0 : 1;
    bool ok = offsets.size() == (isLse ? 2u : 3u) &&
              hasUnitStrides(insert.getMixedStrides()) &&
              isa<Value>(offsets[token]) &&
              matchAddOf(cast<Value>(offsets[token]), tile.queryBase) ==
                  tile.rowStart &&
              isValue(sizes[token], tile.rows) && isFirstHead(offsets[head]) &&
              isConstantIndex(sizes[head], heads) &&
              (isLse || isConstantIndex(offsets[2], 0));
    if (!ok)
      return fail(insert, heads > 1
                              ? "a packed variable-length tile writes rows "
                                "[cu_q[b] + first row, ... + rows) of its G "
                                "query heads"
                              : "a variable-length tile writes rows [cu_q[b] "
                                "+ first row, ... + rows) of its head");
    Value source = insert.getSource();
    if (heads > 1) {
      // O's [G, n, Dv] transposed to the tokens' [n, G, Dv].
      if (!isLse) {
        auto transpose = source.getDefiningOp<linalg::TransposeOp>();
        if (!transpose ||
            transpose.getPermutation() != ArrayRef<int64_t>{1, 0, 2})
          return fail(insert, "a packed variable-length tile writes its "
                              "[G, n, Dv] output transposed to [n, G, Dv]");
        source = transpose.getInput();
      }
      FailureOr<Value> rows = matchExpandedRows(insert, source);
      if (failed(rows))
        return failure();
      source = *rows;
    }
    if (failed(matchWrittenTile(insert, source, isLse)))
      return failure();
  }
  return success();
}
