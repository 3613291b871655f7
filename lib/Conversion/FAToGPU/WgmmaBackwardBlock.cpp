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
//   S^T  = K_w Q^T, dP^T = V_w dO^T   SS, K-major (64 x 64 per warpgroup)
//   P^T, dS^T                         the scores body per element
//   dV  += P^T dO, dK += dS^T Q       RS: P^T and dS^T from registers, dO
//                                     and Q N-major
//   dS^T -> shared memory             rows = keys, the swizzled slab
//   dQ   = dS K                       SS, dS M-major, K N-major; the
//                                     warpgroups split D, then
//                                     red.global.add.v4.f32
//
// Shared memory written by threads (cp.async, the dS^T stores) is fenced
// for the async proxy before the barrier that precedes the MMAs that read
// it; each block waits for all its MMAs before the next block's barrier,
// so the ring slot and dS^T are free when that barrier passes.
//
//===----------------------------------------------------------------------===//

#include "MmaSyncBackwardEmitter.h"
#include "RegisterSoftmax.h"
#include "Wgmma.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
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
    SmallVector<Value> acc;
    for (int64_t k = 0; k < headDim / 16; ++k) {
      int64_t inSlab = (k % 4) * 32;
      acc = emitWgmmaSS(
          b, acc,
          offsetWgmmaDescriptor(b, a,
                                (k / 4) * tileRows * kSlabRowBytes + inSlab),
          offsetWgmmaDescriptor(b, bDesc,
                                (k / 4) * streamRows * kSlabRowBytes + inSlab),
          streamRows, elementType, /*accumulate=*/k > 0);
    }
    return acc;
  };
  emitWgmmaFence(b);
  SmallVector<Value> scores = product(kDesc, qDesc);
  SmallVector<Value> gradProbs = product(vDesc, dODesc);
  emitWgmmaCommit(b);
  emitWgmmaWait(b, 0);
  scores = fenceRegisters(b, scores);
  gradProbs = fenceRegisters(b, gradProbs);
  return {toTiles(b, scores), toTiles(b, gradProbs)};
}

