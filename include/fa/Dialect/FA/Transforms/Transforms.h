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
#include "fa/Dialect/FA/IR/TileAttributes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::fa {

/// Query rows per output tile and keys per key/value block; 0 means "the
/// default for the op's head dimension" (getDefaultAttentionTileSizes).
struct AttentionTileSizes {
  int64_t blockM = 0;
  int64_t blockN = 0;
  /// Take the defaults of the hopper-ws (wgmma) strategy instead of
  /// mma-sync's.
  bool wgmmaDefaults = false;
  /// Take them for the ops strategy=auto builds with wgmma
  /// (isWgmmaCandidate), mma-sync's for the others.
  bool wgmmaDefaultsWherePossible = false;
  /// Split the key range of every tile (flash-decoding): 0 does not,
  /// kAutoKVSplits lets the launcher choose (fa.split_count), N > 0 makes N
  /// parts.
  int64_t kvSplits = 0;
  /// Pack the query heads of each key/value group into one tile
  /// (fa.attention_tile's pack_gqa) where there is more than one: needs
  /// static head counts and a group of at most block_m heads.
  bool packGQA = false;
};

/// AttentionTileSizes::kvSplits: the launcher's choice.
inline constexpr int64_t kAutoKVSplits = -1;
/// The most parts a key range is split into (fa.split_count's max_splits).
inline constexpr int64_t kMaxKVSplits = 128;

/// Parses a `split-kv` option: "none" (0), "auto" (kAutoKVSplits) or a
/// count in [1, kMaxKVSplits].
std::optional<int64_t> parseKVSplits(StringRef text);
/// What a `split-kv` option takes, in words (for getOptionValueError).
std::string getKVSplitsValues();

/// The error for a value that an option does not take, worded alike
/// wherever the option is read (the passes, the pipelines and fa-compile,
/// the C API): "<option> must be <accepted>, got '<value>'".
std::string getOptionValueError(StringRef option, StringRef accepted,
                                StringRef value);

/// The kernel strategies, as the options that name one take them
/// (fa-lower-to-gpu `strategy`, the tiling passes' `defaults-for`).
enum class GPUStrategyKind {
  /// mma.sync m16n8k16 + ldmatrix + cp.async (sm_80+).
  MmaSync,
  /// wgmma, TMA and warp specialization (sm_90a; docs/HopperStrategy.md).
  HopperWarpSpecialized,
  /// Per kernel: HopperWarpSpecialized on a chip with wgmma for the shapes
  /// it builds (isWgmmaCandidate), MmaSync otherwise.
  Auto,
};
/// "mma-sync", "hopper-ws" or "auto".
std::optional<GPUStrategyKind> parseGPUStrategy(StringRef name);
inline constexpr StringLiteral kStrategyValues = "mma-sync, hopper-ws or auto";

/// How a backward computes dQ (fa-tile-attention-backward `dq`,
/// fa-compile `--backward-dq`).
enum class BackwardDqChoice {
  /// Accumulate where that kernel is the faster (tilesFusedBackward).
  Auto,
  /// In f32 in the kernel that computes dK and dV.
  Accumulate,
  /// In a kernel of its own, deterministically.
  Stage,
};
inline constexpr StringLiteral kBackwardDqValues = "auto, accumulate or stage";
std::optional<BackwardDqChoice> parseBackwardDq(StringRef text);

/// The head dimensions (D == Dv) every kernel strategy builds: the one
/// table the strategies' checks, the tools and the C API read.
ArrayRef<int64_t> getSupportedHeadDims();

/// Whether the wgmma (hopper-ws) strategy builds kernels of this shape:
/// f16 or bf16 with D == Dv in getSupportedHeadDims. On a chip with wgmma,
/// strategy=auto builds these with hopper-ws and the others with mma-sync.
bool isWgmmaCandidate(Type elementType, int64_t headDim, int64_t valueHeadDim);

