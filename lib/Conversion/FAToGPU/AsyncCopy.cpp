//===- AsyncCopy.cpp - cp.async row tiles, shared by the strategies -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "AsyncCopy.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::fa::detail;

RowTileView mlir::fa::detail::buildRowTileView(ImplicitLocOpBuilder &b,
                                               Value src, Value batch,
                                               Value head, Value rowStart,
                                               Value rowLimit, int64_t cols,
                                               const PackedRows &packed) {
  auto add = [&](Value x, Value y) {
    return b.createOrFold<arith::AddIOp>(x, y);
  };
  auto mul = [&](Value x, Value y) {
    return b.createOrFold<arith::MulIOp>(x, y);
  };
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
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
  Value extent = add(lastRow, idx(cols));
  auto srcType = cast<MemRefType>(src.getType());
  auto tileType = MemRefType::get(
      {ShapedType::kDynamic}, srcType.getElementType(),
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, {1}),
      srcType.getMemorySpace());
  view.tile = memref::ReinterpretCastOp::create(
      b, tileType, meta.getBaseBuffer(), OpFoldResult(tileOffset),
      ArrayRef<OpFoldResult>{extent},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
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

void mlir::fa::detail::copyRowTileAsync(
    ImplicitLocOpBuilder &b, Value tid, int64_t threads, Value src, Value batch,
    Value head, Value rowStart, Value rowLimit, Value dst, Value dstOffset,
    int64_t rows, int64_t cols, int64_t rowPitch,
    function_ref<Value(Value row, Value chunk)> offsetOf,
    const PackedRows &packed) {
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto add = [&](Value x, Value y) {
    return b.createOrFold<arith::AddIOp>(x, y);
  };
  auto sub = [&](Value x, Value y) {
    return b.createOrFold<arith::SubIOp>(x, y);
  };
  auto mul = [&](Value x, Value y) {
    return b.createOrFold<arith::MulIOp>(x, y);
  };
  auto lt = [&](Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, x, y);
  };
  int64_t chunksPerRow = cols / kChunk;
  int64_t total = rows * chunksPerRow;
  RowTileView view;
  auto buildTileView = [&]() {
    view = buildRowTileView(b, src, batch, head, rowStart, rowLimit, cols);
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
  if (packed.heads == 1 && threads % chunksPerRow == 0 && stride % 8 == 0) {
    Value row0 = b.createOrFold<arith::DivUIOp>(tid, idx(chunksPerRow));
    Value chunk = b.createOrFold<arith::RemUIOp>(tid, idx(chunksPerRow));
    Value dstBase = add(dstOffset, offsetOf(row0, chunk));
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
        copyChunkAsync(b, view, inBounds, srcIndex, dst,
                       add(dstBase, idx(pass * stride * rowPitch)));
      };
      if ((pass + 1) * stride <= rows)
        copy();
      else
        guarded(lt(row0, idx(rows - pass * stride)), copy);
    }
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
