//===- KernelGrid.cpp - Which tile a block computes -----------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "KernelGrid.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

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
