//===- HopperProducer.cpp - TMA loads and the mbarrier ring ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The producer side of the hopper-ws kernel: the mbarriers of the ring, the
// TMA loads of Q, K and V into the 128-byte-swizzled slabs wgmma reads
// (Wgmma.h; a box of 64 columns x rows is exactly one slab, and TMA writes
// the swizzle), or of a paged cache cp.async gathers, and the producer's
// loop over the tile's key blocks (its first warp's, or of gathered pages
// its warpgroup's).
//
// The ring: stage s has "K loaded" and "V loaded" barriers (one arrival,
// the producer's expect-tx, plus the TMA bytes) and "K released" and "V
// released" barriers (one arrival per consumer warpgroup, once its MMAs
// that read the slot are done: K is released a softmax before V). The
// i-th block the consumers compute uses stage i % stages with phase parity
// (i / stages) % 2; both sides count the blocks they load or compute,
// skipping the same invisible ones (BlockClassifier).
//
//===----------------------------------------------------------------------===//

#include "HopperKernelEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

Value HopperKernelEmitter::barrier(Value index) {
  int64_t offset = qBytes + config.stages * (kSlotBytes + vSlotBytes);
  Value address = arith::AddIOp::create(
      b, smemBase,
      b.createOrFold<arith::IndexCastOp>(b.getI32Type(),
                                         add(idx(offset), mul(index, idx(8)))));
  return LLVM::IntToPtrOp::create(
      b, LLVM::LLVMPointerType::get(b.getContext(), /*addressSpace=*/3),
      address);
}

void HopperKernelEmitter::waitBarrier(Value bar, Value parity) {
  emitMbarrierWait(b, bar, parity);
}

void HopperKernelEmitter::initBarriers() {
  auto first = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, idx(0)));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(first.thenBlock());
    NVVM::MBarrierInitOp::create(b, qLoaded(), i32(1), Value());
    // K and V loaded: the producer's expect-tx, or of gathered pages one
    // cp.async arrival per producer thread.
    int32_t loads = config.gathersPages() ? config.producerThreads() : 1;
    for (int64_t s = 0; s < config.stages; ++s) {
      NVVM::MBarrierInitOp::create(b, kLoaded(idx(s)), i32(loads), Value());
      NVVM::MBarrierInitOp::create(b, vLoaded(idx(s)), i32(loads), Value());
      NVVM::MBarrierInitOp::create(b, kReleased(idx(s)),
                                   i32(config.warpgroups()), Value());
      NVVM::MBarrierInitOp::create(b, vReleased(idx(s)),
                                   i32(config.warpgroups()), Value());
    }
    NVVM::MBarrierInitOp::create(b, qReleased(), i32(128 * config.warpgroups()),
                                 Value());
    // The second Q slot's (the current slot is the first's here).
    if (config.querySlots == 2) {
      Value slot0 = querySlot;
      querySlot = idx(1);
      NVVM::MBarrierInitOp::create(b, qLoaded(), i32(1), Value());
      NVVM::MBarrierInitOp::create(b, qReleased(),
                                   i32(128 * config.warpgroups()), Value());
      querySlot = slot0;
    }
    if (config.zeroesValueTails())
      NVVM::MBarrierInitOp::create(b, vTailStaged(), i32(1), Value());
    // The initialization, visible to the async proxy (TMA completes
    // transactions on these barriers).
    NVVM::FenceMbarrierInitOp::create(b);
  }
  gpu::BarrierOp::create(b);
}

void HopperKernelEmitter::loadTile(Value map, Value bar, Value batch,
                                   Value head, Value row, int64_t dstOffset,
                                   Value dstSlotOffset, int64_t rows,
                                   int64_t cols) {
  NVVM::MBarrierArriveExpectTxOp::create(b, Type(), bar, i32(2 * rows * cols),
                                         NVVM::MemScopeKindAttr(), BoolAttr(),
                                         Value());
  Value tileAddress = arith::AddIOp::create(
      b, smemBase,
      arith::AddIOp::create(b, i32(dstOffset),
                            castIndexToI32(b, dstSlotOffset)));
  // Coordinates innermost first: column, row, head, batch; of a packed
  // tensor column, head, row.
  SmallVector<Value> outer{castIndexToI32(b, row), castIndexToI32(b, head),
                           castIndexToI32(b, batch)};
  if (config.varlen)
    outer = {outer[1], outer[0]};
  emitSlabTileLoad(b, map, bar, tileAddress, outer, rows, cols);
}

