//===- HopperKernelEmitter.h - The wgmma kernel emitter ---------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The emitter of the `hopper-ws` strategy's kernel (see
// HopperAttentionKernel.cpp for the schedule), shared by the consumers' key
// loop (HopperAttentionKernel.cpp) and the producer's TMA loads into the
// mbarrier ring (HopperProducer.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H
#define FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H

#include "BlockClassifier.h"
#include "KernelGrid.h"
#include "RegisterSoftmax.h"
#include "ScoreCloner.h"
#include "Wgmma.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <functional>
#include <memory>

namespace mlir::fa::detail {

/// Per-thread state of one consumer warpgroup's rows: rows g and g + 8 of
/// the thread's warp, and the O accumulator (Dv / 2 f32).
struct HopperState {
  SmallVector<Value> acc;
  SoftmaxRowState rows[2];
  /// The probabilities of the last computed block as A fragments (block-n
  /// / 4 registers of two 16-bit values), whose P V is still to be issued.
  SmallVector<Value> pending;
  /// Blocks computed so far: the ring stage and barrier phase of the next.
  Value computed;
};

class HopperKernelEmitter {
public:
  HopperKernelEmitter(ImplicitLocOpBuilder &b, const AttentionKernelSpec &spec,
                      const HopperConfig &config, const ScoreFunction &function)
      : b(b), spec(spec), config(config), function(function),
        tile(function.getTile()), elementType(spec.getElementType()),
        headDim(spec.getHeadDim()), valueDim(spec.getValueHeadDim()),
        scoreScale(static_cast<float>(function.getKeptScale())),
        fixedMax(function.getFixedMax(spec.getElementType())) {}

