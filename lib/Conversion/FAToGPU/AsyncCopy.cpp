//===- AsyncCopy.cpp - cp.async row tiles, shared by the strategies -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "AsyncCopy.h"

#include <numeric>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::fa::detail;

namespace {
/// Index arithmetic at the builder's location, folded where constant.
struct IndexOps {
  ImplicitLocOpBuilder &b;
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(x, y); }
  Value sub(Value x, Value y) { return b.createOrFold<arith::SubIOp>(x, y); }
  Value mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(x, y); }
  Value lt(Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, x, y);
  }
  /// Emits `body` under `if (condition)`.
  void guarded(Value condition, function_ref<void()> body) {
    auto guard = scf::IfOp::create(b, condition);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(guard.thenBlock());
    body();
  }
};
} // namespace

/// `extent` elements of `src`'s buffer from element `offset`, as a 1-D view
/// with unit stride (what the chunk copies index).
static Value flatView(ImplicitLocOpBuilder &b, Value src,
                      memref::ExtractStridedMetadataOp meta, Value offset,
                      Value extent) {
  auto srcType = cast<MemRefType>(src.getType());
  auto flatType = MemRefType::get(
      {ShapedType::kDynamic}, srcType.getElementType(),
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, {1}),
      srcType.getMemorySpace());
  return memref::ReinterpretCastOp::create(
      b, flatType, meta.getBaseBuffer(), OpFoldResult(offset),
      ArrayRef<OpFoldResult>{extent},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
}

RowTileView mlir::fa::detail::buildRowTileView(ImplicitLocOpBuilder &b,
                                               Value src, Value batch,
                                               Value head, Value rowStart,
                                               Value rowLimit, int64_t cols,
                                               const PackedRows &packed) {
  IndexOps ops{b};
  auto add = [&](Value x, Value y) { return ops.add(x, y); };
  auto mul = [&](Value x, Value y) { return ops.mul(x, y); };
  auto idx = [&](int64_t v) { return ops.idx(v); };
  RowTileView view;
  auto meta = memref::ExtractStridedMetadataOp::create(b, src);
  view.rowStride = meta.getStrides()[2];
  view.headStride = meta.getStrides()[1];
  Value tileOffset =
      add(add(meta.getOffset(), mul(batch, meta.getStrides()[0])),
          add(mul(head, view.headStride), mul(rowStart, view.rowStride)));
  // The last row read: validRows - 1 rows on, or for a packed tile the
  // last position of the last head.
  Value lastRow;
  if (packed.heads > 1) {
    view.validRows = mul(packed.positions, idx(packed.heads));
    lastRow = add(mul(idx(packed.heads - 1), view.headStride),
                  mul(b.createOrFold<arith::SubIOp>(packed.positions, idx(1)),
                      view.rowStride));
  } else {
    view.validRows = b.createOrFold<arith::SubIOp>(rowLimit, rowStart);
    lastRow = mul(b.createOrFold<arith::SubIOp>(view.validRows, idx(1)),
                  view.rowStride);
  }
  view.tile = flatView(b, src, meta, tileOffset, add(lastRow, idx(cols)));
  return view;
}

void mlir::fa::detail::copyChunkAsync(ImplicitLocOpBuilder &b,
                                      const RowTileView &view, Value inBounds,
                                      Value srcIndex, Value dst,
                                      Value dstIndex) {
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value srcElements =
      b.createOrFold<arith::SelectOp>(inBounds, idx(kChunk), idx(0));
  Value clampedIndex =
      b.createOrFold<arith::SelectOp>(inBounds, srcIndex, idx(0));
  nvgpu::DeviceAsyncCopyOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst,
      ValueRange{dstIndex}, view.tile, ValueRange{clampedIndex},
      b.getIndexAttr(kChunk), srcElements, b.getUnitAttr());
}