Value HopperKernelEmitter::loadBlockPages(Value kvStart) {
  // Lane l reads the page of piece l (the lanes past the block's last
  // piece with keys that of the last one: entries from the sequence's end
  // on may be ids outside the pool, or past the table's row). One load
  // for the warp, issued before the producer waits for the ring's slot,
  // where its latency hides, and shared by K and V. (The leader's thread
  // read each piece's entry before its load: 16 dependent reads a block
  // at 16-row pages. Reading them ahead changed the paged kernels' speed
  // by -3 to +10 % on the H200: those reads did not bound the producer.)
  int64_t pieceRows = config.kvLoadRows();
  // (Block-n is at most 256 and a piece at least 8 rows: verifyHopperConfig
  // and isWgmmaPaging.)
  assert(config.blockN / pieceRows <= 32 && "a lane per piece");
  Value piece = idx(0);
  if (pieceRows < config.blockN) {
    Value lastPiece = div(sub(sub(kvLength, kvStart), idx(1)), idx(pieceRows));
    // (Of gathered pages, producer thread t copies from piece
    // t / lanesPerPiece().)
    Value lane = producerLane();
    if (config.gathersPages())
      lane = div(lane, idx(lanesPerPiece()));
    piece = b.createOrFold<arith::MinUIOp>(lane, lastPiece);
  }
  Value position = add(kvStart, mul(piece, idx(pieceRows)));
  return memref::LoadOp::create(
      b, blockTable, ValueRange{batch, div(position, idx(config.pageSize))});
}

void HopperKernelEmitter::loadKeyRows(Value map, Value cache, Value bar,
                                      Value kvStart, int64_t dstOffset,
                                      Value dstSlotOffset, int64_t cols,
                                      Value pages,
                                      const LeaderEmitter &asLeader) {
  int64_t blockN = config.blockN;
  if (!config.pageSize) {
    asLeader([&]() {
      loadTile(map, bar, batch, kvHead,
               kRowBase ? add(kRowBase, kvStart) : kvStart, dstOffset,
               dstSlotOffset, blockN, cols);
    });
    return;
  }
  if (config.gathersPages()) {
    // (cp.async reads the pool itself, not through its map.)
    gatherKeyRows(cache, bar, kvStart, dstOffset, dstSlotOffset, cols, pages);
    return;
  }
  // A paged cache: the block's rows in pieces of `pieceRows` from
  // multiples of it, each in one page, at coordinates (column, head, row
  // in the page, page) of the pool; lane l of `pages` holds piece l's page
  // (loadBlockPages). Pieces from the sequence's end on are not loaded:
  // K's rows there are masked as padding, V's zeroed with the tail
  // (loadValues). A loop of the whole warp (the shuffle), not unrolled:
  // the producer has few registers (ptxas spilled 8-200 bytes with the
  // pieces unrolled).
  int64_t pieceRows = config.kvLoadRows();
  Value validRows = sub(kvLength, kvStart);
  Value pieces = idx(1);
  if (pieceRows < blockN)
    pieces = b.createOrFold<arith::MinUIOp>(
        idx(blockN / pieceRows),
        b.createOrFold<arith::CeilDivUIOp>(validRows, idx(pieceRows)));
  asLeader([&]() {
    NVVM::MBarrierArriveExpectTxOp::create(
        b, Type(), bar,
        arith::MulIOp::create(b, castIndexToI32(b, pieces),
                              i32(2 * pieceRows * cols)),
        NVVM::MemScopeKindAttr(), BoolAttr(), Value());
  });
  Value tileAddress = arith::AddIOp::create(
      b, smemBase,
      arith::AddIOp::create(b, i32(dstOffset),
                            castIndexToI32(b, dstSlotOffset)));
  auto loadPiece = [&](Value piece, Value page) {
    Value position = add(kvStart, mul(piece, idx(pieceRows)));
    Value row = rem(position, idx(config.pageSize));
    emitSlabTileLoad(
        b, map, bar,
        arith::AddIOp::create(
            b, tileAddress,
            castIndexToI32(b, mul(piece, idx(pieceRows * kSlabRowBytes)))),
        {castIndexToI32(b, kvHead), castIndexToI32(b, row), page}, pieceRows,
        cols, blockN);
  };
  // One piece: the leader, lane 0, holds its page.
  if (pieceRows == blockN) {
    asLeader([&]() { loadPiece(idx(0), pages); });
    return;
  }
  auto loop = scf::ForOp::create(b, idx(0), pieces, idx(1));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(loop.getBody());
  Value piece = loop.getInductionVar();
  Value page = gpu::ShuffleOp::create(b, pages, castIndexToI32(b, piece),
                                      i32(32), gpu::ShuffleMode::IDX)
                   .getShuffleResult();
  asLeader([&]() { loadPiece(piece, page); });
}

