//===- WgmmaBackwardBlock.cpp - The fused backward block with wgmma -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The fused backward kernel (dq=accumulate) of the hopper-ws strategy: the
// schedule, the scores body and the epilogue are the mma.sync kernel's
// (MmaSyncBackwardKernel.cpp), the five GEMMs of a streamed block are
// warpgroup MMAs. A tile of block-n keys has one warpgroup per 64 keys;
// warp w of the block owns keys 16w..16w+15 (the wgmma accumulator of a
// warpgroup is the mma.sync one of its four warps), so the cloned scores
// body, the LSE and delta per column and the stores are shared. Per block
// of 64 queries, with Q and dO in the ring and K, V, dS^T as 128-byte
// swizzled slabs:
//
//   S^T  = K_w Q^T, dP^T = V_w dO^T   SS, K-major (64 x 64 per warpgroup),
//                                     two commit groups
//   P^T                               per element, once S^T is complete
//   dV  += P^T dO                     RS: P^T from registers, dO N-major
//   dS^T                              per element, once dP^T is complete
//   dS^T -> shared memory             rows = keys, the swizzled slab
//   dQ   = dS K                       SS, dS M-major, K N-major; the
//                                     warpgroups split D
//   dK  += dS^T Q                     RS, Q N-major, issued behind dQ
//   dQ  -> staged boxes               while dK runs: a warp's 16 rows,
//                                     then one TMA tensor reduction (add)
//                                     per box into the f32 accumulator
//
// TMA loads the K and V tile and each block's Q and dO (thread 0 issues
// them, completing on an mbarrier per ring slot); the LSE and delta come
// by 4-byte cp.async whose threads arrive on the same barrier once their
// copies are complete, so a block only waits for its slot's phase. Shared
// memory written by threads (the dS^T and dQ stores) is fenced for the
// async proxy before the barrier (or warp sync) that precedes the MMAs or
// tensor reductions that read it. With 64-query blocks a block has one CTA
// barrier, after its dS^T stores: every warp has then finished the
// previous block (each block waits for all its MMAs at its end), so the
// slot that block used is free for the loads of the block stages - 1
// ahead, issued right after; dS^T is double-buffered, since another
// warpgroup's dQ MMAs of the previous block may still read the other
// buffer while a warpgroup stores this block's. With 128-query blocks a
// block starts with a CTA barrier and those loads
// (BackwardConfig::singleBarrier).
//
//===----------------------------------------------------------------------===//

#include "MmaSyncBackwardEmitter.h"
#include "RegisterSoftmax.h"
#include "Wgmma.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

/// Elements of one 128-byte slab row.
static constexpr int64_t kSlabRowElements = kSlabRowBytes / 2;

Value BackwardEmitter::slabOffset(Value row, Value chunk, int64_t rows) {
  // Chunk c of a row is chunk c mod 8 of slab c / 8, swizzled by the row.
  Value slab = div(chunk, idx(8));
  return add(add(mul(slab, idx(rows * kSlabRowElements)),
                 mul(row, idx(kSlabRowElements))),
             swizzledColumn(row, rem(chunk, idx(8))));
}

Value BackwardEmitter::wgmmaDescriptor(Value offset, int64_t leading) {
  Value address = arith::AddIOp::create(
      b, smemAddress, arith::IndexCastOp::create(b, b.getI32Type(), offset));
  return makeWgmmaDescriptor(
      b, address, getWgmmaDescriptorBits(leading, kSwizzlePeriodBytes));
}

SmallVector<Value>
BackwardEmitter::accumulateRingProduct(ArrayRef<Value> acc,
                                       ArrayRef<Value> fragments,
                                       int64_t ringBytes, Value slot) {
  // B N-major: 16 rows (a k-step over the block's queries) are 2048 bytes
  // of each slab; slabs are block_m rows apart.
  Value slotBytes = mul(slot, idx(2 * streamRows * headDim));
  Value ring = wgmmaDescriptor(add(idx(ringBytes), slotBytes),
                               streamRows * kSlabRowBytes);
  emitWgmmaFence(b);
  SmallVector<int64_t> offsets = getRowStepOffsets(streamRows);
  SmallVector<Value> result = emitWgmmaRS(
      b, acc, fragments.take_front(4 * offsets.size()), ring, offsets, headDim,
      elementType, /*transposeB=*/true, DescriptorMoves::Operands);
  emitWgmmaCommit(b);
  return result;
}

