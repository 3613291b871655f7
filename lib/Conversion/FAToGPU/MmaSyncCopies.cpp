//===- MmaSyncCopies.cpp - cp.async copies of the mma.sync kernel ---------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The global-to-shared copies of the mma.sync kernel: rows of a [B, H, N, D]
// operand into a swizzled shared-memory tile with cp.async, zero-filling
// rows past the end without reading them.
//
//===----------------------------------------------------------------------===//

#include "MmaSyncKernelEmitter.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

void MmaSyncKernelEmitter::copyTileAsync(Value src, Value batch, Value head,
                                         Value rowStart, Value rowLimit,
                                         Value dst, Value dstOffset,
                                         int64_t rows, int64_t cols) {
  int64_t chunksPerRow = cols / kChunk;
  int64_t total = rows * chunksPerRow;
  int64_t threads = config.threads();
  RowTileView view;
  auto buildTileView = [&]() {
    view = buildRowTileView(b, src, batch, head, rowStart, rowLimit, cols);
  };
  auto emitCopy = [&](Value inBounds, Value srcIndex, Value dstIndex) {
    copyChunkAsync(b, view, inBounds, srcIndex, dst, dstIndex);
  };
  auto guarded = [&](Value condition, function_ref<void()> body) {
    auto guard = scf::IfOp::create(b, condition);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(guard.thenBlock());
    body();
  };

  // Whole rows per pass of the block, a multiple of the swizzle period:
  // every copy of a thread is the same chunk of rows row0 + pass * stride
  // with the same swizzle phase. Both of its addresses are then one
  // per-thread value plus terms that are the same for the whole block:
  // shared memory dstBase + constant; global memory the tile's first row
  // (block-uniform) + threadOffset + pass * stride * rowStride. ptxas can
  // keep block-uniform values in uniform registers, outside the 255.
  int64_t stride = threads / chunksPerRow;
  if (threads % chunksPerRow == 0 && stride % 8 == 0) {
    Value row0 = div(tid, idx(chunksPerRow));
    Value chunk = rem(tid, idx(chunksPerRow));
    Value dstBase = add(dstOffset, swizzledBase(row0, chunk, cols));
    buildTileView();
    Value threadOffset =
        add(mul(row0, view.rowStride), mul(chunk, idx(kChunk)));
    for (int64_t pass = 0; pass * stride < rows; ++pass) {
      auto copy = [&]() {
        // row0 against a per-block bound: the per-pass rows
        // row0 + pass * stride would each be hoisted into a register.
        Value inBounds = lt(row0, sub(view.validRows, idx(pass * stride)));
        Value srcIndex =
            add(threadOffset, mul(idx(pass * stride), view.rowStride));
        emitCopy(inBounds, srcIndex, add(dstBase, idx(pass * stride * cols)));
      };
      if ((pass + 1) * stride <= rows)
        copy();
      else
        guarded(lt(row0, idx(rows - pass * stride)), copy);
    }
    return;
  }
  buildTileView();
  for (int64_t first = 0; first < total; first += threads) {
    Value linear = add(tid, idx(first));
    auto copy = [&]() {
      Value row = div(linear, idx(chunksPerRow));
      Value chunk = rem(linear, idx(chunksPerRow));
      Value inBounds = lt(row, view.validRows);
      Value srcIndex = add(mul(row, view.rowStride), mul(chunk, idx(kChunk)));
      emitCopy(inBounds, srcIndex,
               add(dstOffset, swizzledBase(row, chunk, cols)));
    };
    if (first + threads <= total)
      copy();
    else
      guarded(lt(linear, idx(total)), copy);
  }
}