/// Whether the wgmma (hopper-ws) strategy reads a paged cache of pages of
/// `pageSize` rows: TMA loads each key block in pieces that lie in one page
/// into 128-byte-swizzled slabs, whose pattern repeats every 8 rows, so a
/// page holds a multiple of 8 rows.
bool isWgmmaPaging(int64_t pageSize);

/// Whether tile options leave strategy=auto free to pick hopper-ws: no warp
/// count (hopper-ws's is fixed by block-m), a block-m of whole consumer
/// warpgroups (0: the default) and the default ring (0: the strategy's
/// choice, or 2 stages). Options
/// that only mma-sync takes make auto pick mma-sync (strategy=hopper-ws
/// takes deeper rings where they fit), and so does a key-warp count
/// (mma-sync's key-split warps).
inline bool wgmmaTakesOptions(int64_t blockM, int64_t warps, int64_t stages,
                              int64_t keyWarps = 0) {
  return warps == 0 && keyWarps == 0 && blockM % 64 == 0 &&
         (stages == 0 || stages == 2);
}

/// The tile the tensor-core kernels were tuned for on the H200 (mma-sync
/// strategy, benchmarks/results/2026-11-21-h200-d128.md): 128 query rows;
/// 64 keys per block at D <= 64, 48 at D <= 128 (the most keys whose scores
/// fit beside the output accumulators at 32 rows per warp) and 32 beyond.
/// With `wgmma` (the hopper-ws strategy): 128 rows (two consumer
/// warpgroups) and 128 keys up to D = 128, 64 beyond; 192 rows (three
/// warpgroups) at D = 64 for `plain` attention (no causal mask, no
/// score_mod or mask_mod, sequences of one length).
AttentionTileSizes getDefaultAttentionTileSizes(int64_t headDim,
                                                bool wgmma = false,
                                                bool plain = false);

/// `sizes` with each 0 replaced by the default for `headDim` (and
/// `plain`, as getDefaultAttentionTileSizes); a split tile (kvSplits !=
/// 0, mma-sync defaults) takes 64 rows and 64 keys up to D = 128, 16 rows
/// beyond.
AttentionTileSizes resolveAttentionTileSizes(const AttentionTileSizes &sizes,
                                             int64_t headDim,
                                             bool plain = false);

/// Checks tile sizes before any IR is touched; reports through `emitError`,
/// naming them as the options `blockMName` and `blockNName` that gave them.
LogicalResult
verifyAttentionTileSizes(const AttentionTileSizes &sizes,
                         function_ref<InFlightDiagnostic()> emitError,
                         StringRef blockMName = "block-m",
                         StringRef blockNName = "block-n");

/// Replaces `op` with an `scf.forall` over output tiles whose body holds the
/// exact three-loop softmax (see the fa-tile-attention pass description).
/// Returns the forall.
FailureOr<scf::ForallOp> tileAttention(RewriterBase &rewriter, AttentionOp op,
                                       const AttentionTileSizes &sizes);

