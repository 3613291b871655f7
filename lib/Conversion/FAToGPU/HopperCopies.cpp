//===- HopperCopies.cpp - cp.async copies of the wgmma kernel -------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The global-to-shared copies of the hopper-ws kernel: rows of a
// [B, H, N, D] operand into the 128-byte-swizzled slabs wgmma reads
// (Wgmma.h), zero-filling rows past the end without reading them, and the
// K/V prefetch of a block.
//
//===----------------------------------------------------------------------===//

#include "HopperKernelEmitter.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

void HopperKernelEmitter::copyTile(Value src, Value batch, Value head,
                                   Value rowStart, Value rowLimit, Value dst,
                                   Value dstOffset, int64_t rows,
                                   int64_t cols) {
  // Slabs of 64 columns: 8 rows of one slab are 8 * 64 elements apart.
  copyRowTileAsync(
      b, tid, config.threads(), src, batch, head, rowStart, rowLimit, dst,
      dstOffset, rows, cols, /*rowPitch=*/64,
      [&](Value row, Value chunk) { return slabOffset(row, chunk, rows); });
}

void HopperKernelEmitter::prefetch(Value block) {
  int64_t blockN = config.blockN;
  auto inRange = scf::IfOp::create(b, lt(block, ranges.hi));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(inRange.thenBlock());
  if (classifier->hasPredicate()) {
    auto visible = scf::IfOp::create(b, classifier->mayBeVisible(block));
    b.setInsertionPointToStart(visible.thenBlock());
  }
  Value slot = rem(block, idx(config.stages));
  Value kvStart = mul(block, idx(blockN));
  copyTile(key, batch, kvHead, kvStart, kvLength, kRing,
           mul(slot, idx(blockN * headDim)), blockN, headDim);
  copyTile(value, batch, kvHead, kvStart, kvLength, vRing,
           mul(slot, idx(blockN * valueDim)), blockN, valueDim);
}
