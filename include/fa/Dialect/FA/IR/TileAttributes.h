//===- TileAttributes.h - The fa.* attributes of tiled attention -*- C++ -*-=//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The discardable attributes that tie the tile passes and the GPU mapping
// together. They are part of the IR contract, so the fa dialect verifies
// them (FADialect::verifyOperationAttribute) wherever they appear: a name
// or value it does not know, or an `fa.attention_tile` whose block sizes
// disagree with the loops it annotates, is a verifier error.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_IR_TILEATTRIBUTES_H
#define FA_DIALECT_FA_IR_TILEATTRIBUTES_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Operation.h"

#include <optional>

namespace mlir::fa {

/// `fa.softmax_stage` on the key/value loops (scf.for) of a tile.
struct SoftmaxStage {
  static constexpr StringLiteral attrName = "fa.softmax_stage";
  static constexpr StringLiteral rowMax = "row_max";
  static constexpr StringLiteral rowSum = "row_sum";
  static constexpr StringLiteral weightedValues = "weighted_values";
  static constexpr StringLiteral online = "online";
};

/// `fa.role` on the tile-level linalg.generic ops.
struct TileRole {
  static constexpr StringLiteral attrName = "fa.role";
  static constexpr StringLiteral qk = "qk";
  static constexpr StringLiteral scores = "scores";
  static constexpr StringLiteral probabilities = "probabilities";
  static constexpr StringLiteral weightedValues = "weighted_values";
  // The backward pass.
  static constexpr StringLiteral delta = "delta";
  static constexpr StringLiteral recomputedProbabilities =
      "recomputed_probabilities";
  static constexpr StringLiteral gradProbabilities = "grad_probabilities";
  static constexpr StringLiteral gradScores = "grad_scores";
  static constexpr StringLiteral gradValue = "grad_value";
  static constexpr StringLiteral gradKey = "grad_key";
  static constexpr StringLiteral gradQuery = "grad_query";
  static constexpr StringLiteral scaledStore = "scaled_store";
  // The combine step of a split key range.
  static constexpr StringLiteral combineMax = "combine_max";
  static constexpr StringLiteral combineWeights = "combine_weights";
  static constexpr StringLiteral combineSum = "combine_sum";
  static constexpr StringLiteral combineAcc = "combine_acc";
  /// Every role the tile passes emit.
  static bool isKnown(StringRef role);
};

/// `fa.attention_tile = {block_m = M, block_n = N}` on the scf.forall that
/// tiling makes: M query rows per tile (the last induction variable times
/// M is the tile's first row, and the last upper bound is
/// ceildiv(Nq, M)), N keys per step of every key/value loop, which starts
/// at 0 or at a multiple of N. The forall runs over (batch, head, query
/// tile), or with `split_kv` (a unit attribute) over (split, batch, head,
/// query tile): each split walks its share of the key blocks and writes
/// an f32 partial output and LSE, which the forall marked
/// `fa.split_combine` merges.
///
/// With `pack_gqa = G` (G > 1; grouped-query attention packed into tiles)
/// the head induction variable is a key/value head and a tile holds the G
/// query heads of its group at P = block_m / G positions: its rows are
/// head-major, row r is query head `head * G + r / n` at position
/// `first + r % n`, where the tile's first position is the last induction
/// variable times P, n = min(P, Nq - first) and the grid is ceildiv(Nq, P)
/// tiles. The query heads then share every K and V block a tile loads.
struct AttentionTileAttr {
  static constexpr StringLiteral attrName = "fa.attention_tile";
  static DictionaryAttr get(MLIRContext *ctx, int64_t blockM, int64_t blockN,
                            bool splitKV = false, int64_t packedHeads = 1);
  /// (block_m, block_n) of a well-formed attribute.
  static std::optional<std::pair<int64_t, int64_t>>
  getBlockSizes(Attribute attr);
  /// Whether a well-formed attribute marks a split tile.
  static bool isSplit(Attribute attr);
  /// G of `pack_gqa`: the query heads a tile packs (1 when absent).
  static int64_t getPackedHeads(Attribute attr);
  /// The query positions a tile covers: block_m / G.
  static int64_t getTilePositions(Attribute attr);
};

/// `fa.split_combine = {block_m = M}` on the scf.forall over (batch, head,
/// query tile) that merges the partial results of a split attention tile:
/// M rows per tile, the last induction variable times M is its first row.
struct SplitCombineAttr {
  static constexpr StringLiteral attrName = "fa.split_combine";
  static DictionaryAttr get(MLIRContext *ctx, int64_t blockM);
  /// block_m of a well-formed attribute.
  static std::optional<int64_t> getBlockM(Attribute attr);
};

/// `fa.attention_backward_tile = {stage = S, block_m = M, block_n = N}` on
/// each scf.forall of a tiled fa.attention_backward (rank 3, over (batch,
/// head, tile)). Stage `delta` (rows of dO * O) and `query` (dQ) tile the
/// queries: the third induction variable times M is a tile's first row.
/// Stage `key_value` (dK and dV, over key/value heads) tiles the keys: the
/// third induction variable times N is a tile's first key. M query rows per
/// step of every query loop, N keys per step of every key loop. Stage
/// `fused` (rank 2, over (batch, key/value head)) walks the key tiles in a
/// serial loop ("key_tiles", steps of N) that also accumulates dQ.
struct BackwardTileAttr {
  static constexpr StringLiteral attrName = "fa.attention_backward_tile";
  static constexpr StringLiteral delta = "delta";
  static constexpr StringLiteral keyValue = "key_value";
  static constexpr StringLiteral query = "query";
  static constexpr StringLiteral fused = "fused";
  static DictionaryAttr get(MLIRContext *ctx, StringRef stage, int64_t blockM,
                            int64_t blockN);
};

/// `fa.backward_loop` on the serial loops of a backward tile: "query_heads"
/// (the query heads that share a key/value head), "query_blocks" (steps of
/// block_m rows), "key_blocks" (steps of block_n keys) or "key_tiles" (the
/// key tiles of a fused stage, steps of block_n keys).
struct BackwardLoop {
  static constexpr StringLiteral attrName = "fa.backward_loop";
  static constexpr StringLiteral queryHeads = "query_heads";
  static constexpr StringLiteral queryBlocks = "query_blocks";
  static constexpr StringLiteral keyBlocks = "key_blocks";
  static constexpr StringLiteral keyTiles = "key_tiles";
};

/// The first op with an `fa.role` under `root` that is not inside an
/// scf.forall marked `fa.attention_tile` or `fa.attention_backward_tile`:
/// tiled attention whose contract a pass run after the tiling removed.
/// Upstream canonicalization does, when it rebuilds the forall (folding a
/// tensor.cast into it, dropping unused results); a consumer of the contract
/// reports such an op instead of passing it through. Null when there is none.
Operation *findUnmarkedTileOp(Operation *root);

/// Verifies one `fa.*` attribute on `op` (FADialect's hook).
LogicalResult verifyTileAttribute(Operation *op, NamedAttribute attribute);

} // namespace mlir::fa

#endif // FA_DIALECT_FA_IR_TILEATTRIBUTES_H