Value BackwardEmitter::loadBarrier(Value slot) {
  Value index = slot ? add(slot, idx(1)) : idx(0);
  Value address = arith::AddIOp::create(
      b, smemAddress,
      b.createOrFold<arith::IndexCastOp>(
          b.getI32Type(), add(idx(layout.barriers), mul(index, idx(8)))));
  return LLVM::IntToPtrOp::create(
      b, LLVM::LLVMPointerType::get(b.getContext(), /*addressSpace=*/3),
      address);
}

void BackwardEmitter::initLoadBarriers() {
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(
        scf::IfOp::create(
            b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, idx(0)))
            .thenBlock());
    // The tile's: one arrival (thread 0's, with the bytes to expect); a
    // slot's: also one per thread that copies the LSE or delta.
    for (int64_t i = 0; i <= config.stages; ++i)
      NVVM::MBarrierInitOp::create(
          b, loadBarrier(i == 0 ? Value() : idx(i - 1)),
          i32(i == 0 ? 1 : 1 + 2 * streamRows), Value());
    // Visible to the async proxy, whose loads complete on them.
    NVVM::FenceMbarrierInitOp::create(b);
  }
  gpu::BarrierOp::create(b);
}

void BackwardEmitter::loadTilesTma(Value slot,
                                   ArrayRef<std::pair<Value, int64_t>> tiles,
                                   Value head, Value row, int64_t rows) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(
      scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, idx(0)))
          .thenBlock());
  Value bar = loadBarrier(slot);
  // Out-of-bounds rows (past N) are zero-filled and count as loaded.
  NVVM::MBarrierArriveExpectTxOp::create(
      b, Type(), bar, i32(2 * rows * headDim * tiles.size()),
      NVVM::MemScopeKindAttr(), BoolAttr(), Value());
  SmallVector<Value> outer{castIndexToI32(b, row), castIndexToI32(b, head),
                           castIndexToI32(b, batch)};
  // A ring slot holds one block of each streamed operand.
  Value slotBytes = slot ? mul(slot, idx(2 * rows * headDim)) : Value();
  for (auto [map, offset] : tiles)
    emitSlabTileLoad(b, map, bar,
                     arith::AddIOp::create(
                         b, smemAddress,
                         slotBytes
                             ? castIndexToI32(b, add(idx(offset), slotBytes))
                             : i32(offset)),
                     outer, rows, headDim);
}

void BackwardEmitter::prefetchStatistics(Value streamHead, Value start,
                                         Value slot) {
  // Threads 0-63 copy the LSE, 64-127 delta, a row each (4-byte cp.async:
  // rows of [B, H, Nq] need not be 16-byte aligned); rows past Nq read
  // nothing and are 0. Each half is two whole warps.
  Value row = add(start, rem(tid, idx(streamRows)));
  Value inBounds = lt(row, qLength);
  Value clamped = select(inBounds, row, idx(0));
  Value srcElements = select(inBounds, idx(1), idx(0));
  Value which = div(tid, idx(streamRows));
  Value dstIndex =
      add(mul(slot, idx(2 * streamRows)), rem(tid, idx(2 * streamRows)));
  const unsigned sources[] = {kLse, kDelta};
  for (auto [index, source] : llvm::enumerate(sources)) {
    OpBuilder::InsertionGuard guard(b);
    auto mine =
        scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                   which, idx(index)));
    b.setInsertionPointToStart(mine.thenBlock());
    nvgpu::DeviceAsyncCopyOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), statistics,
        ValueRange{dstIndex}, arg(source),
        ValueRange{batch, streamHead, clamped}, b.getIndexAttr(1), srcElements,
        UnitAttr());
    // The slot's load barrier completes once this copy has (an arrival the
    // barrier's count expects: noinc).
    NVVM::CpAsyncMBarrierArriveOp::create(b, loadBarrier(slot),
                                          /*noinc=*/true);
  }
}

/// `flat` wgmma accumulators (element 4n + 2h + e) as 2x2 tiles.
static SmallVector<Value> toTiles(ImplicitLocOpBuilder &b,
                                  ArrayRef<Value> flat) {
  auto type = VectorType::get({2, 2}, b.getF32Type());
  SmallVector<Value> tiles;
  for (size_t t = 0; t < flat.size() / 4; ++t)
    tiles.push_back(
        vector::FromElementsOp::create(b, type, flat.slice(4 * t, 4)));
  return tiles;
}