int64_t HopperKernelEmitter::lanesPerPiece() const {
  // As many threads a piece as the producer has for every piece, a power
  // of 2.
  int64_t pieces = config.blockN / config.kvLoadRows();
  return int64_t(1) << llvm::Log2_64(config.producerThreads() / pieces);
}

Value HopperKernelEmitter::producerLane() {
  return rem(tid, idx(config.producerThreads()));
}

Value HopperKernelEmitter::isProducerLeader() {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, producerLane(),
                               idx(0));
}

void HopperKernelEmitter::gatherKeyRows(Value cache, Value bar, Value kvStart,
                                        int64_t dstOffset, Value dstSlotOffset,
                                        int64_t cols, Value pages) {
  // Producer threads ("lanes") l of piece l / lanesPerPiece() (lanes past
  // the pieces copy nothing) copy its rows' 16-byte chunks in turn: of
  // every 64-column slab, chunk c of the piece's row r by lane
  // (8 r + c) % lanesPerPiece, read from the page in the lane's `pages`
  // (loadBlockPages), into row r
  // of the piece's rows of the slab, swizzled as TMA writes them (chunk c
  // of row r at c ^ r % 8; slabs and pieces are 1024-byte aligned). No
  // lane needs another's page inside the loop: a shuffle there cost
  // ptxas 300 bytes of spills in the 56-register producer.
  int64_t pieceRows = config.kvLoadRows();
  int64_t pieces = config.blockN / pieceRows;
  int64_t lanes = lanesPerPiece();
  // The slot's copies of `stages` blocks ago (K and V: a group each) have
  // landed: the consumers released the slot after they saw them. Waiting
  // for them costs nothing and tells compute-sanitizer's racecheck, which
  // does not follow the mbarrier, that these copies do not race those.
  NVVM::CpAsyncWaitGroupOp::create(b, 2 * config.stages - 1);
  Value lane = producerLane();
  Value piece = div(lane, idx(lanes));
  Value laneInPiece = rem(lane, idx(lanes));
  auto copyPiece = scf::IfOp::create(b, lt(piece, idx(pieces)));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(copyPiece.thenBlock());
  Value pieceStart = add(kvStart, mul(piece, idx(pieceRows)));
  // The piece's first row in the pool [num_pages, page_size, H, D], as a
  // byte address (global memory's generic addresses are its global ones).
  // Pieces from the sequence's end on read from the last piece's page
  // (its copies read nothing).
  auto meta = memref::ExtractStridedMetadataOp::create(b, cache);
  Value rowStride = meta.getStrides()[1];
  Value pieceOffset =
      add(add(meta.getOffset(), mul(kvHead, meta.getStrides()[2])),
          add(mul(arith::IndexCastUIOp::create(b, b.getIndexType(), pages),
                  meta.getStrides()[0]),
              mul(rem(pieceStart, idx(config.pageSize)), rowStride)));
  int64_t elementBytes = elementType.getIntOrFloatBitWidth() / 8;
  Value pieceBase = arith::IndexCastOp::create(
      b, b.getI64Type(),
      add(memref::ExtractAlignedPointerAsIndexOp::create(b, cache),
          mul(pieceOffset, idx(elementBytes))));
  Value pieceAddress = arith::AddIOp::create(
      b, smemBase,
      castIndexToI32(b, add(add(idx(dstOffset), dstSlotOffset),
                            mul(piece, idx(pieceRows * kSlabRowBytes)))));
  auto global = LLVM::LLVMPointerType::get(b.getContext(), 1);
  auto shared = LLVM::LLVMPointerType::get(b.getContext(), 3);
  // A lane copies chunks chunk0 + j * lanes (j < chunksPerLane) of rows
  // row0 + k * rowsPerStep: 8 lanes or all of the piece's read a row's
  // slab together. row0 < rowsPerStep, and chunk0 < lanes where a lane
  // copies more than one chunk, powers of 2, so row % 8 is
  // row0 % 8 ^ (k * rowsPerStep) % 8 and the chunk chunk0 ^ j * lanes: as
  // pieces are 1024-byte aligned, the shared
  // address of chunk j of row k is that of chunk 0 of row 0 XOR a constant
  // swizzle plus a constant row offset. The producer loops over the
  // swizzle's periods of 8 rows (below: where that pays), each unrolled with
  // those constants, and copies a piece that holds only keys without the
  // per-row byte count (the loop over rows cost 12 PTX instructions per 2
  // copies at D = 128, and the gathered kernel pays in issue slots: benchmarks/
  // results/2026-12-07-h200-varlen-paged-hopper.md; unrolling all rows
  // made the persistent producer of 56 registers spill). The source
  // address advances by a row step.
  int64_t chunksPerRow = kSlabRowBytes / 16;
  int64_t rowsPerStep = std::max<int64_t>(1, lanes / chunksPerRow);
  int64_t chunksPerLane = std::max<int64_t>(1, chunksPerRow / lanes);
  // (block-n >= 16, verifyHopperConfig: lanes <= 8 * pieceRows.)
  assert(pieceRows % rowsPerStep == 0 && "whole steps of rows");
  int64_t steps = pieceRows / rowsPerStep;
  int64_t period =
      std::min<int64_t>(steps, std::max<int64_t>(1, 8 / rowsPerStep));
  Value row0 = div(laneInPiece, idx(chunksPerRow));
  Value chunk0 = castIndexToI32(b, rem(laneInPiece, idx(chunksPerRow)));
  Value rowBytes = mul(rowStride, idx(elementBytes));
  auto toI64 = [&](Value index) {
    return arith::IndexCastOp::create(b, b.getI64Type(), index).getResult();
  };
  Value firstSource = arith::AddIOp::create(
      b, pieceBase,
      toI64(add(mul(row0, rowBytes),
                mul(rem(laneInPiece, idx(chunksPerRow)), idx(16)))));
  Value sourceStep = toI64(mul(rowBytes, idx(rowsPerStep)));
  Value firstRow = castIndexToI32(b, row0);
  // (Negative past the sequence's end: those rows copy nothing.)
  Value validRows = castIndexToI32(b, sub(kvLength, pieceStart));
  auto offset32 = [&](Value value, int64_t offset) {
    return offset ? arith::AddIOp::create(b, value, i32(offset)).getResult()
                  : value;
  };
  auto offset64 = [&](Value value, int64_t offset) {
    return offset ? arith::AddIOp::create(b, value,
                                          arith::ConstantOp::create(
                                              b, b.getI64IntegerAttr(offset)))
                        .getResult()
                  : value;
  };
  // Copies a row's chunks: chunk j of each slab from `source` to
  // chunkTarget(j) (zero-filling past `bytes`, when given).
  auto copyRow = [&](Value source, function_ref<Value(int64_t)> chunkTarget,
                     Value bytes) {
    for (int64_t j = 0; j < chunksPerLane; ++j) {
      Value target = chunkTarget(j);
      for (int64_t slab = 0; slab < cols / 64; ++slab) {
        // (The source first: argument order is unspecified.)
        Value src = offset64(source, j * lanes * 16 + slab * 128);
        Value dst = offset32(target, slab * config.blockN * kSlabRowBytes);
        NVVM::CpAsyncOp::create(
            b, LLVM::IntToPtrOp::create(b, shared, dst),
            LLVM::IntToPtrOp::create(b, global, src), b.getI32IntegerAttr(16),
            NVVM::LoadCacheModifierKindAttr::get(
                b.getContext(), NVVM::LoadCacheModifierKind::CG),
            bytes);
      }
    }
  };
  // Copies the rows of one period from `row`, `source` and `target` (row
  // row0 + k * rowsPerStep of the period's first k); returns the source of
  // its last row.
  auto emitPeriod = [&](bool whole, Value row, Value source, Value target) {
    for (int64_t k = 0; k < period; ++k) {
      if (k)
        source = arith::AddIOp::create(b, source, sourceStep);
      // Rows from the sequence's end on read nothing and are zero-filled
      // (V's must be 0: P is 0 there, but 0 * NaN is NaN).
      Value bytes;
      if (!whole)
        bytes = arith::SelectOp::create(
            b,
            arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                  offset32(row, k * rowsPerStep), validRows),
            i32(16), i32(0));
      copyRow(
          source,
          [&](int64_t j) {
            Value dst = target;
            if (int64_t bits = ((j * lanes) ^ (k * rowsPerStep % 8)) * 16)
              dst = arith::XOrIOp::create(b, dst, i32(bits));
            return offset32(dst, k * rowsPerStep * kSlabRowBytes);
          },
          bytes);
    }
    return source;
  };
  auto emitRows = [&](bool whole, Value firstTarget) {
    if (steps == period) {
      emitPeriod(whole, firstRow, firstSource, firstTarget);
      return;
    }
    int64_t periodRows = period * rowsPerStep;
    auto loop = scf::ForOp::create(b, firstRow, i32(pieceRows), i32(periodRows),
                                   ValueRange{firstSource, firstTarget});
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value target = loop.getRegionIterArgs()[1];
    Value last = emitPeriod(whole, loop.getInductionVar(),
                            loop.getRegionIterArgs()[0], target);
    Value next = arith::AddIOp::create(b, last, sourceStep);
    scf::YieldOp::create(
        b, ValueRange{next, arith::AddIOp::create(
                                b, target, i32(periodRows * kSlabRowBytes))
                                .getResult()});
  };
  // Elsewhere a loop over rows, each row's swizzle and byte count computed
  // in it: on an H100 the unrolled periods ran 2-6 % faster at D = 64 and
  // unmasked at D = 128, but up to 2 % slower at D = 128 under a causal
  // mask and at D = 256 (benchmarks/results/
  // 2026-12-07-h100-paged-gather-periods.md).
  bool unrollPeriods = cols <= 64 || (cols <= 128 && !config.masked);
  if (!unrollPeriods) {
    auto loop = scf::ForOp::create(b, firstRow, i32(pieceRows),
                                   i32(rowsPerStep), ValueRange{firstSource});
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value row = loop.getInductionVar();
    Value source = loop.getRegionIterArgs()[0];
    // Rows from the sequence's end on read nothing and are zero-filled.
    Value bytes = arith::SelectOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::slt, row, validRows),
        i32(16), i32(0));
    Value target = arith::AddIOp::create(
        b, pieceAddress, arith::MulIOp::create(b, row, i32(kSlabRowBytes)));
    Value phase = arith::AndIOp::create(b, row, i32(7));
    copyRow(
        source,
        [&](int64_t j) {
          Value chunk = arith::AddIOp::create(b, chunk0, i32(j * lanes));
          Value swizzled = arith::MulIOp::create(
              b, arith::XOrIOp::create(b, chunk, phase), i32(16));
          return arith::AddIOp::create(b, target, swizzled).getResult();
        },
        bytes);
    scf::YieldOp::create(
        b,
        ValueRange{arith::AddIOp::create(b, source, sourceStep).getResult()});
  } else {
    Value firstTarget = arith::AddIOp::create(
        b, pieceAddress,
        arith::AddIOp::create(
            b, arith::MulIOp::create(b, firstRow, i32(kSlabRowBytes)),
            arith::MulIOp::create(
                b,
                arith::XOrIOp::create(
                    b, chunk0, arith::AndIOp::create(b, firstRow, i32(7))),
                i32(16))));
    // Whole pieces: every row a lane copies holds a key.
    Value whole = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, validRows,
                                        i32(pieceRows));
    auto split = scf::IfOp::create(b, whole, /*withElseRegion=*/true);
    b.setInsertionPointToStart(split.thenBlock());
    emitRows(/*whole=*/true, firstTarget);
    b.setInsertionPointToStart(split.elseBlock());
    emitRows(/*whole=*/false, firstTarget);
  }
  // Each producer thread (the barrier counts them) arrives on `bar` once
  // its copies landed.
  b.setInsertionPointAfter(copyPiece);
  NVVM::CpAsyncMBarrierArriveOp::create(b, bar, /*noinc=*/true);
  NVVM::CpAsyncCommitGroupOp::create(b);
}

