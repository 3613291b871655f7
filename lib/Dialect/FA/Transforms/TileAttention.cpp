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

#include "ScoresTile.h"
#include "TileOps.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Passes.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
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

namespace {

/// Everything the three key/value loops of one output tile need.
struct OutputTile {
  Value key, value;
  Value queryTile; // [rows, D], input element type
  Value batch, head, kvHead;
  /// The first query position and the number of rows: of a packed GQA
  /// tile (packedHeads > 1), `head` is its first query head, `positions`
  /// its positions per head and `rows` = packedHeads * positions.
  Value rowStart, rows, positions;
  int64_t packedHeads = 1;
  Value kvLength;    // Nk
  Value kvBegin;     // first key the tile's loops visit (0 unless split)
  Value kvEnd;       // last key (exclusive) any row of the tile can see
  Value causalShift; // key j is visible from row i iff j <= i + shift
  /// Variable-length batches: the token rows where the tile's query and
  /// key/value sequences start in the packed operands (null: fixed-length,
  /// where `batch` selects the sequence).
  Value queryBase, keyBase;
  /// A paged cache: the block table through which K and V rows are read
  /// (fa.paged_rows; null otherwise).
  Value blockTable;
  int64_t headDim, valueHeadDim, blockN;
  double scale;
  /// The op's score_mod and mask_mod (possibly empty) and its captures.
  Region *scoreMod = nullptr, *maskMod = nullptr;
  ValueRange captures;
};

/// Rows [row, row + size) of the key/value head of `tile` in `source` (K
/// or V); `row` is a key position, or a token row when packed (keyBase).
Value extractKeyRows(OpBuilder &b, Location loc, const OutputTile &tile,
                     Value source, Value row, Value size, int64_t dim) {
  if (tile.blockTable) {
    auto type = RankedTensorType::get(
        {ShapedType::kDynamic, dim},
        cast<RankedTensorType>(source.getType()).getElementType());
    return PagedRowsOp::create(b, loc, type, source, tile.blockTable,
                               tile.batch, tile.kvHead, row, size);
  }
  return extractRows(b, loc, source, tile.keyBase ? Value() : tile.batch,
                     tile.kvHead, row, size, dim);
}

/// S = score_mod(scale * Q_tile K_block^T) over keys [start, start + cols),
/// with -inf where the causal mask or mask_mod hides a key. Shape [rows,
/// cols], f32 (see buildScoresTile).
Value buildScores(OpBuilder &b, Location loc, const OutputTile &tile,
                  Value start, Value keyRow, Value cols) {
  Value keyTile =
      extractKeyRows(b, loc, tile, tile.key, keyRow, cols, tile.headDim);
  Value init = zeroTile(b, loc, tile.rows, cols);
  Value qk = tileops::buildQK(b, loc, tile.queryTile, keyTile, init);
  ScoreContext context;
  context.batch = tile.batch;
  context.head = tile.head;
  if (tile.packedHeads > 1)
    context.packedPositions = tile.positions;
  context.causalShift = tile.causalShift;
  context.scale = tile.scale;
  context.scoreMod = tile.scoreMod;
  context.maskMod = tile.maskMod;
  context.captures = tile.captures;
  return buildScoresTile(b, loc, context, tile.rowStart, start, qk);
}

/// A loop over the key/value blocks of `tile` carrying `init`; `body`
/// returns the next value of the carried tensor. It gets the block's first
/// key position and its row in K and V (the same unless packed).
scf::ForOp
buildKeyLoop(OpBuilder &b, Location loc, const OutputTile &tile, Value init,
             StringRef stage,
             function_ref<Value(OpBuilder &, Location, Value start, Value row,
                                Value cols, Value carried)>
                 body) {
  Value step = indexConst(b, loc, tile.blockN);
  auto loop = scf::ForOp::create(
      b, loc, tile.kvBegin, tile.kvEnd, step, ValueRange{init},
      [&](OpBuilder &nb, Location nl, Value start, ValueRange carried) {
        Value remaining = arith::SubIOp::create(nb, nl, tile.kvLength, start);
        Value cols = arith::MinSIOp::create(nb, nl, step, remaining);
        Value row = tile.keyBase
                        ? arith::AddIOp::create(nb, nl, tile.keyBase, start)
                        : start;
        scf::YieldOp::create(nb, nl,
                             body(nb, nl, start, row, cols, carried[0]));
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
      [&](OpBuilder &nb, Location nl, Value start, Value row, Value cols,
          Value max) {
        Value scores = buildScores(nb, nl, tile, start, row, cols);
        return tileops::buildRowMax(nb, nl, scores, max, "row_max");
      });
  Value max = rowMax.getResult(0);

  Value sumInit = filledLike(b, loc, rowShape, 0.0);
  scf::ForOp rowSum = buildKeyLoop(
      b, loc, tile, sumInit, SoftmaxStage::rowSum,
      [&](OpBuilder &nb, Location nl, Value start, Value row, Value cols,
          Value sum) {
        Value scores = buildScores(nb, nl, tile, start, row, cols);
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
      [&](OpBuilder &nb, Location nl, Value start, Value row, Value cols,
          Value acc) {
        Value scores = buildScores(nb, nl, tile, start, row, cols);
        Value probs = tileops::buildExactProbabilities(
            nb, nl, scores, max, sum, emptyLike(nb, nl, scores));
        Value valueTile = extractKeyRows(nb, nl, tile, tile.value, row, cols,
                                         tile.valueHeadDim);
        return tileops::buildWeightedValues(nb, nl, probs, valueTile, acc);
      });
  return {weighted.getResult(0), max, sum};
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
    // (Packed GQA and split tiles are built by mma-sync only, and paged
    // ones whose pages TMA cannot read.)
    chosen.wgmmaDefaults =
        (!op.isPaged() || isWgmmaPaging(op.getPageSize())) &&
        !requested.packGQA && requested.kvSplits == 0 &&
        isWgmmaCandidate(getElementTypeOrSelf(op.getQuery().getType()),
                         op.getHeadDim(),
                         valueType.getDimSize(valueType.getRank() - 1));
  }
  AttentionTileSizes sizes =
      resolveAttentionTileSizes(chosen, op.getHeadDim(),
                                /*plain=*/!op.isCausal() && !op.hasScoreMod() &&
                                    !op.hasMaskMod() && !op.isVarlen());
  // A paged cache: the default block stays when it holds whole pages (each
  // page looked up once a block, at rows known at compile time) or fits in
  // one; otherwise 32 keys, which fit in one page of every power-of-two
  // size from 32. (At D = 128 the mma-sync kernel of 48-key blocks spills
  // when they straddle pages of 32 to 256 rows; 64-key blocks take 8 warps,
  // and 32-key blocks with 4 warps ran 1.02-1.08x as fast as those on the
  // H200: benchmarks/results/2026-12-02-h200-varlen-pack-gqa.md.)
  if (op.isPaged() && !requested.blockN && !chosen.wgmmaDefaults &&
      op.getHeadDim() <= 128 && sizes.blockN % op.getPageSize() != 0 &&
      op.getPageSize() % sizes.blockN != 0)
    sizes.blockN = 32;
  // Three consumer warpgroups (192 rows at D = 64) leave the producer 56
  // registers, too few for its loop over the page pieces of a block
  // (pages smaller than the block; ptxas spilled 12-20 bytes): 128 rows.
  if (op.isPaged() && chosen.wgmmaDefaults && !requested.blockM &&
      sizes.blockM == 192 && op.getPageSize() % sizes.blockN != 0)
    sizes.blockM = 128;
  // A mask that reads captures (a document mask) against a paged cache
  // runs one tile per block beside a producer of 48 registers, which walks
  // the visible blocks' table beside the pages: the consumers' serial
  // schedule holds 161 fragment registers, and at D = 256 a 64-key block
  // needs 176 (fa-lower-to-gpu refused it). 32 keys need 152 (ptxas -v: no
  // spill).
  bool maskReadsCaptures =
      op.hasMaskMod() &&
      op.getMaskMod()
          .walk([](tensor::ExtractOp) { return WalkResult::interrupt(); })
          .wasInterrupted();
  if (op.isPaged() && chosen.wgmmaDefaults && !requested.blockN &&
      op.getHeadDim() > 192 && maskReadsCaptures)
    sizes.blockN = 32;
  // Packed queries against pages under such a mask at D = 128: 128-key
  // blocks spilled 52 bytes under a causal mask too (ptxas -v, both
  // alignments, pages of 16 and 64), 292 with the causal test inside the
  // mask_mod; 64 keys spill none and ran 1.03-1.04x as fast (bf16, pages
  // of 16, documents of 1024 tokens, bottom-right, on an H100:
  // benchmarks/results/2026-12-07-h100-varlen-paged-auto.md).
  if (op.isPaged() && op.isVarlen() && chosen.wgmmaDefaults &&
      !requested.blockN && op.getHeadDim() > 64 && op.getHeadDim() <= 128 &&
      maskReadsCaptures)
    sizes.blockN = std::min<int64_t>(sizes.blockN, 64);

  Location loc = op.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  Value query = op.getQuery(), key = op.getKey(), value = op.getValue();

  auto dim = [&](Value tensor, int64_t index) -> Value {
    return tensor::DimOp::create(rewriter, loc, tensor, index);
  };
  // Variable-length batches: B = offsets - 1 sequences, whose lengths each
  // tile reads from the offsets; max_seqlen_q bounds the query tiles.
  bool varlen = op.isVarlen();
  if (varlen && sizes.kvSplits != 0)
    return op.emitOpError("split-kv does not support variable-length "
                          "batches yet");
  // A paged cache: K and V are [num_pages, page_size, Hkv, D]; each tile
  // reads its sequence's key count from cache_seqlens.
  bool paged = op.isPaged();
  int64_t kvHeadDim = paged ? 2 : 1;
  Value batch, qLength, kvLength;
  if (varlen) {
    batch = arith::SubIOp::create(rewriter, loc, dim(op.getCuSeqlensQ(), 0),
                                  indexConst(rewriter, loc, 1));
    qLength = op.getMaxSeqlenQ();
  } else {
    batch = dim(query, 0);
    qLength = dim(query, 2);
    if (!paged)
      kvLength = dim(key, 2);
  }
  Value qHeads = dim(query, 1), kvHeads = dim(key, kvHeadDim);
  buildHeadChecks(rewriter, loc,
                  op.getQueryType().isDynamicDim(1) ||
                      op.getKeyType().isDynamicDim(kvHeadDim),
                  qHeads, kvHeads, "fa.attention");
  // Packed GQA: a tile holds the `packed` query heads of its key/value
  // group at block_m / packed positions.
  int64_t packed = 1;
  if (sizes.packGQA) {
    RankedTensorType queryType = op.getQueryType(), keyType = op.getKeyType();
    if (queryType.isDynamicDim(1) || keyType.isDynamicDim(kvHeadDim))
      return op.emitOpError("pack-gqa needs static head counts, got Hq = ")
             << (queryType.isDynamicDim(1)
                     ? std::string("?")
                     : std::to_string(queryType.getDimSize(1)))
             << " and Hkv = "
             << (keyType.isDynamicDim(kvHeadDim)
                     ? std::string("?")
                     : std::to_string(keyType.getDimSize(kvHeadDim)));
    if (queryType.getDimSize(1) == 0 || keyType.getDimSize(kvHeadDim) == 0)
      return op.emitOpError("pack-gqa packs a group's query heads into a "
                            "tile, and a group needs heads: got Hq = ")
             << queryType.getDimSize(1)
             << " and Hkv = " << keyType.getDimSize(kvHeadDim);
    packed = queryType.getDimSize(1) / keyType.getDimSize(kvHeadDim);
    // A default block-m grows to hold a group of up to 128 heads (a
    // multiple of 16 rows).
    if (!requested.blockM && packed > sizes.blockM && packed <= 128)
      sizes.blockM = llvm::alignTo(packed, 16);
    if (packed > sizes.blockM)
      return op.emitOpError("pack-gqa puts the ")
             << packed << " query heads of a group in one tile of block-m = "
             << sizes.blockM << " rows; block-m must be at least " << packed;
  }
  bool pack = packed > 1;
  Value group;
  if (!pack)
    group = arith::DivUIOp::create(rewriter, loc, qHeads, kvHeads);
  Value blockM = indexConst(rewriter, loc, sizes.blockM / packed);
  Value numTiles = arith::CeilDivUIOp::create(rewriter, loc, qLength, blockM);
  Value tiledHeads = pack ? kvHeads : qHeads;

  // Key j is visible from row i iff j <= i + shift: 0 top-left, the key
  // count minus the query count (of the tile's sequence) bottom-right.
  std::optional<CausalAlignment> causal = op.getCausal();
  auto shiftFor = [&](Value keys, Value queries) -> Value {
    if (!causal)
      return Value();
    if (*causal == CausalAlignment::TopLeft)
      return indexConst(rewriter, loc, 0);
    return arith::SubIOp::create(rewriter, loc, keys, queries);
  };
  Value causalShift;
  if (!varlen && !paged)
    causalShift = shiftFor(kvLength, qLength);

  // Split: each tile's key blocks are shared among `splits` parts, whose
  // f32 partial outputs and LSEs a combine forall merges.
  bool split = sizes.kvSplits != 0;
  Value splits, chunkBlocks;
  SmallVector<Value> outputs;
  Type f32 = rewriter.getF32Type();
  Value blockSize;
  if (split) {
    blockSize = indexConst(rewriter, loc, sizes.blockN);
    // A paged cache's key counts are per sequence: the split count's rule
    // takes the most any sequence can have, max_pages * page_size, and
    // each tile shares out its own sequence's blocks (below).
    Value keyBound =
        paged
            ? arith::MulIOp::create(rewriter, loc, dim(op.getBlockTable(), 1),
                                    indexConst(rewriter, loc, op.getPageSize()))
                  .getResult()
            : kvLength;
    Value blocks =
        arith::CeilDivUIOp::create(rewriter, loc, keyBound, blockSize);
    if (sizes.kvSplits > 0) {
      splits = indexConst(rewriter, loc, sizes.kvSplits);
    } else {
      Value tiles = arith::MulIOp::create(
          rewriter, loc,
          arith::MulIOp::create(rewriter, loc, batch, tiledHeads), numTiles);
      splits = SplitCountOp::create(rewriter, loc, rewriter.getIndexType(),
                                    tiles, blocks,
                                    rewriter.getI64IntegerAttr(kMaxKVSplits));
    }
    if (!paged)
      chunkBlocks = arith::CeilDivUIOp::create(rewriter, loc, blocks, splits);
    SmallVector<OpFoldResult> lseSizes{getAsOpFoldResult(splits)};
    for (int64_t i = 0; i < 3; ++i)
      lseSizes.push_back(tensor::getMixedSize(rewriter, loc, query, i));
    SmallVector<OpFoldResult> outSizes = lseSizes;
    outSizes.push_back(rewriter.getIndexAttr(op.getValueHeadDim()));
    outputs.push_back(tensor::EmptyOp::create(rewriter, loc, outSizes, f32));
    outputs.push_back(tensor::EmptyOp::create(rewriter, loc, lseSizes, f32));
  } else {
    outputs.push_back(op.getOutput());
    if (op.hasLse())
      outputs.push_back(op.getLseOutput());
  }
  // (batch, head, query tile) are the GPU grid's (z, y, x): a kernel
  // launches one block per tile. The mapping also keeps canonicalization
  // from folding away a dimension of size 1 (a static batch of 1), which
  // would change the tile's shape under the later passes.
  SmallVector<OpFoldResult> bounds{batch, tiledHeads, numTiles};
  if (split)
    bounds.insert(bounds.begin(), getAsOpFoldResult(splits));
  ArrayAttr mapping = getBlockMapping(rewriter.getContext(), bounds.size());
  auto forall = scf::ForallOp::create(rewriter, loc, bounds, outputs, mapping);

  forall->setAttr(AttentionTileAttr::attrName,
                  AttentionTileAttr::get(rewriter.getContext(), sizes.blockM,
                                         sizes.blockN, split, packed));

  rewriter.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  Value splitIndex;
  if (split)
    splitIndex = ivs.front(), ivs.erase(ivs.begin());
  OutputTile tile;
  tile.key = key;
  tile.value = value;
  tile.batch = ivs[0];
  tile.head = ivs[1];
  tile.scoreMod = &op.getScoreMod();
  tile.maskMod = &op.getMaskMod();
  tile.captures = op.getCaptures();
  tile.rowStart = arith::MulIOp::create(rewriter, loc, ivs[2], blockM);
  Value seqLength = qLength;
  if (varlen) {
    // Sequence b: query rows [cu_q[b], cu_q[b + 1]), key rows [cu_k[b],
    // cu_k[b + 1]) unless paged; tiles past its end have no rows.
    Value next = arith::AddIOp::create(rewriter, loc, ivs[0],
                                       indexConst(rewriter, loc, 1));
    tile.queryBase = extractOffset(rewriter, loc, op.getCuSeqlensQ(), ivs[0]);
    seqLength = arith::SubIOp::create(
        rewriter, loc, extractOffset(rewriter, loc, op.getCuSeqlensQ(), next),
        tile.queryBase);
    if (!paged) {
      tile.keyBase = extractOffset(rewriter, loc, op.getCuSeqlensK(), ivs[0]);
      kvLength = arith::SubIOp::create(
          rewriter, loc, extractOffset(rewriter, loc, op.getCuSeqlensK(), next),
          tile.keyBase);
    }
  }
  if (paged) {
    // Sequence b's keys: cache_seqlens[b] positions, read through its row
    // of the block table; its queries are the last positions.
    tile.blockTable = op.getBlockTable();
    kvLength = extractOffset(rewriter, loc, op.getCacheSeqlens(), ivs[0]);
  }
  if (varlen || paged)
    causalShift = shiftFor(kvLength, seqLength);
  tile.positions = arith::MinSIOp::create(
      rewriter, loc, blockM,
      arith::SubIOp::create(rewriter, loc, seqLength, tile.rowStart));
  if (varlen)
    tile.positions = arith::MaxSIOp::create(rewriter, loc, tile.positions,
                                            indexConst(rewriter, loc, 0));
  tile.rows = tile.positions;
  if (pack) {
    tile.packedHeads = packed;
    tile.kvHead = ivs[1];
    tile.head = arith::MulIOp::create(rewriter, loc, ivs[1],
                                      indexConst(rewriter, loc, packed));
    tile.rows = arith::MulIOp::create(rewriter, loc, tile.positions,
                                      indexConst(rewriter, loc, packed));
  } else {
    tile.kvHead = arith::DivUIOp::create(rewriter, loc, ivs[1], group);
  }
  tile.kvLength = kvLength;
  tile.causalShift = causalShift;
  tile.kvBegin = indexConst(rewriter, loc, 0);
  tile.kvEnd = kvLength;
  if (causalShift) {
    // Keys past the one the tile's last row sees are never loaded.
    tile.kvEnd = buildCausalKeyEnd(rewriter, loc, tile.rowStart, tile.positions,
                                   causalShift, kvLength);
  }
  if (split) {
    // Part s walks key blocks [s * chunk, (s + 1) * chunk) of its tile's:
    // of the sequence's own blocks when the cache is paged.
    if (paged)
      chunkBlocks = arith::CeilDivUIOp::create(
          rewriter, loc,
          arith::CeilDivUIOp::create(rewriter, loc, kvLength, blockSize),
          splits);
    Value firstBlock =
        arith::MulIOp::create(rewriter, loc, splitIndex, chunkBlocks);
    tile.kvBegin = arith::MulIOp::create(rewriter, loc, firstBlock, blockSize);
    Value splitEnd = arith::MulIOp::create(
        rewriter, loc,
        arith::AddIOp::create(rewriter, loc, firstBlock, chunkBlocks),
        blockSize);
    tile.kvEnd = arith::MinSIOp::create(rewriter, loc, tile.kvEnd, splitEnd);
  }
  tile.headDim = op.getHeadDim();
  tile.valueHeadDim = op.getValueHeadDim();
  tile.blockN = sizes.blockN;
  tile.scale = op.getEffectiveScale();
  // The token row of the tile's first query in the packed Q, O and LSE.
  auto tokenRow = [&]() {
    return arith::AddIOp::create(rewriter, loc, tile.queryBase, tile.rowStart)
        .getResult();
  };
  if (pack && varlen)
    tile.queryTile =
        extractPackedTokenRows(rewriter, loc, query, tile.head, packed,
                               tokenRow(), tile.positions, tile.headDim);
  else if (pack)
    tile.queryTile =
        extractPackedRows(rewriter, loc, query, ivs[0], tile.head, packed,
                          tile.rowStart, tile.positions, tile.headDim);
  else
    tile.queryTile = extractRows(
        rewriter, loc, query, varlen ? Value() : ivs[0], ivs[1],
        varlen ? tokenRow() : tile.rowStart, tile.rows, tile.headDim);

  auto [acc, max, sum] = buildExactSoftmax(rewriter, loc, tile);

  // A split writes its f32 output as it is (the combine rounds once): no
  // store, which would be an identity that canonicalization erases.
  Value outTile = acc;
  if (!split) {
    Value outInit = tensor::EmptyOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{tile.rows,
                               rewriter.getIndexAttr(tile.valueHeadDim)},
        op.getQueryType().getElementType());
    outTile = tileops::buildStore(rewriter, loc, acc, outInit);
  }

  Value lseTile;
  if (op.hasLse() || split)
    lseTile = tileops::buildLse(rewriter, loc, max, sum,
                                emptyLike(rewriter, loc, max));
  Value token;
  if (varlen)
    token = tokenRow();
  if (pack) {
    // [G, n, ...]; packed tokens hold the heads of a token together: the
    // output tile [n, G, Dv] (the LSE [Hq, Tq] takes [G, n] as it is).
    outTile = expandPackedRows(rewriter, loc, outTile, packed, tile.positions);
    if (varlen)
      outTile = transposeHeadsAndTokens(rewriter, loc, outTile);
    if (lseTile)
      lseTile =
          expandPackedRows(rewriter, loc, lseTile, packed, tile.positions);
  }

  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  ValueRange shared = forall.getRegionIterArgs();
  OpFoldResult one = rewriter.getIndexAttr(1);
  OpFoldResult zeroAttr = rewriter.getIndexAttr(0);
  // (split,) batch, then the tile's query head (its first of `packed`).
  SmallVector<OpFoldResult> lead{ivs[0], tile.head},
      leadSizes{one, rewriter.getIndexAttr(packed)};
  if (split) {
    lead.insert(lead.begin(), splitIndex);
    leadSizes.insert(leadSizes.begin(), one);
  }
  auto insert = [&](Value source, Value dest, bool withColumns) {
    SmallVector<OpFoldResult> offsets = lead, sizes = leadSizes;
    if (varlen) {
      // O [Tq, Hq, Dv] at (token, head, 0); LSE [Hq, Tq] at (head, token);
      // the tile's `packed` heads from `head`.
      offsets = {tile.head, token};
      sizes = {rewriter.getIndexAttr(packed), tile.positions};
      if (withColumns) {
        std::swap(offsets[0], offsets[1]);
        std::swap(sizes[0], sizes[1]);
      }
    } else {
      offsets.push_back(tile.rowStart);
      sizes.push_back(tile.positions);
    }
    if (withColumns) {
      offsets.push_back(zeroAttr);
      sizes.push_back(rewriter.getIndexAttr(tile.valueHeadDim));
    }
    SmallVector<OpFoldResult> strides(offsets.size(), one);
    tensor::ParallelInsertSliceOp::create(rewriter, loc, source, dest, offsets,
                                          sizes, strides);
  };
  insert(outTile, shared[0], /*withColumns=*/true);
  if (lseTile)
    insert(lseTile, shared[1], /*withColumns=*/false);
  if (!split) {
    rewriter.replaceOp(op, forall.getResults());
    return forall;
  }
  rewriter.setInsertionPointAfter(forall);
  scf::ForallOp combine = buildSplitCombine(
      rewriter, loc, forall.getResult(0), forall.getResult(1), op.getOutput(),
      op.hasLse() ? op.getLseOutput() : Value(), sizes.blockM);
  rewriter.replaceOp(op, combine.getResults());
  return forall;
}

namespace {

struct FATileAttentionPass
    : public fa::impl::FATileAttentionBase<FATileAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<AttentionOp> ops;
    getOperation().walk([&](AttentionOp op) { ops.push_back(op); });
    // Option errors at the location of a function that has an op to tile
    // (once, not for every function of the module), without the function.
    if (ops.empty())
      return;
    Location loc = getOperation().getLoc();
    if (!parseGPUStrategy(defaultsFor)) {
      emitError(loc, getOptionValueError("defaults-for", kStrategyValues,
                                         defaultsFor));
      return signalPassFailure();
    }
    std::optional<int64_t> splits = parseKVSplits(splitKV);
    if (!splits) {
      emitError(loc,
                getOptionValueError("split-kv", getKVSplitsValues(), splitKV));
      return signalPassFailure();
    }
    AttentionTileSizes sizes{
        blockM,  blockN, defaultsFor == "hopper-ws", defaultsFor == "auto",
        *splits, packGQA};
    if (failed(verifyAttentionTileSizes(sizes,
                                        [&]() { return emitError(loc); })))
      return signalPassFailure();
    IRRewriter rewriter(&getContext());
    for (AttentionOp op : ops)
      if (failed(tileAttention(rewriter, op, sizes)))
        return signalPassFailure();
  }
};

} // namespace
