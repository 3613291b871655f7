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
  int64_t chunksPerRow = cols / kChunk;
  int64_t threads = config.threads();
  RowTileView view =
      buildRowTileView(b, src, batch, head, rowStart, rowLimit, cols);
  auto guarded = [&](Value condition, function_ref<void()> body) {
    auto guard = scf::IfOp::create(b, condition);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(guard.thenBlock());
    body();
  };
  // Whole rows per pass, a multiple of the swizzle period: a thread copies
  // the same chunk of rows row0 + pass * stride, all with the same swizzle
  // phase, so both addresses are one per-thread value plus constants and
  // block-uniform terms.
  int64_t stride = threads / chunksPerRow;
  if (threads % chunksPerRow == 0 && stride % 8 == 0) {
    Value row0 = div(tid, idx(chunksPerRow));
    Value chunk = rem(tid, idx(chunksPerRow));
    Value dstBase = add(dstOffset, slabOffset(row0, chunk, rows));
    Value threadOffset =
        add(mul(row0, view.rowStride), mul(chunk, idx(kChunk)));
    for (int64_t pass = 0; pass * stride < rows; ++pass) {
      auto copy = [&]() {
        Value inBounds = lt(row0, sub(view.validRows, idx(pass * stride)));
        Value srcIndex =
            add(threadOffset, mul(idx(pass * stride), view.rowStride));
        copyChunkAsync(b, view, inBounds, srcIndex, dst,
                       add(dstBase, idx(pass * stride * 64)));
      };
      if ((pass + 1) * stride <= rows)
        copy();
      else
        guarded(lt(row0, idx(rows - pass * stride)), copy);
    }
    return;
  }
  int64_t total = rows * chunksPerRow;
  for (int64_t first = 0; first < total; first += threads) {
    Value linear = add(tid, idx(first));
    auto copy = [&]() {
      Value row = div(linear, idx(chunksPerRow));
      Value chunk = rem(linear, idx(chunksPerRow));
      Value srcIndex = add(mul(row, view.rowStride), mul(chunk, idx(kChunk)));
      copyChunkAsync(b, view, lt(row, view.validRows), srcIndex, dst,
                     add(dstOffset, slabOffset(row, chunk, rows)));
    };
    if (first + threads <= total)
      copy();
    else
      guarded(lt(linear, idx(total)), copy);
  }
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
