//===- HopperTiles.cpp - The persistent block's loop over tiles -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// A persistent hopper-ws block (HopperConfig::persistent) computes many
// tiles. Its producer warp walks them (emitPersistentTileLoop, KernelGrid)
// and hands each to the consumers through shared memory: tile t's
// coordinates go into tile slot t % tileSlots() and its Q into Q slot
// t % querySlots, both published by that Q slot's "Q loaded"; the
// producer reuses a Q slot once the consumers released its previous tile's
// Q. The consumers loop until a tile slot says no tile is left.
//
//===----------------------------------------------------------------------===//

#include "HopperKernelEmitter.h"
#include "KernelGrid.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

void HopperKernelEmitter::selectQuerySlot(Value tiles) {
  querySlot = b.createOrFold<arith::IndexCastUIOp>(
      b.getIndexType(),
      b.createOrFold<arith::AndIOp>(tiles, i32(config.querySlots - 1)));
}

void HopperKernelEmitter::selectQueryDescriptor() {
  qDesc = b.createOrFold<arith::AddIOp>(
      qSlot0Desc,
      b.createOrFold<arith::MulIOp>(
          b.createOrFold<arith::IndexCastUIOp>(b.getI64Type(), querySlot),
          arith::ConstantOp::create(b, b.getI64IntegerAttr(qSlotBytes >> 4))));
}

/// The parity of the phase of a Q slot's barriers that the `tiles`-th tile
/// of a persistent block waits for: tiles / querySlots % 2 (i32 in, index
/// out).
static Value getQuerySlotParity(ImplicitLocOpBuilder &b, Value tiles,
                                int64_t querySlots) {
  auto i32 = [&](int64_t value) {
    return arith::ConstantIntOp::create(b, b.getI32Type(), value);
  };
  Value uses =
      b.createOrFold<arith::ShRUIOp>(tiles, i32(llvm::Log2_64(querySlots)));
  return b.createOrFold<arith::IndexCastUIOp>(
      b.getIndexType(), b.createOrFold<arith::AndIOp>(uses, i32(1)));
}

Value HopperKernelEmitter::tileSlot(Value tiles, int64_t word) {
  // After the barriers: tileSlots() slots of kTileSlotWords i32, by the
  // tile's count modulo tileSlots().
  int64_t offset = qBytes + config.stages * (kSlotBytes + vSlotBytes) +
                   config.barriers() * 8;
  Value slot = arith::AndIOp::create(b, tiles, i32(config.tileSlots() - 1));
  Value address = arith::AddIOp::create(
      b, smemBase,
      arith::AddIOp::create(
          b, i32(offset + 4 * word),
          arith::MulIOp::create(b, slot,
                                i32(4 * HopperConfig::kTileSlotWords))));
  return LLVM::IntToPtrOp::create(
      b, LLVM::LLVMPointerType::get(b.getContext(), /*addressSpace=*/3),
      address);
}

void HopperKernelEmitter::emitProducerTiles() {
  Value leader = isProducerLeader();
  // The tile slot of the `tiles`-th tile, once the consumers released the
  // Q slot's previous tile (and so the tile slot's: its epilogue, which
  // reads the tile slot, comes before the consumers release the next Q);
  // then the arrival on the Q slot's "Q loaded" that publishes it. (A
  // fresh barrier's "previous phase", parity 1, counts as complete.)
  auto publish = [&](Value tiles, ArrayRef<Value> words,
                     function_ref<void()> arrive) {
    selectQuerySlot(tiles);
    Value parity = getQuerySlotParity(b, tiles, config.querySlots);
    waitBarrier(qReleased(), arith::XOrIOp::create(b, parity, idx(1)));
    auto ifOp = scf::IfOp::create(b, leader);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    for (auto [word, value] : llvm::enumerate(words))
      LLVM::StoreOp::create(b, value, tileSlot(tiles, word), /*alignment=*/4,
                            /*isVolatile=*/true);
    arrive();
  };
  TileSpace space = tile.isVarlen()
                        ? getVarlenTileSpace()
                        : getTileSpace(b, query, key, config.blockM);
  // Carried: the tiles published, then the producer's counts.
  SmallVector<Value> init{i32(0)};
  llvm::append_range(init, producerCounts());
  SmallVector<Value> results = emitPersistentTileLoop(
      b, function, space, config.blockM,
      config.pairsByHead   ? MaskedTileOrder::HeadPairs
      : config.pairedTiles ? MaskedTileOrder::Pairs
                           : MaskedTileOrder::Sections,
      init, [&](const TileCoordinates &coordinates, ValueRange values) {
        beginTile(coordinates);
        auto emitTile = [&]() -> SmallVector<Value> {
          Value tiles = values[0];
          publish(tiles,
                  {castIndexToI32(b, coordinates.tileIndex),
                   castIndexToI32(b, head), castIndexToI32(b, batch)},
                  [&]() { loadQ(); });
          SmallVector<Value> next{arith::AddIOp::create(b, tiles, i32(1))};
          llvm::append_range(next, emitProducer(values.drop_front()));
          return next;
        };
        SmallVector<Value> next;
        if (!tile.isVarlen()) {
          next = emitTile();
        } else {
          // The tiles past a sequence's end (the space covers the longest)
          // are skipped: not published, nothing loaded.
          auto live = scf::IfOp::create(
              b, values.getTypes(),
              arith::CmpIOp::create(b, arith::CmpIPredicate::sgt,
                                    cloner->uniform(tile.rows), idx(0)),
              /*addThenBlock=*/true, /*addElseBlock=*/true);
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPointToStart(live.elseBlock());
          scf::YieldOp::create(b, values);
          b.setInsertionPointToStart(live.thenBlock());
          scf::YieldOp::create(b, emitTile());
          next = live.getResults();
        }
        endTile();
        return next;
      });
  // No tile left: a negative tile index, and "Q loaded" without a load.
  publish(results[0], {i32(-1)}, [&]() {
    NVVM::MBarrierArriveOp::create(b, Type(), qLoaded(), Value());
  });
}