/// A fused attention tile (an scf.forall of tileAttention after
/// fuseOnlineSoftmax), as every GPU strategy reads it. The strategy
/// implements the structural parts (the two contractions, the online
/// softmax, the epilogue) with its own schedule and clones the rest from
/// the IR: the element-wise `scores` body (scale, score_mod, masks) and the
/// index values it and the slices use.
struct FusedAttentionTile {
  scf::ForallOp forall;
  int64_t blockM = 0, blockN = 0;
  /// The tiled operands (tensors defined outside the forall).
  Value query, key, value, output, lseOutput;
  /// Tensors defined outside the forall that the scores body reads
  /// (tensor.extract / tensor.dim): the captures, in order of first use.
  SmallVector<Value> captures;
  /// The online key/value loop; its induction variable is the first key of
  /// a block, its upper bound the end of the keys the tile visits.
  scf::ForOp kvLoop;
  /// The element-wise scores op: no inputs, the Q K^T tile as its init;
  /// its body yields the log2-domain score of one element, -inf where
  /// masked.
  linalg::GenericOp scores;
  /// A split-KV tile (fa.attention_tile's split_kv): the forall's first
  /// induction variable is the split, `output` and `lseOutput` are the f32
  /// partial tensors [S, B, Hq, Nq, Dv] and [S, B, Hq, Nq] (S, the split
  /// count, is the forall's first bound), and `combine` merges them.
  bool split = false;
  /// The key loop starts at firstBlock * firstBlockScale * block_n (null:
  /// at 0); the scale is 1 as tiling builds it, more where
  /// canonicalization folded a constant chunk into the product.
  Value firstBlock;
  int64_t firstBlockScale = 1;
  /// The position of the batch induction variable (1 when split, else 0);
  /// head and query tile follow it.
  unsigned batchDim() const { return split ? 1 : 0; }
  /// A packed GQA tile (fa.attention_tile's pack_gqa): the head induction
  /// variable is a key/value head `h`, and the tile's rows are the
  /// `packedHeads` query heads from h * packedHeads, each at `rows`
  /// positions from `rowStart`, head-major (row r: head h * G + r / rows,
  /// position rowStart + r % rows). 1 when not packed.
  int64_t packedHeads = 1;
  /// The query positions of a full tile: block_m / packedHeads.
  int64_t positions() const { return blockM / packedHeads; }
  /// The first query row of the tile (the tile induction variable times
  /// positions()), its number of positions (min(positions(), Nq - first
  /// row); the tile has packedHeads times as many rows) and the key/value
  /// head the K and V slices read (any index computation of the batch and
  /// head induction variables and the sizes).
  Value rowStart, rows, kvHead;
  /// A variable-length tile (fa.attention's varlen): Q, K, V and O are
  /// packed [T, H, D], the LSE [Hq, Tq]; the forall's batch index is a
  /// sequence of the offsets `cuSeqlensQ` / `cuSeqlensK` (i32 [B + 1]) and
  /// its query tiles are bounded by `maxSeqlenQ`. `queryBase` / `keyBase`
  /// are the sequence's first token rows (cu[b]) and `queryLength` /
  /// `keyLength` its lengths (cu[b + 1] - cu[b]), values in the forall's
  /// body; the tile's rows and keys are positions within the sequence.
  /// All null for fixed-length tiles.
  Value cuSeqlensQ, cuSeqlensK, maxSeqlenQ;
  Value queryBase, keyBase, queryLength, keyLength;
  bool isVarlen() const { return static_cast<bool>(cuSeqlensQ); }
  /// A paged tile (fa.attention's paged): `key` and `value` are caches
  /// [num_pages, page_size, Hkv, D] that the loop reads through
  /// fa.paged_rows of `blockTable` (i32 [B, max_pages]); `keyLength` is the
  /// sequence's key count, cacheSeqlens[b]. Null otherwise.
  Value blockTable, cacheSeqlens;
  bool isPaged() const { return static_cast<bool>(blockTable); }
  /// Rows per page of a paged tile's caches.
  int64_t pageSize() const {
    return cast<RankedTensorType>(key.getType()).getDimSize(1);
  }
};

/// Checks that `forall` is a fused attention tile and returns its parts;
/// reports (on the offending op) whatever differs from what the tile passes
/// build, so that a strategy never builds a kernel that ignores part of the
/// IR. Only the scores body, the key/value head and the key loop's upper
/// bound may be anything a strategy can clone.
FailureOr<FusedAttentionTile> matchFusedAttentionTile(scf::ForallOp forall);

/// `op`'s rows as a tensor.generate that reads each element through the
/// block table (what fa-expand-paged-rows replaces the op with).
Value expandPagedRows(OpBuilder &b, PagedRowsOp op);

/// The value of `fa.split_count tiles, blocks max = maxSplits` for a device
/// that runs `slots` blocks at once, as index arithmetic (the rule of
/// include/fa/Runtime/KVSplits.h).
Value buildSplitCountRule(OpBuilder &b, Location loc, Value tiles, Value blocks,
                          int64_t slots, int64_t maxSplits);

