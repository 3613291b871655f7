//===- Transforms.h - Reusable fa transformations ---------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The functions behind the fa passes, for compilers that drive the
// transformations themselves instead of through the pass manager.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_TRANSFORMS_TRANSFORMS_H
#define FA_DIALECT_FA_TRANSFORMS_TRANSFORMS_H

#include "fa/Dialect/FA/IR/FAOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::fa {

/// Names of the attributes that tie the tiling pass to the fusion pass.
struct SoftmaxStage {
  static constexpr StringLiteral attrName = "fa.softmax_stage";
  static constexpr StringLiteral rowMax = "row_max";
  static constexpr StringLiteral rowSum = "row_sum";
  static constexpr StringLiteral weightedValues = "weighted_values";
  static constexpr StringLiteral online = "online";
};
struct TileRole {
  static constexpr StringLiteral attrName = "fa.role";
  static constexpr StringLiteral qk = "qk";
  static constexpr StringLiteral scores = "scores";
  static constexpr StringLiteral probabilities = "probabilities";
  static constexpr StringLiteral weightedValues = "weighted_values";
};

/// Query rows per output tile and keys per key/value block; 0 means "the
/// default for the op's head dimension" (getDefaultAttentionTileSizes).
struct AttentionTileSizes {
  int64_t blockM = 0;
  int64_t blockN = 0;
};

/// The tile the tensor-core kernels were tuned for on the H200 (mma-sync
/// strategy, benchmarks/results/2026-11-21-h200-d128.md): 128 query rows;
/// 64 keys per block at D <= 64, 48 at D <= 128 (the most keys whose scores
/// fit beside the output accumulators at 32 rows per warp) and 32 beyond.
AttentionTileSizes getDefaultAttentionTileSizes(int64_t headDim);

/// `sizes` with each 0 replaced by the default for `headDim`.
AttentionTileSizes resolveAttentionTileSizes(const AttentionTileSizes &sizes,
                                             int64_t headDim);

/// Checks tile sizes before any IR is touched; reports through `emitError`.
LogicalResult
verifyAttentionTileSizes(const AttentionTileSizes &sizes,
                         function_ref<InFlightDiagnostic()> emitError);

/// Replaces `op` with an `scf.forall` over output tiles whose body holds the
/// exact three-loop softmax (see the fa-tile-attention pass description).
/// Returns the forall.
FailureOr<scf::ForallOp> tileAttention(RewriterBase &rewriter, AttentionOp op,
                                       const AttentionTileSizes &sizes);

/// What a tiled attention computes, recorded by tileAttention as the
/// dictionary attribute `fa.attention_tile` on its scf.forall so that later
/// stages (the GPU mapping) need not rediscover it from the loop bodies:
/// `{block_m, block_n, scale, causal?}`.
struct AttentionTileInfo {
  static constexpr StringLiteral attrName = "fa.attention_tile";
  int64_t blockM = 0, blockN = 0;
  /// The softmax scale in the natural-log domain (not yet times log2(e)).
  double scale = 0;
  std::optional<CausalAlignment> causal;
  /// The operands of the tiled fa.attention.
  Value query, key, value, output, lseOutput;
  /// The key/value loop of the tile body: the online loop when the tile has
  /// been fused, else the first of the three exact loops.
  scf::ForOp kvLoop;
  bool isFused() const;
};

DictionaryAttr buildAttentionTileInfo(MLIRContext *ctx, AttentionOp op,
                                      const AttentionTileSizes &sizes);

/// Recovers the AttentionTileInfo of a forall produced by tileAttention (and
/// possibly fused); fails with a diagnostic on `forall` when it is not one.
FailureOr<AttentionTileInfo> matchAttentionTile(scf::ForallOp forall);

/// The three key/value loops of one tile, as produced by tileAttention.
struct UnfusedSoftmaxLoops {
  scf::ForOp rowMax, rowSum, weightedValues;
};

/// Recognizes the three loops starting at `rowMax`; fails (without touching
/// the IR) when their shape is not the one tileAttention produces.
FailureOr<UnfusedSoftmaxLoops> matchUnfusedSoftmaxLoops(scf::ForOp rowMax);

/// Replaces the three loops by one online-softmax loop (see the
/// fa-fuse-online-softmax pass description). Returns the fused loop.
FailureOr<scf::ForOp> fuseOnlineSoftmax(RewriterBase &rewriter,
                                        UnfusedSoftmaxLoops loops);

} // namespace mlir::fa

#endif // FA_DIALECT_FA_TRANSFORMS_TRANSFORMS_H