TileSpace HopperKernelEmitter::getVarlenTileSpace() {
  // The query tiles of the longest sequence: the producer warp reads the
  // B + 1 offsets (a lane every 32 sequences) and takes the maximum.
  Type i32Type = b.getI32Type();
  TileSpace space;
  space.batches = arith::IndexCastUIOp::create(
      b, i32Type, sub(b.createOrFold<memref::DimOp>(cuSeqlensQ, 0), idx(1)));
  space.heads = arith::IndexCastUIOp::create(
      b, i32Type, b.createOrFold<memref::DimOp>(query, 1));
  auto loop = scf::ForOp::create(
      b, arith::IndexCastUIOp::create(b, i32Type, rem(tid, idx(32))),
      space.batches, i32(32), ValueRange{i32(0)});
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value sequence = arith::IndexCastUIOp::create(b, b.getIndexType(),
                                                  loop.getInductionVar());
    Value first = memref::LoadOp::create(b, cuSeqlensQ, sequence);
    Value last = memref::LoadOp::create(b, cuSeqlensQ, add(sequence, idx(1)));
    scf::YieldOp::create(b, ValueRange{arith::MaxSIOp::create(
                                b, loop.getRegionIterArgs()[0],
                                arith::SubIOp::create(b, last, first))});
  }
  Value longest = reduceWarpI32(b, loop.getResult(0), /*max=*/true);
  space.queryTiles = arith::CeilDivSIOp::create(
      b, arith::MaxSIOp::create(b, longest, i32(0)), i32(config.blockM));
  // (beginTile takes each tile's lengths from the offsets.)
  space.qLength = space.kvLength = idx(0);
  return space;
}

void HopperKernelEmitter::emitConsumerTiles() {
  auto index = [&](Value v) {
    return arith::IndexCastOp::create(b, b.getIndexType(), v);
  };
  Type i32Type = b.getI32Type();
  auto loop =
      scf::WhileOp::create(b, TypeRange{b.getIndexType(), i32Type},
                           ValueRange{idx(0), i32(0)}, nullptr, nullptr);
  {
    // Wait for the next tile's Q (or for the end), then read its slot.
    OpBuilder::InsertionGuard g(b);
    Block *before = loop.getBeforeBody();
    b.setInsertionPointToStart(before);
    Value tiles = before->getArgument(1);
    selectQuerySlot(tiles);
    waitBarrier(qLoaded(), getQuerySlotParity(b, tiles, config.querySlots));
    Value tileIndex =
        LLVM::LoadOp::create(b, i32Type, tileSlot(tiles, 0), /*alignment=*/4,
                             /*isVolatile=*/true);
    Value more =
        arith::CmpIOp::create(b, arith::CmpIPredicate::sge, tileIndex, i32(0));
    scf::ConditionOp::create(b, more, before->getArguments());
  }
  OpBuilder::InsertionGuard g(b);
  Block *after = loop.getAfterBody();
  b.setInsertionPointToStart(after);
  Value tiles = after->getArgument(1);
  selectQuerySlot(tiles);
  selectQueryDescriptor();
  auto word = [&](int64_t w) {
    return index(LLVM::LoadOp::create(b, i32Type, tileSlot(tiles, w),
                                      /*alignment=*/4, /*isVolatile=*/true));
  };
  TileCoordinates coordinates;
  coordinates.tileIndex = word(0);
  coordinates.head = word(1);
  coordinates.batch = word(2);
  coordinates.qLength = b.createOrFold<memref::DimOp>(query, 2);
  coordinates.kvLength = b.createOrFold<memref::DimOp>(key, 2);
  coordinates.rowStart = mul(coordinates.tileIndex, idx(config.blockM));
  beginTile(coordinates);
  // The epilogue reads the slot again rather than keep the coordinates in
  // registers through the key loop (the producer rewrites the slot
  // tileSlots() tiles later, after the next tile of this tile's Q slot
  // released its Q).
  reloadTile = [&, word]() {
    batch = word(2);
    head = word(1);
    rowStart = mul(word(0), idx(config.blockM));
  };
  Value computed = emitConsumer(after->getArgument(0));
  reloadTile = nullptr;
  endTile();
  scf::YieldOp::create(
      b, ValueRange{computed, arith::AddIOp::create(b, tiles, i32(1))});
}