/// The copy of a tile whose block of `threads` threads covers whole rows a
/// pass, `stride` = threads / chunks-per-row rows, a multiple of the
/// swizzle period: every copy of a thread is the same chunk of rows row0 +
/// pass * stride with the same swizzle phase. Its shared address is then
/// one per-thread value, `dstBase` (the thread's chunk of row0), plus a
/// constant, and `passSource(pass)` gives its source index (see the
/// callers). Rows at or past view.validRows copy nothing; rows past `rows`
/// (a last partial pass) are not copied.
static void copyUniformPasses(ImplicitLocOpBuilder &b, Value row0,
                              int64_t stride, int64_t rows, int64_t rowPitch,
                              const RowTileView &view, Value dst, Value dstBase,
                              function_ref<Value(int64_t pass)> passSource) {
  IndexOps ops{b};
  for (int64_t pass = 0; pass * stride < rows; ++pass) {
    // (Computed outside the last pass's guard: a caller may reuse what it
    // builds for the next copy.)
    Value srcIndex = passSource(pass);
    auto copy = [&]() {
      // row0 against a per-block bound: the per-pass rows row0 + pass *
      // stride would each be hoisted into a register.
      Value inBounds =
          ops.lt(row0, ops.sub(view.validRows, ops.idx(pass * stride)));
      copyChunkAsync(b, view, inBounds, srcIndex, dst,
                     ops.add(dstBase, ops.idx(pass * stride * rowPitch)));
    };
    if ((pass + 1) * stride <= rows)
      copy();
    else
      ops.guarded(ops.lt(row0, ops.idx(rows - pass * stride)), copy);
  }
}

void mlir::fa::detail::copyRowTileAsync(
    ImplicitLocOpBuilder &b, Value tid, int64_t threads, Value src, Value batch,
    Value head, Value rowStart, Value rowLimit, Value dst, Value dstOffset,
    int64_t rows, int64_t cols, int64_t rowPitch,
    function_ref<Value(Value row, Value chunk)> offsetOf,
    const PackedRows &packed) {
  IndexOps ops{b};
  auto idx = [&](int64_t v) { return ops.idx(v); };
  auto add = [&](Value x, Value y) { return ops.add(x, y); };
  auto mul = [&](Value x, Value y) { return ops.mul(x, y); };
  auto lt = [&](Value x, Value y) { return ops.lt(x, y); };
  auto guarded = [&](Value condition, function_ref<void()> body) {
    ops.guarded(condition, body);
  };
  int64_t chunksPerRow = cols / kChunk;
  int64_t total = rows * chunksPerRow;
  RowTileView view;
  auto buildTileView = [&]() {
    view = buildRowTileView(b, src, batch, head, rowStart, rowLimit, cols);
  };

  // Whole rows per pass (copyUniformPasses): the global address is the
  // tile's first row (block-uniform) + threadOffset + pass * stride *
  // rowStride. ptxas can keep block-uniform values in uniform registers,
  // outside the 255.
  int64_t stride = threads / chunksPerRow;
  if (packed.heads == 1 && threads % chunksPerRow == 0 && stride % 8 == 0) {
    Value row0 = b.createOrFold<arith::DivUIOp>(tid, idx(chunksPerRow));
    Value chunk = b.createOrFold<arith::RemUIOp>(tid, idx(chunksPerRow));
    Value dstBase = add(dstOffset, offsetOf(row0, chunk));
    buildTileView();
    Value threadOffset =
        add(mul(row0, view.rowStride), mul(chunk, idx(kChunk)));
    copyUniformPasses(
        b, row0, stride, rows, rowPitch, view, dst, dstBase, [&](int64_t pass) {
          return add(threadOffset, mul(idx(pass * stride), view.rowStride));
        });
    return;
  }
  // Any other shape, and packed tiles: row r of a packed tile is row
  // r % n of head r / n (n positions a head).
  view =
      buildRowTileView(b, src, batch, head, rowStart, rowLimit, cols, packed);
  auto rowOffset = [&](Value row) {
    if (packed.heads == 1)
      return mul(row, view.rowStride);
    Value n = packed.positions;
    return add(mul(b.createOrFold<arith::DivUIOp>(row, n), view.headStride),
               mul(b.createOrFold<arith::RemUIOp>(row, n), view.rowStride));
  };
  for (int64_t first = 0; first < total; first += threads) {
    Value linear = add(tid, idx(first));
    auto copy = [&]() {
      Value row = b.createOrFold<arith::DivUIOp>(linear, idx(chunksPerRow));
      Value chunk = b.createOrFold<arith::RemUIOp>(linear, idx(chunksPerRow));
      Value inBounds = lt(row, view.validRows);
      Value srcIndex = add(rowOffset(row), mul(chunk, idx(kChunk)));
      copyChunkAsync(b, view, inBounds, srcIndex, dst,
                     add(dstOffset, offsetOf(row, chunk)));
    };
    if (first + threads <= total)
      copy();
    else
      guarded(lt(linear, idx(total)), copy);
  }
}

