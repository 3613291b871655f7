//===- AsyncCopy.h - cp.async row tiles, shared by the strategies -*- C++ -*-//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Rows of a [B, H, N, D] kernel operand as a flat view, and 16-byte cp.async
// copies from it that zero-fill rows past the end without reading them. The
// strategies place the chunks in their own shared-memory layouts.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_ASYNCCOPY_H
#define FA_LIB_CONVERSION_FATOGPU_ASYNCCOPY_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::fa::detail {

/// Elements of 16 bits per 16-byte chunk: the unit of cp.async, of one
/// ldmatrix row and of the shared-memory swizzles.
inline constexpr int64_t kChunk = 8;

/// src[batch, head, rowStart:rowLimit, :] as a flat 1-D view `tile`, with
/// `rowStride` elements between rows and `validRows` rows in bounds.
struct RowTileView {
  Value tile, rowStride, validRows;
};
RowTileView buildRowTileView(ImplicitLocOpBuilder &b, Value src, Value batch,
                             Value head, Value rowStart, Value rowLimit,
                             int64_t cols);

/// One 16-byte chunk from element `srcIndex` of the view to element
/// `dstIndex` of the shared buffer `dst`. Out-of-bounds rows copy 0 bytes
/// (zero-fill) from a valid address, the view's first element.
void copyChunkAsync(ImplicitLocOpBuilder &b, const RowTileView &view,
                    Value inBounds, Value srcIndex, Value dst, Value dstIndex);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_ASYNCCOPY_H
