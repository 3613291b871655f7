//===- KernelGrid.cpp - Which tile a block computes -----------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "KernelGrid.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::fa::detail;

TileCoordinates
mlir::fa::detail::emitTileCoordinates(ImplicitLocOpBuilder &b,
                                      const ScoreFunction &function,
                                      Value query, Value key, int64_t blockM) {
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto sub = [&](Value x, Value y) {
    return b.createOrFold<arith::SubIOp>(x, y);
  };
  TileCoordinates tile;
  tile.tileIndex = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  if (function.getVisible())
    tile.tileIndex =
        sub(sub(gpu::GridDimOp::create(b, gpu::Dimension::x), idx(1)),
            tile.tileIndex);
  tile.head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  tile.batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  tile.qLength = b.createOrFold<memref::DimOp>(query, 2);
  tile.kvLength = b.createOrFold<memref::DimOp>(key, 2);
  tile.rowStart = b.createOrFold<arith::MulIOp>(tile.tileIndex, idx(blockM));
  return tile;
}

SmallVector<Value> mlir::fa::detail::emitPersistentTileLoop(
    ImplicitLocOpBuilder &b, const ScoreFunction &function, Value query,
    Value key, int64_t blockM, ValueRange init,
    function_ref<SmallVector<Value>(const TileCoordinates &, ValueRange)>
        body) {
  // The loop and the tile's coordinates are 32-bit (registers are short
  // in the producer; a 64-bit division is a call): the tile count is below
  // 2^31 for any tensor that fits in memory.
  auto i32 = [&](Value v) {
    return b.createOrFold<arith::IndexCastUIOp>(b.getI32Type(), v);
  };
  auto index = [&](Value v) {
    return b.createOrFold<arith::IndexCastUIOp>(b.getIndexType(), v);
  };
  auto c32 = [&](int32_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  };
  auto add = [&](Value x, Value y) {
    return b.createOrFold<arith::AddIOp>(x, y);
  };
  auto sub = [&](Value x, Value y) {
    return b.createOrFold<arith::SubIOp>(x, y);
  };
  auto mul = [&](Value x, Value y) {
    return b.createOrFold<arith::MulIOp>(x, y);
  };
  auto div = [&](Value x, Value y) {
    return b.createOrFold<arith::DivUIOp>(x, y);
  };
  auto rem = [&](Value x, Value y) {
    return b.createOrFold<arith::RemUIOp>(x, y);
  };
  auto blockId = [&](gpu::Dimension d) {
    return i32(gpu::BlockIdOp::create(b, d));
  };
  auto gridDim = [&](gpu::Dimension d) {
    return i32(gpu::GridDimOp::create(b, d));
  };
  using gpu::Dimension;
  Value gridX = gridDim(Dimension::x), gridY = gridDim(Dimension::y);
  Value first = add(blockId(Dimension::x),
                    mul(gridX, add(blockId(Dimension::y),
                                   mul(gridY, blockId(Dimension::z)))));
  Value stride = mul(mul(gridX, gridY), gridDim(Dimension::z));

  TileCoordinates tile;
  tile.qLength = b.createOrFold<memref::DimOp>(query, 2);
  tile.kvLength = b.createOrFold<memref::DimOp>(key, 2);
  Value queryTiles = i32(b.createOrFold<arith::CeilDivUIOp>(
      tile.qLength, arith::ConstantIndexOp::create(b, blockM)));
  Value heads = i32(b.createOrFold<memref::DimOp>(query, 1));
  Value batches = i32(b.createOrFold<memref::DimOp>(query, 0));
  Value units = mul(mul(queryTiles, heads), batches);

  auto loop = scf::ForOp::create(b, first, units, stride, init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value unit = loop.getInductionVar();
  Value rank = rem(unit, queryTiles);
  Value rest = div(unit, queryTiles);
  tile.head = index(rem(rest, heads));
  tile.batch = index(div(rest, heads));
  // Longest first under a mask, as emitTileCoordinates.
  if (function.getVisible())
    rank = sub(sub(queryTiles, c32(1)), rank);
  tile.tileIndex = index(rank);
  tile.rowStart = b.createOrFold<arith::MulIOp>(
      tile.tileIndex, arith::ConstantIndexOp::create(b, blockM));
  scf::YieldOp::create(b, body(tile, loop.getRegionIterArgs()));
  b.setInsertionPointAfter(loop);
  return loop.getResults();
}

TileCloner::Roots
mlir::fa::detail::getTileRoots(const TileCoordinates &coordinates,
                               const FusedAttentionTile &tile,
                               ValueRange arguments) {
  TileCloner::Roots roots;
  roots.batch = coordinates.batch;
  roots.head = coordinates.head;
  roots.tileIndex = coordinates.tileIndex;
  roots.bindKernelArguments(tile, arguments);
  return roots;
}