PagedBlockLookup::PagedBlockLookup(ImplicitLocOpBuilder &b,
                                   const PagedSource &pages, Value rowStart,
                                   Value rowLimit, int64_t rowAlignment,
                                   int64_t rows)
    : b(b), pages(pages), rowStart(rowStart), rowAlignment(rowAlignment),
      rows(rows) {
  validRows = b.createOrFold<arith::SubIOp>(rowLimit, rowStart);
  Value pageSize = idx(pages.pageSize);
  firstSlot = b.createOrFold<arith::DivUIOp>(rowStart, pageSize);
  firstRow = b.createOrFold<arith::RemUIOp>(rowStart, pageSize);
}

Value PagedBlockLookup::idx(int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}

Value PagedBlockLookup::load(Value slot, Value valid) {
  // Rows past the keys (`valid` false) read the sequence's first entry,
  // in use whenever a block is; their copies read nothing.
  Value clamped = b.createOrFold<arith::SelectOp>(valid, slot, idx(0));
  Value entry = memref::LoadOp::create(b, pages.blockTable,
                                       ValueRange{pages.sequence, clamped});
  return arith::IndexCastOp::create(b, b.getIndexType(), entry);
}

Value PagedBlockLookup::pageOfSlot(int64_t slotOffset) {
  Value &page = slots[slotOffset];
  if (page)
    return page;
  Value slot = b.createOrFold<arith::AddIOp>(firstSlot, idx(slotOffset));
  // The slot's first row, relative to rowStart, is below validRows.
  Value first = b.createOrFold<arith::SubIOp>(
      b.createOrFold<arith::MulIOp>(slot, idx(pages.pageSize)), rowStart);
  Value valid = slotOffset == 0
                    ? b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::sgt,
                                                    validRows, idx(0))
                    : b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt,
                                                    first, validRows);
  page = load(slot, valid);
  return page;
}

bool PagedBlockLookup::isOnePage() const {
  return pages.pageSize % rowAlignment == 0 && rows <= rowAlignment;
}

bool PagedBlockLookup::isUniform(int64_t stride) const {
  int64_t pageSize = pages.pageSize;
  return isOnePage() || (pageSize % stride == 0 && rowAlignment % stride == 0);
}

std::pair<Value, Value> PagedBlockLookup::rowsAt(int64_t offset) {
  // (Only the pages are kept for the next copy; the rows are cheap.)
  int64_t pageSize = pages.pageSize;
  if (isOnePage())
    // The whole block lies in one page.
    return {pageOfSlot(0),
            b.createOrFold<arith::AddIOp>(firstRow, idx(offset))};
  if (rowAlignment % pageSize == 0)
    // Blocks start on a page: row `offset` is in the block's page
    // offset / page_size.
    return {pageOfSlot(offset / pageSize), idx(offset % pageSize)};
  // Blocks start on a multiple of `group`, which divides the page size:
  // the `group` rows from there lie in one page, looked up once (a uniform
  // stride divides `group`).
  int64_t group = std::gcd(rowAlignment, pageSize);
  int64_t first = offset / group * group;
  Value &page = groups[first];
  if (!page)
    page = pageOf(b.createOrFold<arith::AddIOp>(rowStart, idx(first)),
                  b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt,
                                                idx(first), validRows));
  // (From the block's first row in its page: one value for every pass.)
  return {page, b.createOrFold<arith::RemUIOp>(
                    b.createOrFold<arith::AddIOp>(firstRow, idx(offset)),
                    idx(pageSize))};
}

Value PagedBlockLookup::pageOf(Value position, Value valid) {
  return load(b.createOrFold<arith::DivUIOp>(position, idx(pages.pageSize)),
              valid);
}

