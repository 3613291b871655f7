//===- MmaSyncKernelEmitter.h - The mma.sync kernel emitter -----*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The emitter of the `mma-sync` strategy's kernel (see
// MmaSyncAttentionKernel.cpp for the schedule): its fragment and address
// helpers, shared by the key loop (MmaSyncAttentionKernel.cpp) and the
// cp.async copies into swizzled shared memory (MmaSyncCopies.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_MMASYNCKERNELEMITTER_H
#define FA_LIB_CONVERSION_FATOGPU_MMASYNCKERNELEMITTER_H

#include "BlockClassifier.h"
#include "MmaSyncFragments.h"
#include "RegisterSoftmax.h"
#include "ScoreCloner.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <array>
#include <map>
#include <memory>

namespace mlir::fa::detail {

/// Per-thread state of the online softmax for one 16-row MMA tile: rows
/// `g` and `g + 8` of the tile, where g = lane / 4.
struct OnlineSoftmaxState {
  SmallVector<Value> acc; // Dv / 8 accumulators, vector<2x2xf32>
  SoftmaxRowState rows[2];
};

class MmaSyncKernelEmitter : public MmaSyncFragments {
public:
  MmaSyncKernelEmitter(ImplicitLocOpBuilder &b, const AttentionKernelSpec &spec,
                       const MmaSyncConfig &config,
                       const ScoreFunction &function)
      : MmaSyncFragments(b, spec.getElementType()), spec(spec), config(config),
        function(function), tile(function.getTile()),
        headDim(spec.getHeadDim()), rowTiles(config.rowTilesPerWarp()),
        keySlice(config.keySlice()),
        scoreScale(static_cast<float>(function.getKeptScale())),
        fixedMax(function.getFixedMax(spec.getElementType())) {}

  void emit(gpu::GPUFuncOp func);

private:
  /// Issues cp.async copies of rows [rowStart, rowStart + rows) of
  /// src[batch, head, :, :] into the swizzled tile of `rows` x `cols`
  /// elements at element `dstOffset` of the flat shared buffer `dst`.
  /// Rows at or past `rowLimit` are zero-filled and read nothing; rowStart
  /// must be below it. `packed`: the rows of a packed GQA tile.
  void copyTileAsync(Value src, Value batch, Value head, Value rowStart,
                     Value rowLimit, Value dst, Value dstOffset, int64_t rows,
                     int64_t cols, const PackedRows &packed = {});
  /// Copies rows [kvStart, kvStart + blockN) of the tile's K (or V) into
  /// `dst` at `dstOffset`: a slice of the operand, or for a paged tile
  /// (`lookup` non-null) rows read through the block table.
  void copyKeyBlockAsync(Value src, Value kvStart, Value dst, Value dstOffset,
                         int64_t cols, PagedBlockLookup *lookup);

  /// Whether each key block re-reads %tid.x (readThreadIdInLoop) and
  /// derives every per-thread index and address from it: in the kernels
  /// that re-read Q from shared memory, the tightest for registers (32 rows
  /// per warp at D = 128). Otherwise LLVM hoists each per-thread address
  /// variant out of the key loop (one per k-step and row tile for the Q
  /// fragments, one per copy for cp.async, one per row for the causal
  /// bound), and each then holds a register across the whole loop; derived
  /// from an opaque per-block thread index they are recomputed in the loop,
  /// where the constant parts fold into immediate offsets. With Q in
  /// registers LLVM's hoisting is left alone: there ptxas allocated better
  /// without (CUDA 13 ptxas, `check_ptxas.py` over the default kernels,
  /// 2026-11-21). Kernels with key-split warps re-read it too (measured so:
  /// 128 registers for the key loop at D = 128, 16 x 64).
  bool rematerializeThreadIndices() const {
    return !config.queryInRegisters || config.keyWarps > 1;
  }