std::pair<SmallVector<Value>, SmallVector<Value>>
BackwardEmitter::emitWgmmaProducts(Value slot) {
  // K-major operands: the warpgroup's 64 rows of K and V (64 x 128 bytes
  // into each slab), the slot's Q and dO; a k-step of 16 columns moves 32
  // bytes inside a slab and the next slab every 4 steps.
  Value warpgroup = div(warp, idx(4));
  Value rows = mul(warpgroup, idx(64 * kSlabRowBytes));
  Value slotBytes = mul(slot, idx(2 * streamRows * headDim));
  Value kDesc = wgmmaDescriptor(add(idx(kTileBytes), rows), 16);
  Value vDesc = wgmmaDescriptor(add(idx(vTileBytes), rows), 16);
  Value qDesc = wgmmaDescriptor(add(idx(qRingBytes), slotBytes), 16);
  Value dODesc = wgmmaDescriptor(add(idx(doRingBytes), slotBytes), 16);
  auto product = [&](Value a, Value bDesc) {
    return emitWgmmaSS(b, /*acc=*/{}, a,
                       getKMajorStepOffsets(headDim, tileRows), bDesc,
                       getKMajorStepOffsets(headDim, streamRows), streamRows,
                       elementType, /*accumulate=*/false, /*transposeA=*/false,
                       /*transposeB=*/false, DescriptorMoves::Operands);
  };
  // Two groups: S^T is waited for while dP^T is still in flight.
  emitWgmmaFence(b);
  SmallVector<Value> scores = product(kDesc, qDesc);
  emitWgmmaCommit(b);
  SmallVector<Value> gradProbs = product(vDesc, dODesc);
  emitWgmmaCommit(b);
  emitWgmmaWait(b, 1);
  scores = fenceRegisters(b, scores);
  return {toTiles(b, scores), gradProbs};
}

void BackwardEmitter::emitWgmmaBlock(Value start, Value streamHead, Value slot,
                                     SmallVectorImpl<Value> &accs) {
  int64_t nTiles = streamRows / 8;
  // P^T and dS^T as A fragments: for 16 queries 16k.., registers (row g,
  // 2c), (g + 8, 2c), (g, 8 + 2c), (g + 8, 8 + 2c), each two elements: the
  // accumulator pairs of n-tiles 2k and 2k + 1.
  auto pack = [&](ArrayRef<SmallVector<Value, 4>> values) {
    SmallVector<Value> registers;
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t h = 0; h < 2; ++h)
        registers.push_back(
            packPair(b, values[n][2 * h], values[n][2 * h + 1], elementType));
    return registers;
  };
  // FlashAttention-3's order: P^T while dP^T is computed, dS^T while dV
  // is.
  auto [scores, gradProbsInFlight] = emitWgmmaProducts(slot);
  SmallVector<Value> colLse, colDelta;
  loadColumnStatistics(start, streamHead, slot, /*lse=*/true, /*delta=*/false,
                       colLse, colDelta);
  SmallVector<SmallVector<Value, 4>> probs, grads;
  emitProbabilities(start, colLse, scores, probs);
  SmallVector<Value> probFrags = pack(probs);

  // dV += P^T dO.
  SmallVector<Value> gradValue =
      accumulateRingProduct(ArrayRef<Value>(accs).drop_front(headDim / 2),
                            probFrags, doRingBytes, slot);

  // dP^T is complete (dV may not be).
  emitWgmmaWait(b, 1);
  SmallVector<Value> gradProbs =
      toTiles(b, fenceRegisters(b, gradProbsInFlight));
  loadColumnStatistics(start, streamHead, slot, /*lse=*/false, /*delta=*/true,
                       colLse, colDelta);
  emitScoreGradients(colDelta, scores, probs, gradProbs, grads);
  SmallVector<Value> gradFrags = pack(grads);
  emitWgmmaGradients(grads, {probFrags, gradFrags}, slot, start, streamHead,
                     gradValue, accs);
}