SmallVector<Value> HopperKernelEmitter::emitProducer(ValueRange counts) {
  // The producer's threads (whole warps: the block classification may
  // combine lanes with shuffles) run the loop and wait; one issues the
  // TMA loads.
  Value leader = isProducerLeader();
  LeaderEmitter asLeader = [&](function_ref<void()> emitLoads) {
    auto ifOp = scf::IfOp::create(b, leader);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    emitLoads();
  };
  int64_t blockN = config.blockN;
  auto loop = scf::ForOp::create(b, ranges.lo, ranges.hi, idx(1), counts);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(loop.getBody());
  Value block = loop.getInductionVar();
  ValueRange before = loop.getRegionIterArgs();
  Value loaded = before[0];
  // What the consumers compute: the unmasked blocks, and the masked ones
  // that may be visible.
  Value isComputed;
  if (classifier->hasPredicate())
    isComputed = computes(block, ranges.isUnmasked(b, block));
  // The counts after loading the block: the blocks, and the tails.
  auto emitLoads = [&]() -> SmallVector<Value> {
    Value count = arith::IndexCastUIOp::create(b, b.getIndexType(), loaded);
    Value slot = rem(count, idx(config.stages));
    Value parity = rem(div(count, idx(config.stages)), idx(2));
    // The consumers released the slot's previous block (a fresh
    // barrier's "previous phase", parity 1, counts as complete).
    Value previous = arith::XOrIOp::create(b, parity, idx(1));
    Value kvStart = mul(block, idx(blockN));
    Value pages = config.pageSize ? loadBlockPages(kvStart) : Value();
    waitBarrier(kReleased(slot), previous);
    loadKeyRows(kMap, key, kLoaded(slot), kvStart, qBytes,
                mul(slot, idx(kSlotBytes)), headDim, pages, asLeader);
    waitBarrier(vReleased(slot), previous);
    SmallVector<Value> after{arith::AddIOp::create(b, loaded, i32(1))};
    if (Value tails =
            loadValues(kvStart, slot, pages, asLeader,
                       config.zeroesValueTails() ? before[1] : Value()))
      after.push_back(tails);
    return after;
  };
  if (!isComputed) {
    scf::YieldOp::create(b, emitLoads());
    return loop.getResults();
  }
  auto ifOp = scf::IfOp::create(b, before.getTypes(), isComputed,
                                /*addThenBlock=*/true, /*addElseBlock=*/true);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, emitLoads());
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, before);
  }
  scf::YieldOp::create(b, ifOp.getResults());
  return loop.getResults();
}