  /// This lane's element offset in qFlat for the A fragments of the 16 Q
  /// rows from `rowBase`.
  Value queryFragmentBase(Value rowBase) {
    return rowFragmentBase(rowBase, headDim);
  }
  /// The A fragment of k-step `k` of the 16 rows `rowStep` (a multiple of
  /// 8) below those of `base`.
  Value loadQueryFragment(Value base, int64_t k, int64_t rowStep) {
    return loadRowFragment(qFlat, base, headDim, k, rowStep);
  }
  /// Loads the A fragments of the 16 Q rows from `rowBase` (all k-steps).
  SmallVector<Value> loadRowFragments(Value rowBase) {
    Value base = queryFragmentBase(rowBase);
    SmallVector<Value> fragments;
    for (int64_t k = 0; k < headDim / 16; ++k)
      fragments.push_back(loadQueryFragment(base, k, 0));
    return fragments;
  }
  /// The Q fragment of row tile `m`, k-step `k`: from registers, or
  /// re-read from shared memory (once per block and k-step).
  Value queryFragment(int64_t m, int64_t k) {
    if (config.queryInRegisters)
      return queryFragments[m][k];
    Value &cached = reloadedQuery[{m, k}];
    if (!cached) {
      // One base per block for all row tiles and k-steps: the row tiles
      // are 16 rows apart (the same swizzle phase).
      if (!reloadedQueryBase)
        reloadedQueryBase = queryFragmentBase(warpRowBase(0));
      cached = loadQueryFragment(reloadedQueryBase, k, 16 * m);
    }
    return cached;
  }
  /// The warp's place among the rows (within its key group) and its key
  /// group: warp = keyGroup * rowWarps + rowWarp.
  Value rowWarpOf(Value warpIndex) {
    return config.keyWarps > 1 ? rem(warpIndex, idx(config.rowWarps()))
                               : warpIndex;
  }
  Value keyGroupOf(Value warpIndex) {
    return div(warpIndex, idx(config.rowWarps()));
  }
  /// First row of row tile `m` of this warp, within the block's tile.
  Value warpRowBase(int64_t m) {
    return add(mul(rowWarpOf(warp), idx(16 * rowTiles)), idx(16 * m));
  }
  /// Global query row of this thread's accumulator rows g (and g + 8) in
  /// row tile `m`.
  Value threadRow(int64_t m) {
    return add(rowStart, add(warpRowBase(m), groupId));
  }

  /// The number of key columns from kvStart + 2 * threadInGroup that hold
  /// keys (the rest of the block is padding past the last key), clamped to
  /// [0, keySlice]: element (n, e) of this thread's scores is padding when
  /// 8 * n + e >= it, one compare with a constant per score (as i32), or
  /// the upper bound of the row's interval (TileCloner::visibleColumns).
  Value keysInSlice(Value kvStart) {
    Value first = add(kvStart, localColBase());
    Value limit = sub(kvLength, first);
    return minS(maxS(limit, idx(0)), idx(keySlice));
  }

  /// Issues the cp.async copies of the K and V block `block` into its ring
  /// slot, unless it is past the tile's blocks or invisible to the tile.
  void prefetch(Value block);

  /// The local row (within the tile) of this thread's first fragment row:
  /// fragment row 2m + h (row tile m; row g, or g + 8 when h = 1) is
  /// 16m + 8h below it. From the entry's thread indices or the current
  /// ones.
  Value localRowBase(bool inLoop) {
    Value warpIndex = inLoop ? warp : entry.warp;
    Value group = inLoop ? groupId : entry.groupId;
    return add(mul(rowWarpOf(warpIndex), idx(16 * rowTiles)), group);
  }
  /// The key column (within the block) of this thread's first fragment
  /// column: column 2n + e (n-tile n, element e) is 8n + e after it. A key
  /// group's columns start at its slice.
  Value localColBase() {
    Value column = mul(threadInGroup, idx(2));
    if (config.keyWarps > 1)
      column = add(mul(keyGroupOf(warp), idx(keySlice)), column);
    return column;
  }
  /// The element offset of this warp's key slice in a ring slot of rows of
  /// `rowLength` elements (slices are whole swizzle periods of rows).
  Value keySliceOffset(int64_t rowLength) {
    if (config.keyWarps == 1)
      return idx(0);
    return mul(keyGroupOf(warp), idx(keySlice * rowLength));
  }