/// The combine step of a split-KV tile (an scf.forall marked
/// fa.split_combine, over (batch, head, query tile)), as a GPU strategy
/// reads it: it merges the f32 partial outputs [S, B, Hq, Nq, Dv] and LSEs
/// [S, B, Hq, Nq] of the splits into O and, optionally, the LSE.
struct SplitCombineTile {
  scf::ForallOp forall;
  int64_t blockM = 0;
  Value partialOutput, partialLse;
  Value output, lseOutput;
};

/// Builds the combine of a split tile's results (see the fa-tile-attention
/// pass description) at the builder's insertion point.
scf::ForallOp buildSplitCombine(OpBuilder &b, Location loc, Value partialOutput,
                                Value partialLse, Value output, Value lseOutput,
                                int64_t blockM);

/// Checks that `forall` is the combine buildSplitCombine makes; reports on
/// the op that differs.
FailureOr<SplitCombineTile> matchSplitCombine(scf::ForallOp forall);

/// The three key/value loops of one tile, as produced by tileAttention.
struct UnfusedSoftmaxLoops {
  scf::ForOp rowMax, rowSum, weightedValues;
};

/// Recognizes the three loops starting at `rowMax`; fails (without touching
/// the IR, and saying why in `why` when given) unless they compute the same
/// scores and every other body is the one tileAttention builds.
FailureOr<UnfusedSoftmaxLoops>
matchUnfusedSoftmaxLoops(scf::ForOp rowMax, std::string *why = nullptr);

/// Multiplies the modified score that the element-wise `scores` op yields
/// by log2(e) (the fused loop runs in the log2 domain): after the score_mod,
/// before the final `select(visible, s, -inf)`, folded into a constant
/// multiplication that produces the score when it has no other use.
void scaleScoresToLog2(OpBuilder &builder, linalg::GenericOp scores);

/// Whether `lhs` and `rhs` compute the same: same ops, attributes and
/// types, operands equal, equal constants or mapped by `equivalent` (which
/// the comparison extends), compared as dataflow graphs so that op order,
/// hoisted constants and commutative operand order do not matter.
bool areEquivalentOps(Operation *lhs, Operation *rhs,
                      DenseMap<Value, Value> &equivalent);

/// Whether `op`, a linalg.generic with an `fa.role`, is exactly what the
/// tile passes build for that role from its operands.
bool isCanonicalTileOp(Operation *op);

/// Replaces the three loops by one online-softmax loop (see the
/// fa-fuse-online-softmax pass description). Returns the fused loop.
FailureOr<scf::ForOp> fuseOnlineSoftmax(RewriterBase &rewriter,
                                        UnfusedSoftmaxLoops loops);

/// The default tile sizes of the tiled backward pass, those of the mma.sync
/// kernels: query rows per query block and dQ tile (64 up to D = 64, else
/// 32), keys per dK/dV tile and key block (64 up to D = 128, else 32; with
/// dq=accumulate 128 up to D = 64: each key tile adds to all of dQ, and
/// larger tiles halve those additions). With `wgmma`, those of the
/// hopper-ws fused kernel: 64 queries by 128 keys (two warpgroups) up to
/// D = 128, 128 by 128 at D = 64 (tileAttentionBackward takes 64 queries
/// there for a score_mod whose derivative varies, or another block-n).
AttentionTileSizes getDefaultBackwardTileSizes(int64_t headDim,
                                               bool accumulate = false,
                                               bool wgmma = false);

/// Whether fa-tile-attention-backward's `defaults-for` (mma-sync, hopper-ws
/// or auto) gives `op` the hopper-ws fused kernel's tiles: hopper-ws for
/// every op, auto for f16/bf16 ops with D == Dv <= 128.
bool takesWgmmaBackwardTiles(AttentionBackwardOp op, StringRef defaultsFor);

/// Whether fa-tile-attention-backward with `dq` and `defaultsFor` builds the
/// fused stage for `op` (dQ accumulated in f32): auto accumulates up to D = 64,
/// and up to D = 128 with the wgmma kernel's tiles (the faster on the H200,
/// docs/Backward.md).
bool tilesFusedBackward(AttentionBackwardOp op, BackwardDqChoice dq,
                        StringRef defaultsFor);