void BackwardEmitter::emitWgmmaGradients(
    ArrayRef<SmallVector<Value, 4>> grads,
    std::pair<ArrayRef<Value>, ArrayRef<Value>> fragments, Value slot,
    Value start, Value streamHead, ArrayRef<Value> gradValueInFlight,
    SmallVectorImpl<Value> &accs) {
  auto [probFrags, gradFrags] = fragments;
  int64_t nTiles = streamRows / 8;
  Value warpgroup = div(warp, idx(4));

  // dS^T into its slab: row = key 16 warp + g (+ 8), chunk n = queries
  // 8n.., swizzled by the row: the 32 lanes of a store hit 32 banks. Keys
  // past Nk store 0 (their dS need not be finite once rounded; see the
  // mma.sync fused kernel).
  auto pairType = VectorType::get({2}, elementType);
  auto widePair = VectorType::get({2}, b.getF32Type());
  Value zeroPair = arith::ConstantOp::create(
      b, DenseElementsAttr::get(pairType, b.getZeroAttr(elementType)));
  Value keyRow = add(mul(warp, idx(16)), groupId);
  // This block's dS^T buffer (the other one may still be read by the
  // previous block's dQ MMAs of other warpgroups).
  Value buffer = rem(blockIteration, idx(layout.gradScoresBuffers));
  Value bufferElements = mul(buffer, idx(tileRows * streamRows));
  for (int64_t h = 0; h < 2; ++h) {
    Value row = add(keyRow, idx(8 * h));
    Value isKey = lt(add(rowStart, row), kvLength);
    for (int64_t n = 0; n < nTiles; ++n) {
      Value pair = arith::TruncFOp::create(
          b, pairType,
          vector::FromElementsOp::create(
              b, widePair, ValueRange{grads[n][2 * h], grads[n][2 * h + 1]}));
      pair = arith::SelectOp::create(b, isKey, pair, zeroPair);
      vector::StoreOp::create(
          b, pair, gradScoresT,
          ValueRange{add(add(bufferElements, slabOffset(row, idx(n), tileRows)),
                         mul(threadInGroup, idx(2)))});
    }
  }
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));

  // Every warpgroup's dS^T is in shared memory, and every warp is done
  // with the previous block: its ring slot is free for the block stages -
  // 1 ahead (and that block's barrier phase has been waited for by all).
  gpu::BarrierOp::create(b);
  if (config.singleBarrier)
    prefetch(add(blockIteration, idx(config.stages - 1)));

  // dQ = dS K: A = dS^T's slabs read M-major (64 queries a row: M tile
  // m is slab m), B = the K tile N-major (slabs tile rows apart); 16 keys
  // = 2048 bytes of both. The warpgroups of an M tile split D: warpgroup
  // w takes M tile w / s and columns [n (w mod s), n (w mod s + 1)) over
  // all the tile's keys: from column c of the K tile, which is slab c /
  // 64, (c mod 64) * 2 bytes into its rows (the swizzle is a function of
  // the address, so the start may lie inside an atom: at D = 64, n = 32).
  int64_t n = getWgmmaGradQueryColumns(stage, headDim);
  int64_t splits = headDim / n;
  int64_t tileLeading = tileRows * kSlabRowBytes;
  Value mTile = div(warpgroup, idx(splits));
  Value firstCol = mul(rem(warpgroup, idx(splits)), idx(n));
  Value aOffset = add(add(idx(layout.gradScores), mul(bufferElements, idx(2))),
                      mul(mTile, idx(tileLeading)));
  Value bOffset =
      add(idx(kTileBytes), add(mul(div(firstCol, idx(64)), idx(tileLeading)),
                               mul(rem(firstCol, idx(64)), idx(2))));
  Value aDesc = wgmmaDescriptor(aOffset, tileLeading);
  Value bDesc = wgmmaDescriptor(bOffset, tileLeading);
  emitWgmmaFence(b);
  SmallVector<int64_t> offsets = getRowStepOffsets(tileRows);
  SmallVector<Value> gradQuery =
      emitWgmmaSS(b, /*acc=*/{}, aDesc, offsets, bDesc, offsets, n, elementType,
                  /*accumulate=*/false, /*transposeA=*/true,
                  /*transposeB=*/true, DescriptorMoves::Operands);
  emitWgmmaCommit(b);

  // dK += dS^T Q, issued behind dQ: dQ's reductions run while it does.
  SmallVector<Value> gradKey =
      accumulateRingProduct(ArrayRef<Value>(accs).take_front(headDim / 2),
                            gradFrags, qRingBytes, slot);

  // dV and dQ are complete (groups complete in order), dK may not be.
  emitWgmmaWait(b, 1);
  gradQuery = fenceRegisters(b, gradQuery);
  SmallVector<Value> gradValue = fenceRegisters(b, gradValueInFlight);
  fenceRegisters(b, probFrags);

  // The warp's query rows: 16 (warp mod 4).. of its M tile.
  addRowsTensor(
      gradQuery, streamHead,
      add(add(start, mul(mTile, idx(64))), mul(rem(warp, idx(4)), idx(16))),
      firstCol, n);

  // The accumulators, and the fragments dK reads, stay in their registers
  // until here.
  emitWgmmaWait(b, 0);
  gradKey = fenceRegisters(b, gradKey);
  fenceRegisters(b, gradFrags);
  llvm::copy(gradKey, accs.begin());
  llvm::copy(gradValue, accs.begin() + headDim / 2);
}

