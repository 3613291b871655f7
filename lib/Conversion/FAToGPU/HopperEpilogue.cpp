//===- HopperEpilogue.cpp - O and LSE of the wgmma kernel's rows ----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The epilogue of a consumer warpgroup of the `hopper-ws` kernel: its 64
// rows of O / l and their LSE. A thread's accumulators are pairs of
// columns of two rows (the m64nN layout): stored as they are, each warp's
// store writes 16 bytes of each of 8 rows. Staged (HopperConfig::
// outputStaging), the warpgroup first writes its rows into shared memory,
// in the slab layout of the Q tile (slabs of 64 columns, rows of 128
// bytes, the 16-byte piece p of row r at p ^ (r % 8), so that neither the
// pairs' writes nor the pieces' reads conflict on a bank), then each thread
// reads 16-byte pieces of whole rows and stores them: a warp's store
// writes 512 contiguous bytes of O (two rows at D = 128).
//
//===----------------------------------------------------------------------===//

#include "HopperKernelEmitter.h"
#include "KernelEpilogue.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

void HopperKernelEmitter::syncWarpgroup() {
  Value id = arith::IndexCastOp::create(
      b, b.getI32Type(), add(warpgroup, idx(1 + config.warpgroups())));
  NVVM::BarrierOp::create(b, Type(), id, i32(128), NVVM::BarrierReductionAttr(),
                          Value());
}

void HopperKernelEmitter::emitEpilogue(const HopperState &state) {
  if (config.outputStaging != HopperConfig::OutputStaging::Registers) {
    emitStagedEpilogue(state);
    return;
  }
  OutputRows rows{output,  lse,     batch,         head,
                  qLength, Value(), threadInGroup, elementType};
  Value rowBase =
      add(rowStart, add(add(mul(warpgroup, idx(64)), mul(warpInGroup, idx(16))),
                        groupId));
  for (int64_t h = 0; h < 2; ++h) {
    SoftmaxRowResult result = finishSoftmaxRow(b, state.rows[h], scoreScale);
    // Accumulator 4d + 2h + e: row g + 8h, column 8d + 2c + e.
    emitOutputRow(
        b, rows, add(rowBase, idx(8 * h)), result, valueDim,
        [&](int64_t d, int64_t e) { return state.acc[4 * d + 2 * h + e]; });
  }
}