Value HopperKernelEmitter::loadValues(Value kvStart, Value slot, Value pages,
                                      const LeaderEmitter &asLeader,
                                      Value tails) {
  int64_t blockN = config.blockN;
  int64_t ringOffset = qBytes + config.stages * kSlotBytes;
  Value slotOffset = mul(slot, idx(vSlotBytes));
  auto issue = [&](Value bar) {
    loadKeyRows(vMap, value, bar, kvStart, ringOffset, slotOffset, valueDim,
                pages, asLeader);
  };
  if (!config.zeroesValueTails()) {
    issue(vLoaded(slot));
    return Value();
  }
  Value keys = sub(kvLength, kvStart);
  auto tail = scf::IfOp::create(b, TypeRange{tails.getType()},
                                lt(keys, idx(blockN)), /*addThenBlock=*/true,
                                /*addElseBlock=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(tail.elseBlock());
  issue(vLoaded(slot));
  scf::YieldOp::create(b, tails);
  // The sequence ends inside the block: its rows [keys, block-n) hold the
  // next sequence's values (or none's, past the last sequence, where TMA
  // zero-fills only past the tensor; of a paged cache, the page's other
  // rows, or what the slot held where no piece was loaded). P is 0 there,
  // but 0 * Inf or NaN is NaN: the warp waits for the load, zeroes those
  // rows of every slab (whole 128-byte rows, so the swizzle does not
  // matter), makes its writes visible to the async proxy that wgmma reads
  // with, and then signals "V loaded". "V tail staged" completes once per
  // such block: `tails` of them before this one, whose count's parity is
  // the phase's.
  b.setInsertionPointToStart(tail.thenBlock());
  issue(vTailStaged());
  waitBarrier(vTailStaged(), arith::IndexCastUIOp::create(
                                 b, b.getIndexType(),
                                 arith::AndIOp::create(b, tails, i32(1))));
  // Lane l zeroes 16-byte chunk l % 8 of rows keys + l / 8, + 4, ... of
  // every slab.
  Value lane = rem(tid, idx(32));
  Value base = arith::AddIOp::create(
      b, smemBase,
      arith::AddIOp::create(
          b, i32(ringOffset),
          arith::IndexCastOp::create(
              b, b.getI32Type(),
              add(slotOffset, mul(rem(lane, idx(8)), idx(16))))));
  auto shared = LLVM::LLVMPointerType::get(b.getContext(), 3);
  Value zero = arith::ConstantOp::create(
      b, DenseElementsAttr::get(VectorType::get({4}, b.getI32Type()),
                                b.getI32IntegerAttr(0).getValue()));
  int64_t rowsPerStep = 32 / (kSlabRowBytes / 16);
  auto loop = scf::ForOp::create(b, add(keys, div(lane, idx(8))), idx(blockN),
                                 idx(rowsPerStep));
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(loop.getBody());
    Value rowAddress = arith::AddIOp::create(
        b, base,
        arith::MulIOp::create(b,
                              arith::IndexCastOp::create(
                                  b, b.getI32Type(), loop.getInductionVar()),
                              i32(kSlabRowBytes)));
    for (int64_t slab = 0; slab < valueDim / 64; ++slab)
      LLVM::StoreOp::create(
          b, zero,
          LLVM::IntToPtrOp::create(
              b, shared,
              arith::AddIOp::create(b, rowAddress,
                                    i32(slab * blockN * kSlabRowBytes))
                  .getResult()),
          /*alignment=*/16);
  }
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  NVVM::SyncWarpOp::create(b, i32(-1));
  asLeader([&]() {
    NVVM::MBarrierArriveOp::create(b, Type(), vLoaded(slot), Value());
  });
  scf::YieldOp::create(b, ValueRange{arith::AddIOp::create(b, tails, i32(1))});
  return tail.getResult(0);
}
