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

#include <map>

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

/// Where the rows of a paged cache are: key position p of sequence
/// `sequence` is row p % pageSize of page blockTable[sequence, p /
/// pageSize] (a memref<?x?xi32>).
struct PagedSource {
  Value blockTable, sequence;
  int64_t pageSize = 0;
};

/// The block table entries of one key block [rowStart, rowStart + rows)
/// of a paged sequence (rowStart a multiple of rowAlignment, rowLimit its
/// key count), each loaded once however many copies use it: the K and V
/// copies of a block share one lookup. Only the entries of pages holding a
/// row below rowLimit are read.
class PagedBlockLookup {
public:
  PagedBlockLookup(ImplicitLocOpBuilder &b, const PagedSource &pages,
                   Value rowStart, Value rowLimit, int64_t rowAlignment,
                   int64_t rows);

  /// Whether the whole block lies in one page.
  bool isOnePage() const;
  /// Whether the `stride` rows from each multiple of `stride` lie in one
  /// page.
  bool isUniform(int64_t stride) const;
  /// The page and the row in it of key rowStart + offset (offset a
  /// multiple of a stride for which isUniform holds).
  std::pair<Value, Value> rowsAt(int64_t offset);
  /// The page of key `position` (read at the first entry unless `valid`).
  Value pageOf(Value position, Value valid);

  Value getRowStart() const { return rowStart; }
  Value getValidRows() const { return validRows; }
  int64_t getRows() const { return rows; }
  int64_t getPageSize() const { return pages.pageSize; }

private:
  Value idx(int64_t v);
  Value load(Value slot, Value valid);
  /// The page in slot firstSlot + slotOffset of the sequence's table.
  Value pageOfSlot(int64_t slotOffset);

  ImplicitLocOpBuilder &b;
  PagedSource pages;
  Value rowStart, validRows, firstSlot, firstRow;
  int64_t rowAlignment, rows;
  /// Pages looked up by slot (relative to the block's first), and of each
  /// group of rows (blocks not aligned to their pages) by the group's first
  /// row offset.
  std::map<int64_t, Value> slots, groups;
};

/// copyRowTileAsync for a paged cache [num_pages, page_size, H, D]: the
/// block of `lookup` at `head`, each row read from its page.
void copyPagedRowTileAsync(
    ImplicitLocOpBuilder &b, Value tid, int64_t threads, Value cache,
    PagedBlockLookup &lookup, Value head, Value dst, Value dstOffset,
    int64_t cols, int64_t rowPitch,
    function_ref<Value(Value row, Value chunk)> offsetOf);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_ASYNCCOPY_H