  void emit(gpu::GPUFuncOp func);

private:
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value i32(int32_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  }
  Value add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(x, y); }
  Value sub(Value x, Value y) { return b.createOrFold<arith::SubIOp>(x, y); }
  Value mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(x, y); }
  Value div(Value x, Value y) { return b.createOrFold<arith::DivUIOp>(x, y); }
  Value rem(Value x, Value y) { return b.createOrFold<arith::RemUIOp>(x, y); }
  Value minS(Value x, Value y) { return b.createOrFold<arith::MinSIOp>(x, y); }
  Value maxS(Value x, Value y) { return b.createOrFold<arith::MaxSIOp>(x, y); }
  Value lt(Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, x, y);
  }
  Value ceilDiv(Value x, Value y) {
    return b.createOrFold<arith::CeilDivUIOp>(x, y);
  }

  /// mbarrier `index` (HopperConfig::barriers: 0 Q loaded, 1 + s K of
  /// stage s loaded, 1 + stages + s V loaded, 1 + 2 stages + s K of stage
  /// s released, 1 + 3 stages + s V released, 1 + 4 stages Q released,
  /// 2 + 4 stages "V tail staged" of a variable-length tile, then Q loaded
  /// and Q released of the second Q slot) as a shared-memory pointer.
  Value barrier(Value index);
  Value barrier(int64_t index) { return barrier(idx(index)); }
  /// "Q loaded" and "Q released" of the current tile's Q slot (querySlot).
  Value qLoaded() { return barrier(querySlotBarrier(0)); }
  Value kLoaded(Value slot) { return barrier(add(slot, idx(1))); }
  Value vLoaded(Value slot) {
    return barrier(add(slot, idx(1 + config.stages)));
  }
  Value kReleased(Value slot) {
    return barrier(add(slot, idx(1 + 2 * config.stages)));
  }
  Value vReleased(Value slot) {
    return barrier(add(slot, idx(1 + 3 * config.stages)));
  }
  Value qReleased() { return barrier(querySlotBarrier(1 + 4 * config.stages)); }
  /// The index of Q slot querySlot's barrier whose slot-0 index is
  /// `first` (0: Q loaded, 1 + 4 stages: Q released).
  Value querySlotBarrier(int64_t first) {
    int64_t second = 2 + 4 * config.stages +
                     (config.zeroesValueTails() ? 1 : 0) + (first == 0 ? 0 : 1);
    return add(idx(first), mul(querySlot, idx(second - first)));
  }
  /// Selects the Q slot of the `tiles`-th tile of a persistent block
  /// (i32) as querySlot.
  void selectQuerySlot(Value tiles);
  /// The consumers' qDesc: this warpgroup's Q rows in querySlot.
  void selectQueryDescriptor();
  /// Variable-length and paged tiles: the last block's V, loaded for the
  /// producer.
  Value vTailStaged() { return barrier(2 + 4 * config.stages); }
  /// Whether the rows carry the exact sum beside the rounded one
  /// (SoftmaxRowState::exactSum): a fixed maximum and an LSE output.
  bool keepsExactSum() const { return fixedMax && spec.lseType; }
  /// Whether the consumer warpgroups take turns issuing their MMAs.
  bool pingPong() const { return config.warpgroups() > 1; }
  /// The named barrier (1 + w) on which consumer warpgroup w waits for its
  /// turn, as an i32.
  Value turnBarrier(Value consumer) {
    return arith::IndexCastOp::create(b, b.getI32Type(), add(consumer, idx(1)));
  }
  /// Waits until the phase of `bar` with parity `parity` (index) completed.
  void waitBarrier(Value bar, Value parity);
  /// One thread initializes the barriers; the block waits for it.
  void initBarriers();
  /// Expects the bytes of a `rows` x `cols` tile on `bar` and issues its
  /// TMA loads (one per 64-column slab) of rows [row, row + rows) of
  /// map[batch, head] (of a packed [T, H, D] map: rows of head `head`,
  /// `row` absolute) into the slab tile at byte `dstOffset` of shared
  /// memory; rows past the tensor are zero-filled. One thread.
  void loadTile(Value map, Value bar, Value batch, Value head, Value row,
                int64_t dstOffset, Value dstSlotOffset, int64_t rows,
                int64_t cols);
  /// Emits its loads in the producer's leader thread (an scf.if).
  using LeaderEmitter = std::function<void(function_ref<void()>)>;
  /// loadTile of the key block of K or V (`map`, of the tensor `cache`;
  /// `cols` columns) at `kvStart` of the current tile's sequence: of a
  /// packed tensor at the sequence's rows, of a paged cache through the
  /// block table (gathered from `cache` with cp.async, or by TMA), in pieces
  /// that each lie in one page, none from the sequence's end on, at the
  /// pages loadBlockPages read into `pages`. The producer's threads; the
  /// leader issues TMA loads.
  void loadKeyRows(Value map, Value cache, Value bar, Value kvStart,
                   int64_t dstOffset, Value dstSlotOffset, int64_t cols,
                   Value pages, const LeaderEmitter &asLeader);
  /// loadKeyRows of gathered pages (HopperConfig::gathersPages): the
  /// producer warpgroup copies the block's rows of the pool `cache` with
  /// cp.async, zero-filling those from the sequence's end on, and each
  /// thread arrives on `bar` once its copies landed.
  void gatherKeyRows(Value cache, Value bar, Value kvStart, int64_t dstOffset,
                     Value dstSlotOffset, int64_t cols, Value pages);
  /// Of gathered pages, the producer threads that copy one piece
  /// (gatherKeyRows).
  int64_t lanesPerPiece() const;
  /// The thread's index among the producer's (HopperConfig::
  /// producerThreads), and whether it is the first, which issues the TMA
  /// loads and publishes tiles.
  Value producerLane();
  Value isProducerLeader();
  /// Of a paged tile, the pages of the key block at `kvStart`, one piece's
  /// (kvLoadRows()) in each lane (i32): lane l holds piece l's (of
  /// gathered pages producer thread t piece t / lanesPerPiece()'s), the
  /// lanes past the last piece with keys that one's. The producer's
  /// threads; the block holds keys.
  Value loadBlockPages(Value kvStart);
  /// The coordinates, scores-body cloner and key blocks of a tile.
  void beginTile(const TileCoordinates &coordinates);
  /// Erases the tile's prologue placeholder.
  void endTile();
  /// Word `word` of the tile slot of the `tiles`-th tile (i32): the slots
  /// by which the producer tells the consumers which tile comes next (tile
  /// index, head, batch; a negative index: none).
  Value tileSlot(Value tiles, int64_t word);
  /// The producer warp's loop over the block's tiles
  /// (emitPersistentTileLoop): per tile, once the consumers released the
  /// previous Q, the tile's slot and its Q (both published by "Q loaded"),
  /// then its K and V blocks; at the end, a slot that says no tile is
  /// left.
  void emitProducerTiles();
  /// The current tile's Q into its slot (querySlot), arriving on its "Q
  /// loaded" (one thread).
  void loadQ();
  /// The tiles of a variable-length kernel's persistent loop: the query
  /// tiles of its longest sequence (read from the offsets by the producer
  /// warp), its heads and sequences.
  TileSpace getVarlenTileSpace();
  /// The consumers' loop: wait for "Q loaded", read the slot, compute the
  /// tile, until the slot says no tile is left.
  void emitConsumerTiles();
  /// The K and V of every block the consumers compute in the current tile,
  /// into the ring, each stage once they released it. `counts` (i32: the
  /// producer is short of registers; producerCounts()) are the blocks
  /// loaded so far and, for a variable-length or paged tile, the tails
  /// staged (see loadValues); returns the new counts.
  SmallVector<Value> emitProducer(ValueRange counts);
  SmallVector<Value> producerCounts() {
    if (config.zeroesValueTails())
      return {i32(0), i32(0)};
    return {i32(0)};
  }
  /// Loads the V of the block at `kvStart` into ring slot `slot` and
  /// signals "V loaded" of the slot; for a variable-length or paged tile's last
  /// block (the sequence ends inside it), zeroes the slot's rows past the
  /// sequence first, staging the load on "V tail staged", which `tails`
  /// such blocks used before (returns the new count; null for fixed-length
  /// tiles). The whole warp.
  Value loadValues(Value kvStart, Value slot, Value pages,
                   const LeaderEmitter &asLeader, Value tails);
  /// Of gathered pages (HopperConfig::gathersPages), once a consumer saw
  /// them loaded: makes the cp.async writes visible to its wgmma.
  void fenceGatheredPages();
  /// Whether the consumers compute `block` (unmasked, or masked and maybe
  /// visible; only with a classification predicate), as producer and
  /// consumers decide alike; `unmasked` is BlockRanges::isUnmasked of it.
  Value computes(Value block, Value unmasked);

  // The consumers (HopperConsumer.cpp).

  /// The ring stage of the i-th computed block and the phase parity of
  /// its barriers.
  struct Stage {
    Value slot, parity;
  };
  /// One block's softmax: the probabilities (in the S accumulator layout),
  /// the rows' new state and the factors that rescale O.
  struct BlockSoftmax {
    SmallVector<Value> probabilities;
    SoftmaxRowState rows[2];
    Value alpha[2];
  };
  SmallVector<Value> packState(const HopperState &state);
  /// The probabilities (S accumulator layout) as P V's A fragments.
  SmallVector<Value> packProbabilities(ArrayRef<Value> probabilities);
  HopperState unpackState(ValueRange values);
  HopperState initialState(Value computed);
  /// `state` through an scf.if on `condition`: each branch emits on a copy
  /// (null: unchanged), the results become the state.
  void emitGuarded(HopperState &state, Value condition,
                   function_ref<void(HopperState &)> thenEmit,
                   function_ref<void(HopperState &)> elseEmit);
  Stage getStage(Value computed);
  /// The descriptor of ring slot `slot` of the ring starting at `base`.
  Value slotDescriptor(Value base, Value slot, int64_t slotBytes);
  /// The warpgroup's first thread arrives on `bar`.
  void releaseStage(Value bar);
  /// Every consumer thread arrives on "Q released".
  void releaseQuery();
  /// Ping-pong: wait for this warpgroup's turn to issue, and hand the turn
  /// to the next one (no-ops with one consumer warpgroup).
  void waitTurn();
  void passTurn();
  /// Waits for K of `stage`, then issues and commits S = Q K^T.
  SmallVector<Value> issueScores(const Stage &stage);
  /// S = Q K^T with nothing else in flight: issues it, passes the turn,
  /// waits for it and releases K of `stage`.
  SmallVector<Value> computeScores(const Stage &stage);
  /// Waits for V of `stage`, then issues and commits O += P V with the
  /// pending P.
  void issueValues(HopperState &state, const Stage &stage);
  /// Waits for every issued MMA and releases V of `stage`.
  void finishValues(HopperState &state, const Stage &stage);
  /// The scores body and online softmax of one block's S fragment.
  BlockSoftmax emitSoftmax(ArrayRef<Value> scores, Value block, bool masked,
                           const HopperState &state);
  /// The same, unmasked where `unmasked` holds and masked elsewhere.
  BlockSoftmax emitSoftmaxBranches(ArrayRef<Value> scores, Value block,
                                   Value unmasked, const HopperState &state);
  /// The rows' new state and the pending P from `softmax`; O *= alpha
  /// when `rescale` (O must not be in flight).
  void takeSoftmax(HopperState &state, const BlockSoftmax &softmax,
                   bool rescale);
  void emitFirstBlock(HopperState &state, Value block);
  void emitOverlappedBlock(HopperState &state, Value block, Value unmasked);
  /// The first block the consumers compute, or the loop's end.
  Value findFirstComputedBlock();
  /// A block after the first computed one: skipped, or computed overlapped.
  void emitBlock(HopperState &state, Value block);
  /// A block without the overlap: S, its softmax, then its P V.
  void emitSerialBlock(HopperState &state, Value block, Value unmasked);
  /// The loop over the key blocks [lo, ranges.hi).
  void emitLoop(HopperState &state, Value lo);
  /// The P V of the last computed block.
  void emitLastValues(HopperState &state);
  /// The consumers' tile: the first computed block, the key loop, the
  /// last P V and the epilogue; Q is released once its last S = Q K^T is
  /// done. `computed` counts the blocks computed before; returns the new
  /// count.
  Value emitConsumer(Value computed);
  /// O / l and the LSE of the warpgroup's rows (HopperEpilogue.cpp): from
  /// the registers, or staged through shared memory
  /// (HopperConfig::outputStaging).
  void emitEpilogue(const HopperState &state);
  /// The staged epilogue: the warpgroup's normalized rows into its rows of
  /// the staging tile, then 16-byte pieces of whole rows to O.
  void emitStagedEpilogue(const HopperState &state);
  /// Synchronizes the threads of this consumer warpgroup (named barrier
  /// 1 + warpgroups + w; the turns take 1 to warpgroups).
  void syncWarpgroup();
  /// With config.storesOutputWithTma(): the warpgroup's storing thread (its
  /// first) waits until its TMA stores have read the staging tile (before the
  /// tile is written again, and before the block exits).
  void waitForOutputStores();

  ImplicitLocOpBuilder &b;
  const AttentionKernelSpec &spec;
  const HopperConfig &config;
  const ScoreFunction &function;
  FusedAttentionTile tile;
  Type elementType;
  int64_t headDim, valueDim;
  float scoreScale;
  /// The softmax's fixed maximum, if the scores are bounded
  /// (ScoreFunction::getFixedMax): no row maximum, no rescaling of O.
  std::optional<double> fixedMax;
  std::unique_ptr<TileCloner> cloner;
  std::unique_ptr<BlockClassifier> classifier;
  /// Where the scores body's per-tile values are cloned (a placeholder).
  Operation *tilePrologue = nullptr;
  /// Sets batch, head and rowStart again before the epilogue (persistent
  /// consumers: from the tile slot).
  std::function<void()> reloadTile;
  ValueRange arguments;

  Value query, key, value, output, lse;
  Value qMap, kMap, vMap; // TMA tensor maps (kernel parameters)
  Value oMap;             // O's, with config.storesOutputWithTma()
  Value tid, warpgroup, warpInGroup, groupId, threadInGroup;
  Value batch, head, kvHead, rowStart, qLength, kvLength;
  /// A variable-length tile's first rows of its sequence in the packed
  /// Q/O and K/V tensors (null otherwise).
  Value qRowBase, kRowBase;
  /// Whether beginTile issued the tile's Q load already (one tile per
  /// block, before the block table's build), so the producer does not.
  bool qIssued = false;
  /// A variable-length kernel's query offsets (i32 [B + 1]), and the LSE
  /// argument (`lse` is its view of the current tile's sequence).
  Value cuSeqlensQ, lseArgument;
  /// A paged kernel's block table (i32 [B, max_pages]).
  Value blockTable;
  BlockRanges ranges;
  Value smemBase;            // i32 shared address of the aligned tiles
  Value qDesc, kDesc, vDesc; // descriptors of this warpgroup's Q rows
                             // (in the current Q slot) and of slot 0 of
                             // the K and V rings
  Value qSlot0Desc;          // qDesc in Q slot 0
  /// The current tile's Q slot (index; 0 with one slot).
  Value querySlot;
  /// Bytes of all the Q slots (the K ring starts there), and of one.
  int64_t qBytes = 0, qSlotBytes = 0, kSlotBytes = 0, vSlotBytes = 0;
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H
