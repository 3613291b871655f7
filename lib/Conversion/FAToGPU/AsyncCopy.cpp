//===- AsyncCopy.cpp - cp.async row tiles, shared by the strategies -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "AsyncCopy.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

using namespace mlir;
using namespace mlir::fa::detail;

RowTileView mlir::fa::detail::buildRowTileView(ImplicitLocOpBuilder &b,
                                               Value src, Value batch,
                                               Value head, Value rowStart,
                                               Value rowLimit, int64_t cols) {
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
  Value tileOffset =
      add(add(meta.getOffset(), mul(batch, meta.getStrides()[0])),
          add(mul(head, meta.getStrides()[1]), mul(rowStart, view.rowStride)));
  view.validRows = b.createOrFold<arith::SubIOp>(rowLimit, rowStart);
  Value extent = add(mul(b.createOrFold<arith::SubIOp>(view.validRows, idx(1)),
                         view.rowStride),
                     idx(cols));
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