  /// One key/value block: the pipeline bookkeeping, then the unmasked
  /// computation for blocks in [fullLo, fullHi), else the masked one (for
  /// a block that may be visible).
  void emitBlock(SmallVectorImpl<OnlineSoftmaxState> &states, Value block);
  /// The computation of one block: scores, (mask), online softmax, P V.
  void emitBlockCompute(SmallVectorImpl<OnlineSoftmaxState> &states,
                        Value block, bool masked);
  /// `emit(states)` under `condition`, with the states as the results.
  void emitGuarded(
      SmallVectorImpl<OnlineSoftmaxState> &states, Value condition,
      function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> thenEmit,
      function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> elseEmit);

  SmallVector<Value> packState(ArrayRef<OnlineSoftmaxState> states);
  SmallVector<OnlineSoftmaxState> unpackState(ValueRange values);

  /// Emits the scf.for over the tile's key blocks [lo, hi).
  void emitBlockLoop(SmallVectorImpl<OnlineSoftmaxState> &states);

  void emitEpilogue(ArrayRef<OnlineSoftmaxState> states);
  /// Key-split warps: merges every key group's softmax state into the first
  /// group's through shared memory (each group saw a slice of every block:
  /// the maxima, then the sums and accumulators rescaled to the largest).
  /// The other groups' states are meaningless afterwards.
  void mergeKeyGroups(SmallVectorImpl<OnlineSoftmaxState> &states);

  const AttentionKernelSpec &spec;
  const MmaSyncConfig &config;
  const ScoreFunction &function;
  FusedAttentionTile tile;
  int64_t headDim, rowTiles;
  /// Keys of a block this warp's key group computes (block-n without
  /// key-split warps).
  int64_t keySlice;
  /// The positive factor of the kept score the softmax folds into its FMA.
  float scoreScale;
  /// The softmax's fixed maximum, if the scores are bounded
  /// (ScoreFunction::getFixedMax): no row maximum, no rescaling.
  std::optional<double> fixedMax;
  /// Whether the rows carry the exact sum beside the rounded one
  /// (SoftmaxRowState::exactSum): a fixed maximum and an LSE output.
  bool keepsExactSum() const { return fixedMax && spec.lseType; }
  std::unique_ptr<TileCloner> cloner;
  std::unique_ptr<BlockClassifier> classifier;

  // Values of the kernel body.
  Value query, key, value, output, lse;
  struct {
    Value warp, groupId;
  } entry; // the thread indices at the kernel entry
  Value batch, head, kvHead, rowStart, qLength, kvLength;
  /// The split of a split-KV tile (null otherwise).
  Value split;
  /// Of a packed GQA tile (whose `head` is a key/value head): its first
  /// query head (head * G) and its positions per head; null otherwise.
  Value firstHead, positions;
  /// Of a paged tile: where its sequence's K and V rows are (the block
  /// table is null otherwise).
  PagedSource pages;
  BlockRanges ranges;
  Value qFlat, kRing, vRing; // shared memory: Q tile, K and V rings
  SmallVector<SmallVector<Value>> queryFragments;    // [rowTile][kStep]
  SmallVector<SmallVector<Value>> pFragmentsPerTile; // [rowTile][keyStep]
  std::map<std::pair<int64_t, int64_t>, Value> reloadedQuery;
  Value reloadedQueryBase; // this block's, when Q is re-read
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_MMASYNCKERNELEMITTER_H
