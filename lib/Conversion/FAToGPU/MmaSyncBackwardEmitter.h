//===- MmaSyncBackwardEmitter.h - The mma.sync backward emitter -*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The emitter of the backward kernels (BackwardKernelConfig.cpp: the
// arguments, threads, shared memory and checks; MmaSyncBackwardKernel.cpp:
// the key_value, query and fused kernels' blocks, the entry point;
// MmaSyncBackwardRows.cpp: the row-wise delta and dq_convert kernels and the
// fused kernel's dQ update; WgmmaBackwardBlock.cpp: the fused kernel's GEMMs as
// warpgroup MMAs), and the tile facts they use.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_MMASYNCBACKWARDEMITTER_H
#define FA_LIB_CONVERSION_FATOGPU_MMASYNCBACKWARDEMITTER_H

#include "MmaSyncFragments.h"
#include "ScoreCloner.h"
#include "Wgmma.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <memory>

namespace mlir::fa::detail {

/// Whether the kernel tiles the keys (key_value, fused): it computes the
/// transposes S^T and dP^T.
inline bool isKeyTiled(const BackwardStageTile &s) {
  return s.stage == BackwardTileAttr::keyValue ||
         s.stage == BackwardTileAttr::fused;
}

/// Whether the kernel is one of the row-wise ones (delta, dq_convert): 128
/// threads over block_m rows, no tensor cores.
inline bool isRowWise(const BackwardStageTile &s) {
  return s.stage == BackwardTileAttr::delta ||
         s.stage == kGradQueryConvertStage;
}

/// Rows of the tile a block computes and rows of a streamed block.
inline std::pair<int64_t, int64_t> getTileShape(const BackwardStageTile &s) {
  if (isKeyTiled(s))
    return {s.blockN, s.blockM};
  return {s.blockM, s.blockN};
}

/// fused: the row pitch, in elements, of dS^T in shared memory ([key]
/// [query], padded by 16 bytes so that both the fragment stores and the
/// transposing ldmatrix of dS are free of bank conflicts).
inline int64_t getGradScoresPitch(const BackwardStageTile &s) {
  return getTileShape(s).second + 8;
}

/// wgmma fused: the columns of dQ a warpgroup computes (the warpgroups of
/// a 64-query M tile split D).
inline int64_t getWgmmaGradQueryColumns(const BackwardStageTile &s,
                                        int64_t headDim) {
  auto [tileRows, streamRows] = getTileShape(s);
  // Tiles the wgmma kernel refuses (verifyWgmmaBackward) count one split.
  int64_t mTiles = std::max<int64_t>(streamRows / 64, 1);
  return headDim / std::max<int64_t>(tileRows / 64 / mTiles, 1);
}

/// wgmma fused: a warp stages its 16 rows of dQ in boxes of 16 rows x 32
/// f32 columns, 128 bytes a row under the 128-byte swizzle, which one TMA
/// tensor reduction (cp.reduce.async.bulk.tensor) adds to the accumulator:
/// the box of the accumulator's tensor map ([32, 16, 1, 1]).
inline constexpr int64_t kGradQueryBoxColumns = 32;
inline constexpr int64_t kGradQueryBoxRows = 16;
inline constexpr int64_t kGradQueryBoxBytes =
    4 * kGradQueryBoxColumns * kGradQueryBoxRows;

/// wgmma fused: where the kernel's shared memory holds what, in bytes from
/// its base aligned to the swizzle period: the K and V tiles and the Q and
/// dO rings (16-bit slabs, from 0), dS^T (one buffer of tile rows x block_m,
/// two with BackwardConfig::singleBarrier), the LSE and delta ring (f32,
/// [stages][2][block_m]), the dQ staging boxes (at a multiple of the swizzle
/// period; one box per 32 columns of each warp's 16 rows), the load
/// barriers (one for the K and V tile, then one per ring slot: in the
/// padding before the boxes where it has room, else after them) and the
/// bytes in all (with room to align the base to the swizzle period).
struct WgmmaBackwardLayout {
  int64_t gradScores, gradScoresBuffers, statistics, gradQueryStaging,
      gradQueryStagingBytes, barriers, total;
};
inline WgmmaBackwardLayout getWgmmaBackwardLayout(const BackwardStageTile &s,
                                                  int64_t headDim,
                                                  const BackwardConfig &c) {
  auto [tileRows, streamRows] = getTileShape(s);
  WgmmaBackwardLayout l;
  l.gradScores = 2 * 2 * headDim * (tileRows + c.stages * streamRows);
  l.gradScoresBuffers = c.singleBarrier ? 2 : 1;
  l.statistics = l.gradScores + l.gradScoresBuffers * 2 * tileRows * streamRows;
  int64_t statisticsEnd = l.statistics + 4 * 2 * c.stages * streamRows;
  l.gradQueryStaging = llvm::alignTo(statisticsEnd, kSwizzlePeriodBytes);
  l.gradQueryStagingBytes =
      tileRows / 16 * kGradQueryBoxBytes *
      llvm::divideCeil(getWgmmaGradQueryColumns(s, headDim),
                       kGradQueryBoxColumns);
  int64_t stagingEnd = l.gradQueryStaging + l.gradQueryStagingBytes;
  int64_t barrierBytes = 8 * (1 + c.stages);
  l.barriers = l.gradQueryStaging - statisticsEnd >= barrierBytes
                   ? statisticsEnd
                   : stagingEnd;
  l.total =
      std::max(stagingEnd, l.barriers + barrierBytes) + kSwizzlePeriodBytes;
  return l;
}

/// fused: dQ of a streamed block is computed in units of 16 rows x this
/// many columns (the widest of 64, 32, 16 whose accumulators fit beside the
/// key_value kernel's fragments in 192 registers), spread over the warps.
inline int64_t getGradQueryChunk(int64_t otherRegisters) {
  for (int64_t chunk : {64, 32})
    if (otherRegisters + chunk / 2 <= 192)
      return chunk;
  return 16;
}

/// The kernel arguments, in order (BackwardKernelSpec).
enum BackwardArgument : unsigned {
  kQuery,
  kKey,
  kValue,
  kOutput,
  kGradOutput,
  kLse,
  kDelta,
  kGradQueryAccumulator,
  kGradQuery,
  kGradKey,
  kGradValue,
  kFirstCapture
};

class BackwardEmitter : public MmaSyncFragments {
public:
  BackwardEmitter(ImplicitLocOpBuilder &b, const BackwardStageTile &stage,
                  const BackwardKernelSpec &spec, ArrayRef<Value> captures,
                  const BackwardConfig &config, const ScoreFunction *function)
      : MmaSyncFragments(b, spec.query.getElementType()), stage(stage),
        spec(spec), captures(captures), config(config), function(function),
        headDim(spec.query.getShape()[3]), transposed(isKeyTiled(stage)),
        fused(stage.stage == BackwardTileAttr::fused) {
    std::tie(tileRows, streamRows) = getTileShape(stage);
  }