/// The default tiles of the query stage (dQ): 64 x 64 up to D = 128, else
/// 32 x 32.
AttentionTileSizes getDefaultBackwardQueryTileSizes(int64_t headDim);

/// How fa-tile-attention-backward tiles: block sizes (0: the defaults) and
/// where dQ is computed.
struct BackwardTilingOptions {
  int64_t blockM = 0, blockN = 0;
  /// Accumulate dQ in f32 in the key/value loop (stage "fused": one pass,
  /// what a GPU strategy turns into atomic adds) instead of in its own,
  /// deterministic stage that recomputes the probabilities.
  bool accumulateQueryGradient = false;
  /// The query stage's tiles (0: blockM / blockN when given, else
  /// getDefaultBackwardQueryTileSizes).
  int64_t queryBlockM = 0, queryBlockN = 0;
  /// Default tiles for the hopper-ws fused kernel (wgmma): see
  /// getDefaultBackwardTileSizes.
  bool wgmmaDefaults = false;
};

/// The stages a tiled fa.attention_backward becomes (see the
/// fa-tile-attention-backward pass description): delta, then either the
/// key_value and query stages, or the fused stage (in `keyValue`; `query`
/// is then null).
struct TiledAttentionBackward {
  scf::ForallOp delta, keyValue, query;
};

/// Replaces `op` with its tiled form. Reports (at `op`'s location) and
/// fails, without touching the IR, when the tile sizes are out of range or
/// the score_mod cannot be differentiated.
FailureOr<TiledAttentionBackward>
tileAttentionBackward(RewriterBase &rewriter, AttentionBackwardOp op,
                      const BackwardTilingOptions &options);

/// One stage of a tiled fa.attention_backward (an scf.forall of
/// tileAttentionBackward), as a GPU strategy reads it.
struct BackwardStageTile {
  /// BackwardTileAttr::delta, keyValue, query (dq=stage) or fused
  /// (dq=accumulate).
  StringRef stage;
  scf::ForallOp forall;
  int64_t blockM = 0, blockN = 0;
  /// The operands the stage reads, defined outside it (null where the
  /// stage reads none): Q, K, V, O, dO, the LSE and delta (the result of
  /// the delta stage). The delta stage does not read Q: its `query` is the
  /// tensor whose rows its tiles count (Q, or dO).
  Value query, key, value, output, gradOutput, lse, delta;
  /// What the stage writes (its shared outputs): delta; dK and dV; dQ; or
  /// (fused) dK, dV and dQ.
  SmallVector<Value> results;
  /// key_value and query: the tile as the scores body sees it. `kvLoop` is
  /// the streamed loop (query blocks, or key blocks), `rowStart` and `rows`
  /// the tile's first row and extent along the forall's tiles (keys for
  /// key_value, queries for query), `kvHead` the key/value head, `scores`
  /// the scores op (two results with a score_mod: the score and its
  /// derivative), `captures` the tensors its body reads.
  FusedAttentionTile scores;
  /// key_value: the loop over the query heads of the key/value head, and
  /// the query head (computed in it) whose Q, dO, LSE and delta the query
  /// blocks read.
  scf::ForOp headLoop;
  Value queryHead;
  /// The factor of the stored gradient (dQ for query, dK for key_value and
  /// fused).
  double gradientScale = 1.0;
  /// fused: the serial loop over key tiles (steps of block_n from 0 to Nk)
  /// whose iterations a GPU strategy runs in parallel, adding to dQ in f32;
  /// the factor of the stored dQ.
  scf::ForOp keyTiles;
  double queryGradientScale = 1.0;
};

/// Checks that `forall` is a stage of tileAttentionBackward and returns its
/// parts; reports (on the offending op) whatever differs
/// from what the tiling builds. Only the scores body and the index values it
/// uses may be anything a strategy can clone.
FailureOr<BackwardStageTile> matchBackwardStageTile(scf::ForallOp forall);

} // namespace mlir::fa

#endif // FA_DIALECT_FA_TRANSFORMS_TRANSFORMS_H