void BackwardEmitter::addRowsTensor(ArrayRef<Value> acc, Value accHead,
                                    Value firstRow, Value firstCol,
                                    int64_t cols) {
  auto shared = LLVM::LLVMPointerType::get(b.getContext(), 3);
  int64_t boxes = llvm::divideCeil(cols, kGradQueryBoxColumns);
  // The warp's boxes. The previous block's reductions have read them
  // first (lane 0 issued them, the warp waits for it).
  Value warpBoxes = arith::AddIOp::create(
      b, smemAddress,
      castIndexToI32(b, add(idx(layout.gradQueryStaging),
                            mul(warp, idx(boxes * kGradQueryBoxBytes)))));
  NVVM::CpAsyncBulkWaitGroupOp::create(b, 0, b.getUnitAttr());
  NVVM::SyncWarpOp::create(b, i32(-1));
  // Element 4t + 2h + e of the registers is row g + 8h, column 8t + 2c +
  // e: one 8-byte store per (t, h), into box t / 4 at byte 32 (t mod 4) +
  // 8c of its 128-byte row, whose 16-byte chunks the 128-byte swizzle
  // permutes by the row (g): a store's 32 lanes fill two wavefronts.
  auto pairType = VectorType::get({2}, b.getF32Type());
  Value chunkInRow = div(threadInGroup, idx(2));
  Value byteInChunk = mul(rem(threadInGroup, idx(2)), idx(8));
  int64_t rowBytes = 4 * kGradQueryBoxColumns;
  for (int64_t t = 0; t < cols / 8; ++t) {
    int64_t box = t / (kGradQueryBoxColumns / 8);
    int64_t chunk = 2 * (t % (kGradQueryBoxColumns / 8));
    Value swizzled =
        arith::XOrIOp::create(b, add(idx(chunk), chunkInRow), groupId);
    for (int64_t h = 0; h < 2; ++h) {
      Value offset = add(add(idx(box * kGradQueryBoxBytes + 8 * h * rowBytes),
                             mul(groupId, idx(rowBytes))),
                         add(mul(swizzled, idx(16)), byteInChunk));
      Value address =
          arith::AddIOp::create(b, warpBoxes, castIndexToI32(b, offset));
      LLVM::StoreOp::create(b,
                            vector::FromElementsOp::create(
                                b, pairType, acc.slice(4 * t + 2 * h, 2)),
                            LLVM::IntToPtrOp::create(b, shared, address),
                            /*alignment=*/8);
    }
  }
  // The boxes, visible to the async proxy the reductions read with.
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  NVVM::SyncWarpOp::create(b, i32(-1));
  // Lane 0 adds the boxes: coordinates innermost first (column, row,
  // query head, batch). Rows past Nq (their P is 0) are outside the map.
  Value issues = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, idx(0)),
      lt(firstRow, qLength));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(scf::IfOp::create(b, issues).thenBlock());
  for (int64_t box = 0; box < boxes; ++box) {
    Value address =
        arith::AddIOp::create(b, warpBoxes, i32(box * kGradQueryBoxBytes));
    Value source = LLVM::IntToPtrOp::create(b, shared, address);
    NVVM::CpAsyncBulkTensorReduceOp::create(
        b, gradQueryMap, source,
        NVVM::TMAReduxKindAttr::get(b.getContext(), NVVM::TMAReduxKind::ADD),
        NVVM::TMAStoreModeAttr::get(b.getContext(), NVVM::TMAStoreMode::TILE),
        ValueRange{
            castIndexToI32(b, add(firstCol, idx(box * kGradQueryBoxColumns))),
            castIndexToI32(b, firstRow), castIndexToI32(b, accHead),
            castIndexToI32(b, batch)},
        Value());
  }
  NVVM::CpAsyncBulkCommitGroupOp::create(b);
}