void HopperKernelEmitter::emitStagedEpilogue(const HopperState &state) {
  // The i32 shared address `byteOffset` (index) past the aligned base, and
  // a pointer to an i32 shared address.
  auto sharedAddress = [&](Value byteOffset) -> Value {
    return arith::AddIOp::create(
        b, smemBase,
        b.createOrFold<arith::IndexCastOp>(b.getI32Type(), byteOffset));
  };
  auto sharedPointer = [&](Value address) -> Value {
    return LLVM::IntToPtrOp::create(
        b, LLVM::LLVMPointerType::get(b.getContext(), /*addressSpace=*/3),
        address);
  };
  int64_t tileOffset =
      config.outputStaging == HopperConfig::OutputStaging::OwnTile
          ? getHopperOutputTileOffset(spec, config)
          : 0;
  int64_t slabBytes = config.blockM * kSlabRowBytes;
  Value groupRow = mul(warpgroup, idx(64));
  // Row r of the tile, 16-byte piece `piece` (8 columns) of it.
  auto pieceOffset = [&](Value r, Value piece) {
    Value slab = div(piece, idx(8));
    Value swizzled =
        b.createOrFold<arith::XOrIOp>(rem(piece, idx(8)), rem(r, idx(8)));
    return add(add(idx(tileOffset), mul(slab, idx(slabBytes))),
               add(mul(r, idx(kSlabRowBytes)), mul(swizzled, idx(16))));
  };

  // The warpgroup's earlier accesses to these rows are done: its Q
  // operands (its last MMA has been waited for), or a persistent block's
  // copy of its previous tile (with TMA: once its stores have read it).
  if (config.storesOutputWithTma() && config.persistent)
    waitForOutputStores();
  syncWarpgroup();
  OutputRows rows{output,  lse,     batch,         head,
                  qLength, Value(), threadInGroup, elementType};
  Value threadRow =
      add(groupRow, add(mul(warpInGroup, idx(16)), groupId)); // r % 8 = g
  // Piece d of row r lies at (r * 128 + 16 (d % 8 ^ g)) = (r * 128 + 16 g)
  // ^ 16 (d % 8) in its slab: the base, the slab, the row's 8 h and the
  // lane's pair add no bit the XOR changes, so each pair's address is the
  // thread's one base with a constant XORed in and constants added (one
  // register, as the stores to O from registers use).
  Value threadBase = sharedAddress(
      add(idx(tileOffset),
          add(mul(threadRow, idx(kSlabRowBytes)),
              add(mul(groupId, idx(16)), mul(threadInGroup, idx(4))))));
  auto pairType = VectorType::get({2}, elementType);
  for (int64_t h = 0; h < 2; ++h) {
    SoftmaxRowResult result = finishSoftmaxRow(b, state.rows[h], scoreScale);
    Value r = add(threadRow, idx(8 * h));
    // Accumulator 4d + 2h + e: row g + 8h, column 8d + 2c + e, in piece d.
    for (int64_t d = 0; d < valueDim / 8; ++d) {
      Value lo =
          arith::MulFOp::create(b, state.acc[4 * d + 2 * h], result.inverseSum);
      Value hi = arith::MulFOp::create(b, state.acc[4 * d + 2 * h + 1],
                                       result.inverseSum);
      Value pair = arith::TruncFOp::create(
          b, pairType,
          vector::FromElementsOp::create(
              b, VectorType::get({2}, b.getF32Type()), ValueRange{lo, hi}));
      Value at = b.createOrFold<arith::XOrIOp>(threadBase, i32(16 * (d % 8)));
      at = b.createOrFold<arith::AddIOp>(
          at, i32((d / 8) * slabBytes + 8 * h * kSlabRowBytes));
      LLVM::StoreOp::create(b, pair, sharedPointer(at), /*alignment=*/4);
    }
    Value row = add(rowStart, r);
    auto valid = scf::IfOp::create(b, lt(row, qLength));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(valid.thenBlock());
    emitRowLse(b, rows, head, row, result.lse);
  }
  if (config.storesOutputWithTma()) {
    // The rows, visible to the async proxy that TMA reads them with.
    NVVM::FenceProxyOp::create(
        b, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
  }
  syncWarpgroup();
  Value t = rem(tid, idx(128));
  if (config.storesOutputWithTma()) {
    // The warpgroup's first thread stores a box of its 64 rows per slab
    // (coordinates innermost first: column, row, head, batch); TMA writes
    // none of the rows past Nq (outside the map).
    Value firstRow = add(rowStart, groupRow);
    Value issues = arith::AndIOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, t, idx(0)),
        lt(firstRow, qLength));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(scf::IfOp::create(b, issues).thenBlock());
    emitSlabTileStore(
        b, oMap,
        sharedAddress(add(idx(tileOffset), mul(groupRow, idx(kSlabRowBytes)))),
        {castIndexToI32(b, firstRow), castIndexToI32(b, head),
         castIndexToI32(b, batch)},
        slabBytes, valueDim);
    return;
  }

  // Round i: piece p = 128 i + t of the warpgroup's 64 rows, row-major,
  // read from the tile and stored to O whole. (16-byte stores: O's rows
  // must be 16-byte aligned, which the kernel ABI asks of O as TMA does of
  // Q, K and V, and which the runtimes' O has.) Where a round covers a
  // whole number of rows, R of them, a thread reads piece t % (pieces per
  // row) of its rows r0 + i R; with R a multiple of 8 or 4, (r0 + i R) % 8
  // is r0 % 8 XOR i R % 8, so that every round's address is the first's
  // with constants XORed in and added (the addresses stay out of the
  // registers that a persistent block's tile loop carries).
  int64_t piecesPerRow = valueDim / 8;
  int64_t rounds = 64 * piecesPerRow / 128;
  auto pieceType = VectorType::get({8}, elementType);
  bool fixedPiece = 128 % piecesPerRow == 0;
  int64_t rowsPerRound = fixedPiece ? 128 / piecesPerRow : 0;
  bool xorRounds = fixedPiece && (rowsPerRound % 8 == 0 || rowsPerRound == 4);
  Value firstAddress;
  if (xorRounds)
    firstAddress = sharedAddress(pieceOffset(
        add(groupRow, div(t, idx(piecesPerRow))), rem(t, idx(piecesPerRow))));
  for (int64_t i = 0; i < rounds; ++i) {
    Value p = add(idx(128 * i), t);
    Value r = add(groupRow, div(p, idx(piecesPerRow)));
    Value piece = rem(p, idx(piecesPerRow));
    Value row = add(rowStart, r);
    auto valid = scf::IfOp::create(b, lt(row, qLength));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(valid.thenBlock());
    Value address;
    if (xorRounds) {
      int64_t shift = i * rowsPerRound;
      address =
          b.createOrFold<arith::XOrIOp>(firstAddress, i32(16 * (shift % 8)));
      address =
          b.createOrFold<arith::AddIOp>(address, i32(shift * kSlabRowBytes));
    } else {
      address = sharedAddress(pieceOffset(r, piece));
    }
    Value values = LLVM::LoadOp::create(b, pieceType, sharedPointer(address),
                                        /*alignment=*/16);
    vector::StoreOp::create(b, values, output,
                            ValueRange{batch, head, row, mul(piece, idx(8))},
                            /*nontemporal=*/false, llvm::MaybeAlign(16));
  }
}

void HopperKernelEmitter::waitForOutputStores() {
  auto first =
      scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                 rem(tid, idx(128)), idx(0)));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(first.thenBlock());
  NVVM::CpAsyncBulkWaitGroupOp::create(b, 0, /*read=*/b.getUnitAttr());
}
