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

/// A packed GQA tile (`packed.heads` > 1) reads `packed.positions` rows
/// from rowStart of each of the heads from `head`, head-major: tile row r
/// is row rowStart + r % positions of head `head + r / positions`; rows at
/// or past heads * positions are zero-filled (rowLimit is unused).
struct PackedRows {
  int64_t heads = 1;
  Value positions;
};

/// src[batch, head, rowStart:rowLimit, :] as a flat 1-D view `tile`, with
/// `rowStride` elements between rows (`headStride` between heads) and
/// `validRows` rows in bounds; a packed tile's view spans its heads.
struct RowTileView {
  Value tile, rowStride, headStride, validRows;
};
RowTileView buildRowTileView(ImplicitLocOpBuilder &b, Value src, Value batch,
                             Value head, Value rowStart, Value rowLimit,
                             int64_t cols, const PackedRows &packed = {});

/// One 16-byte chunk from element `srcIndex` of the view to element
/// `dstIndex` of the shared buffer `dst`. Out-of-bounds rows copy 0 bytes
/// (zero-fill) from a valid address, the view's first element.
void copyChunkAsync(ImplicitLocOpBuilder &b, const RowTileView &view,
                    Value inBounds, Value srcIndex, Value dst, Value dstIndex);

/// cp.async of rows [rowStart, rowStart + rows) of src[batch, head, :, :]
/// (`cols` columns) into a swizzled shared tile at element `dstOffset` of
/// `dst`, by the `threads` threads of the block (`tid`): `offsetOf(row,
/// chunk)` is the element offset in the tile of 16-byte chunk `chunk` of
/// `row`, and the tile's swizzle repeats every 8 rows, `rowPitch` elements
/// apart. Rows at or past `rowLimit` are zero-filled and read nothing.
/// `packed`: see PackedRows.
void copyRowTileAsync(ImplicitLocOpBuilder &b, Value tid, int64_t threads,
                      Value src, Value batch, Value head, Value rowStart,
                      Value rowLimit, Value dst, Value dstOffset, int64_t rows,
                      int64_t cols, int64_t rowPitch,
                      function_ref<Value(Value row, Value chunk)> offsetOf,
                      const PackedRows &packed = {});

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_ASYNCCOPY_H
