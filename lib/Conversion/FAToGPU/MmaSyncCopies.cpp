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

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

void MmaSyncKernelEmitter::copyTileAsync(Value src, Value batch, Value head,
                                         Value rowStart, Value rowLimit,
                                         Value dst, Value dstOffset,
                                         int64_t rows, int64_t cols,
                                         const PackedRows &packed) {
  // Rows of `cols` elements, chunks XOR-swizzled with (row mod 8).
  copyRowTileAsync(
      b, tid, config.threads(), src, batch, head, rowStart, rowLimit, dst,
      dstOffset, rows, cols, /*rowPitch=*/cols,
      [&](Value row, Value chunk) { return swizzledBase(row, chunk, cols); },
      packed);
}

void MmaSyncKernelEmitter::copyKeyBlockAsync(Value src, Value kvStart,
                                             Value dst, Value dstOffset,
                                             int64_t cols,
                                             PagedBlockLookup *lookup) {
  if (!lookup) {
    copyTileAsync(src, batch, kvHead, kvStart, kvLength, dst, dstOffset,
                  config.blockN, cols);
    return;
  }
  copyPagedRowTileAsync(
      b, tid, config.threads(), src, *lookup, kvHead, dst, dstOffset, cols,
      /*rowPitch=*/cols,
      [&](Value row, Value chunk) { return swizzledBase(row, chunk, cols); });
}