void mlir::fa::detail::copyPagedRowTileAsync(
    ImplicitLocOpBuilder &b, Value tid, int64_t threads, Value cache,
    PagedBlockLookup &lookup, Value head, Value dst, Value dstOffset,
    int64_t cols, int64_t rowPitch,
    function_ref<Value(Value row, Value chunk)> offsetOf) {
  IndexOps ops{b};
  auto idx = [&](int64_t v) { return ops.idx(v); };
  auto add = [&](Value x, Value y) { return ops.add(x, y); };
  auto sub = [&](Value x, Value y) { return ops.sub(x, y); };
  auto mul = [&](Value x, Value y) { return ops.mul(x, y); };
  auto lt = [&](Value x, Value y) { return ops.lt(x, y); };
  auto guarded = [&](Value condition, function_ref<void()> body) {
    ops.guarded(condition, body);
  };
  int64_t rows = lookup.getRows();
  // The cache [num_pages, page_size, H, D] as one flat run from its head.
  auto meta = memref::ExtractStridedMetadataOp::create(b, cache);
  Value pageStride = meta.getStrides()[0], rowStride = meta.getStrides()[1];
  Value headBase = add(meta.getOffset(), mul(head, meta.getStrides()[2]));
  RowTileView view;
  view.tile =
      flatView(b, cache, meta, headBase, mul(meta.getSizes()[0], pageStride));
  view.validRows = lookup.getValidRows();
  auto flatOffset = [&](Value page, Value rowInPage) {
    return add(mul(page, pageStride), mul(rowInPage, rowStride));
  };
  int64_t chunksPerRow = cols / kChunk;
  int64_t stride = threads / chunksPerRow;
  if (threads % chunksPerRow == 0 && stride % 8 == 0 &&
      lookup.isUniform(stride)) {
    // As copyRowTileAsync: a thread copies chunk `chunk` of rows row0 +
    // pass * stride, and the rows of a pass lie in one page, looked up
    // once for K and V.
    Value row0 = b.createOrFold<arith::DivUIOp>(tid, idx(chunksPerRow));
    Value chunk = b.createOrFold<arith::RemUIOp>(tid, idx(chunksPerRow));
    Value dstBase = add(dstOffset, offsetOf(row0, chunk));
    Value threadOffset = add(mul(row0, rowStride), mul(chunk, idx(kChunk)));
    // A block in one page: its first row's offset, then whole rows on.
    Value tileOffset;
    if (lookup.isOnePage()) {
      auto [page, rowInPage] = lookup.rowsAt(0);
      tileOffset = add(flatOffset(page, rowInPage), threadOffset);
    }
    // (Each pass's page is looked up outside the last pass's guard: the
    // next copy reuses it.)
    copyUniformPasses(
        b, row0, stride, rows, rowPitch, view, dst, dstBase, [&](int64_t pass) {
          if (tileOffset)
            return add(tileOffset, mul(idx(pass * stride), rowStride));
          auto [page, rowInPage] = lookup.rowsAt(pass * stride);
          return add(flatOffset(page, rowInPage), threadOffset);
        });
    return;
  }
  // Any other shape: the rows of one pass of the block's threads lie in
  // one page when the pages allow (looked up once), else each copy looks
  // its row's page up.
  int64_t total = rows * chunksPerRow;
  Value pageSize = idx(lookup.getPageSize());
  bool uniformPasses = threads % chunksPerRow == 0 && lookup.isUniform(stride);
  for (int64_t first = 0; first < total; first += threads) {
    Value linear = add(tid, idx(first));
    std::pair<Value, Value> passRows;
    if (uniformPasses)
      passRows = lookup.rowsAt(first / chunksPerRow);
    auto copy = [&]() {
      Value row = b.createOrFold<arith::DivUIOp>(linear, idx(chunksPerRow));
      Value chunk = b.createOrFold<arith::RemUIOp>(linear, idx(chunksPerRow));
      Value inBounds = lt(row, view.validRows);
      Value rowOffset;
      if (uniformPasses) {
        rowOffset = flatOffset(
            passRows.first,
            add(passRows.second, sub(row, idx(first / chunksPerRow))));
      } else {
        Value position = add(lookup.getRowStart(), row);
        rowOffset =
            flatOffset(lookup.pageOf(position, inBounds),
                       b.createOrFold<arith::RemUIOp>(position, pageSize));
      }
      Value srcIndex = add(rowOffset, mul(chunk, idx(kChunk)));
      copyChunkAsync(b, view, inBounds, srcIndex, dst,
                     add(dstOffset, offsetOf(row, chunk)));
    };
    if (first + threads <= total)
      copy();
    else
      guarded(lt(linear, idx(total)), copy);
  }
}