  void emitDelta(gpu::GPUFuncOp func);
  void emitConvert(gpu::GPUFuncOp func);
  void setVectorReductions(bool enable) { vectorReductions = enable; }
  /// The kernel entry: arguments, thread and block indices (tile x, head
  /// y, batch z), Nq, and the first row of a tile of `rows` rows.
  void bindTile(gpu::GPUFuncOp func, int64_t rows);
  void emitGradients(gpu::GPUFuncOp func);

private:
  Value f32(double v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  /// Argument `index` (BackwardArgument); the dQ accumulator is only in
  /// the list of a dq=accumulate backward.
  Value arg(unsigned index) {
    bool accumulates = static_cast<bool>(spec.gradQueryAccumulator);
    assert((accumulates || index != kGradQueryAccumulator) &&
           "no dQ accumulator");
    return arguments[index > kGradQueryAccumulator && !accumulates ? index - 1
                                                                   : index];
  }
  /// cp.async of rows [start, start + rows) of src[batch, head] (rows at or
  /// past `limit` zero-filled) into the swizzled tile at `dstOffset`.
  void copyRows(Value src, Value head, Value start, Value limit, Value dst,
                Value dstOffset, int64_t rows);
  /// (lse == -inf ? 0 : lse) * log2 e and delta of row `row` (clamped into
  /// the tensors) of query head `head`.
  std::pair<Value, Value> loadRowStatistics(Value head, Value row);

  /// The streamed block of iteration `it` of the flattened loop: its first
  /// row and, for key_value, the index of the outer loop.
  std::pair<Value, Value> blockOf(Value it);
  /// Issues the copies of iteration `it` into its ring slot (nothing past
  /// the last iteration).
  void prefetch(Value it);
  /// The computation of one streamed block; `accs` are the gradient
  /// accumulators (dQ; or dK then dV), each headDim / 8 tiles.
  void emitBlock(Value it, SmallVectorImpl<Value> &accs);
  /// The LSE (times log2 e; 0 for a row with nothing visible) and delta of
  /// this thread's accumulator columns 2n + e (the streamed rows of a
  /// transposed kernel; none for the query stage, which has rowLse and
  /// rowDelta): those asked for.
  void loadColumnStatistics(Value start, Value streamHead, Value slot, bool lse,
                            bool delta, SmallVectorImpl<Value> &colLse,
                            SmallVectorImpl<Value> &colDelta);
  /// P (or P^T) of a block per accumulator element, from S (or S^T) as 2x2
  /// accumulator tiles: the scores body, the masks and padding, the LSE.
  void emitProbabilities(Value start, ArrayRef<Value> colLse,
                         ArrayRef<Value> scores,
                         SmallVectorImpl<SmallVector<Value, 4>> &probs);
  /// dS (or dS^T) per element from P, dP and delta, times the score_mod's
  /// derivative at the score.
  void emitScoreGradients(ArrayRef<Value> colDelta, ArrayRef<Value> scores,
                          ArrayRef<SmallVector<Value, 4>> probs,
                          ArrayRef<Value> gradProbs,
                          SmallVectorImpl<SmallVector<Value, 4>> &grads);

  // The wgmma fused kernel (WgmmaBackwardBlock.cpp). Shared memory holds
  // every operand as 128-byte-swizzled slabs (Wgmma.h) from a 1024-byte
  // aligned base; the accumulators are the wgmma registers, flat.
  /// The element offset of 16-byte chunk `chunk` of row `row` in a slab
  /// tile of `rows` rows.
  Value slabOffset(Value row, Value chunk, int64_t rows);
  /// S^T = K Q^T and dP^T = V dO^T of ring slot `slot`: this warpgroup's
  /// 64 keys by block_m queries. S^T is complete, as 2x2 accumulator
  /// tiles; dP^T is the flat registers of an MMA still in flight.
  std::pair<SmallVector<Value>, SmallVector<Value>>
  emitWgmmaProducts(Value slot);
  /// One streamed block: the products, P^T, dV += P^T dO while dS^T is
  /// computed, then emitWgmmaGradients (accs: dK then dV, flat).
  void emitWgmmaBlock(Value start, Value streamHead, Value slot,
                      SmallVectorImpl<Value> &accs);
  /// dK += dS^T Q, dS^T through shared memory, dQ[block] = dS K added to
  /// the f32 accumulator; waits for every MMA, the in-flight dV
  /// (`gradValueInFlight`) too, and keeps the A fragments (P^T, dS^T)
  /// live until then.
  void emitWgmmaGradients(ArrayRef<SmallVector<Value, 4>> grads,
                          std::pair<ArrayRef<Value>, ArrayRef<Value>> fragments,
                          Value slot, Value start, Value streamHead,
                          ArrayRef<Value> gradValueInFlight,
                          SmallVectorImpl<Value> &accs);
  /// The mbarrier of the K and V tile's loads (`slot` null) or of ring
  /// slot `slot`'s Q, dO (TMA) and LSE and delta (cp.async, each copying
  /// thread arrives once its copies are complete).
  Value loadBarrier(Value slot);
  /// Thread 0 initializes the load barriers; then a block-wide barrier.
  void initLoadBarriers();
  /// Thread 0 arrives on the load barrier of ring slot `slot` (null: of
  /// the K and V tile) with the bytes of `tiles` and issues their TMA
  /// loads: rows [row, row + rows) of head `head` through each map into the
  /// slabs at its byte offset of the aligned shared memory (plus the slot's
  /// offset in its ring).
  void loadTilesTma(Value slot, ArrayRef<std::pair<Value, int64_t>> tiles,
                    Value head, Value row, int64_t rows);
  /// cp.async of the LSE and delta of rows [start, start + block_m) of query
  /// head `streamHead` (0 past Nq) into ring slot `slot` of `statistics`,
  /// tracked by the slot's load barrier.
  void prefetchStatistics(Value streamHead, Value start, Value slot);
  /// Adds this warp's 16 rows x `cols` columns of dQ (`acc`, flat wgmma
  /// registers; rows `firstRow` + 0..15, columns from `firstCol`) to the
  /// f32 accumulator of head `accHead`: staged in shared memory as boxes of
  /// its tensor map, one TMA tensor reduction per box (rows past Nq are out
  /// of the map's bounds: TMA skips them).
  void addRowsTensor(ArrayRef<Value> acc, Value accHead, Value firstRow,
                     Value firstCol, int64_t cols);
  /// A matrix descriptor of the 128-byte-swizzled operand at byte `offset`
  /// of the aligned shared memory, with leading byte offset `leading`.
  Value wgmmaDescriptor(Value offset, int64_t leading);
  /// Issues acc += A^T B as one commit group of RS warpgroup MMAs: A the
  /// packed P^T or dS^T `fragments`, B ring slot `slot` of the ring at
  /// `ringBytes` read N-major (dV += P^T dO, dK += dS^T Q); returns the
  /// accumulators, in flight.
  SmallVector<Value> accumulateRingProduct(ArrayRef<Value> acc,
                                           ArrayRef<Value> fragments,
                                           int64_t ringBytes, Value slot);
  void emitStores(ArrayRef<Value> accs);
  /// fused: dQ[block rows] += dS K for the streamed block at `start` of
  /// query head `streamHead`, with `grads` the block's dS^T per element.
  void emitGradQueryUpdate(ArrayRef<SmallVector<Value, 4>> grads, Value start,
                           Value streamHead);
  /// Calls `body(i)` for i in [0, count) spread over the block's threads:
  /// i = tid, tid + threads, ...
  void forEachThreadItem(int64_t count, function_ref<void(Value)> body);
  /// sm_90: adds the accumulators `acc` (n-tiles of 8 columns from
  /// `firstCol`, rows `firstRow` and + 8) to the f32 accumulator of head
  /// `accHead` with one red.global.add.v4.f32 per n-tile and thread, the
  /// halves of a row gathered by a shuffle; rows past Nq are skipped.
  void addRowQuads(ArrayRef<Value> acc, Value accumulator, Value accHead,
                   Value firstRow, Value firstCol);
  /// The global address (i64) of (batch, `head`, `row`, `col`) of the f32
  /// accumulator.
  Value accumulatorAddress(Value accumulator, Value head, Value row, Value col);

  const BackwardStageTile &stage;
  const BackwardKernelSpec &spec;
  ArrayRef<Value> captures;
  const BackwardConfig &config;
  const ScoreFunction *function;
  int64_t headDim, tileRows = 0, streamRows = 0;
  bool transposed, fused;
  /// fused: red.global.add.v4.f32 (sm_90 and newer), else scalar atomics.
  bool vectorReductions = false;
  std::unique_ptr<TileCloner> cloner;

  SmallVector<Value> arguments;
  Value batch, head, tileIndex, qLength, kvLength, rowStart;
  /// The streamed loop, flattened: iteration it is block (it mod blocks)
  /// of outer index outerLo + it / blocks.
  Value loopLo, blocks, outerLo, iterations;
  /// Shared memory: the tile's two operands, the two rings, and (fused)
  /// dS^T of the current block.
  Value tile1, tile2, ring1, ring2, gradScoresT;
  /// The tile's operands (Q, dO or K, V) and the streamed ones (K, V or Q,
  /// dO).
  Value tileSrc1, tileSrc2, streamSrc1, streamSrc2;
  /// query: LSE * log2 e and delta of this thread's fragment rows.
  Value rowLse[2], rowDelta[2];
  /// wgmma fused: the tensor maps (grid constants after the memrefs) of Q,
  /// K, V and dO, which TMA loads, and of the dQ accumulator, which TMA
  /// reductions add to.
  Value queryMap, keyMap, valueMap, gradOutputMap, gradQueryMap;
  /// wgmma: the aligned shared memory's address (i32) and the byte offsets
  /// of the K and V tiles, the Q and dO rings, dS^T and the dQ staging
  /// rows; the ring of the streamed blocks' LSE and delta (f32,
  /// [stages][2][block_m]).
  Value smemAddress, statistics;
  /// wgmma fused: the iteration of the block being emitted.
  Value blockIteration;
  int64_t kTileBytes = 0, vTileBytes = 0, qRingBytes = 0, doRingBytes = 0;
  WgmmaBackwardLayout layout{};
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_MMASYNCBACKWARDEMITTER_H