void BackwardEmitter::emitWgmmaGradients(ArrayRef<SmallVector<Value, 4>> probs,
                                         ArrayRef<SmallVector<Value, 4>> grads,
                                         Value slot, Value start,
                                         Value streamHead,
                                         SmallVectorImpl<Value> &accs) {
  int64_t nTiles = streamRows / 8;
  int64_t warpgroups = tileRows / 64;
  Value warpgroup = div(warp, idx(4));
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
  SmallVector<Value> probFrags = pack(probs), gradFrags = pack(grads);

  // dS^T into its slab: row = key 16 warp + g (+ 8), chunk n = queries
  // 8n.., swizzled by the row: the 32 lanes of a store hit 32 banks. Keys
  // past Nk store 0 (their dS need not be finite once rounded; see the
  // mma.sync fused kernel).
  auto pairType = VectorType::get({2}, elementType);
  auto widePair = VectorType::get({2}, b.getF32Type());
  Value zeroPair = arith::ConstantOp::create(
      b, DenseElementsAttr::get(pairType, b.getZeroAttr(elementType)));
  Value keyRow = add(mul(warp, idx(16)), groupId);
  for (int64_t h = 0; h < 2; ++h) {
    Value row = add(keyRow, idx(8 * h));
    Value isKey = lt(add(rowStart, row), kvLength);
    Value rowBase =
        add(mul(row, idx(kSlabRowElements)), mul(threadInGroup, idx(2)));
    for (int64_t n = 0; n < nTiles; ++n) {
      Value pair = arith::TruncFOp::create(
          b, pairType,
          vector::FromElementsOp::create(
              b, widePair, ValueRange{grads[n][2 * h], grads[n][2 * h + 1]}));
      pair = arith::SelectOp::create(b, isKey, pair, zeroPair);
      vector::StoreOp::create(
          b, pair, gradScoresT,
          ValueRange{add(rowBase, swizzledColumn(row, idx(n)))});
    }
  }
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));

  // dV += P^T dO, dK += dS^T Q: B N-major in the slot, 16 queries = 2048
  // bytes of each slab, slabs block_m rows apart.
  Value slotBytes = mul(slot, idx(2 * streamRows * headDim));
  int64_t slotLeading = streamRows * kSlabRowBytes;
  Value dONMajor =
      wgmmaDescriptor(add(idx(doRingBytes), slotBytes), slotLeading);
  Value qNMajor = wgmmaDescriptor(add(idx(qRingBytes), slotBytes), slotLeading);
  SmallVector<Value> gradKey(accs.begin(), accs.begin() + headDim / 2);
  SmallVector<Value> gradValue(accs.begin() + headDim / 2, accs.end());
  emitWgmmaFence(b);
  for (int64_t k = 0; k < streamRows / 16; ++k)
    gradValue =
        emitWgmmaRS(b, gradValue, ArrayRef<Value>(probFrags).slice(4 * k, 4),
                    offsetWgmmaDescriptor(b, dONMajor, k * 16 * kSlabRowBytes),
                    headDim, elementType, /*transposeB=*/true);
  for (int64_t k = 0; k < streamRows / 16; ++k)
    gradKey =
        emitWgmmaRS(b, gradKey, ArrayRef<Value>(gradFrags).slice(4 * k, 4),
                    offsetWgmmaDescriptor(b, qNMajor, k * 16 * kSlabRowBytes),
                    headDim, elementType, /*transposeB=*/true);
  emitWgmmaCommit(b);

  // Every warpgroup's dS^T is in shared memory.
  gpu::BarrierOp::create(b);

  // dQ = dS K: A = dS^T's slab read M-major (64 queries a row), B = the K
  // tile N-major (slabs tile rows apart); 16 keys = 2048 bytes of both.
  // Warpgroup w takes columns [n w, n (w + 1)) over all the tile's keys:
  // from column n w of the K tile, which is slab n w / 64, (n w mod 64) *
  // 2 bytes into its rows (the swizzle is a function of the address, so
  // the start may lie inside an atom: at D = 64, n = 32).
  int64_t n = headDim / warpgroups;
  int64_t tileLeading = tileRows * kSlabRowBytes;
  Value firstCol = mul(warpgroup, idx(n));
  Value aOffset = idx(gradScoresBytes);
  Value bOffset =
      add(idx(kTileBytes), add(mul(div(firstCol, idx(64)), idx(tileLeading)),
                               mul(rem(firstCol, idx(64)), idx(2))));
  Value aDesc = wgmmaDescriptor(aOffset, tileLeading);
  Value bDesc = wgmmaDescriptor(bOffset, tileLeading);
  SmallVector<Value> gradQuery;
  emitWgmmaFence(b);
  for (int64_t k = 0; k < tileRows / 16; ++k)
    gradQuery = emitWgmmaSS(
        b, gradQuery, offsetWgmmaDescriptor(b, aDesc, k * 16 * kSlabRowBytes),
        offsetWgmmaDescriptor(b, bDesc, k * 16 * kSlabRowBytes), n, elementType,
        /*accumulate=*/k > 0, /*transposeA=*/true,
        /*transposeB=*/true);
  emitWgmmaCommit(b);
  emitWgmmaWait(b, 0);
  // The accumulators, and the fragments the MMAs read, stay in their
  // registers until here.
  gradKey = fenceRegisters(b, gradKey);
  gradValue = fenceRegisters(b, gradValue);
  gradQuery = fenceRegisters(b, gradQuery);
  fenceRegisters(b, probFrags);
  fenceRegisters(b, gradFrags);
  llvm::copy(gradKey, accs.begin());
  llvm::copy(gradValue, accs.begin() + headDim / 2);

  // Query rows 16 (warp mod 4) + g (+ 8) of the block; rows past Nq hold
  // zeros (their P is 0) and are skipped.
  Value firstRow = add(start, add(mul(rem(warp, idx(4)), idx(16)), groupId));
  addRowQuads(toTiles(b, gradQuery), arg(kGradQueryAccumulator), streamHead,
              firstRow, firstCol);
}
