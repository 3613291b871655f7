//===- ExpandPagedRows.cpp - fa-expand-paged-rows -------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa.paged_rows -> a tensor.generate that reads each row through the block
// table, for the CPU lowering (the GPU strategies read the op itself).
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/FAOps.h"
#include "fa/Dialect/FA/Transforms/Passes.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FAEXPANDPAGEDROWS
#include "fa/Dialect/FA/Transforms/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;
using namespace mlir::fa;

Value mlir::fa::expandPagedRows(OpBuilder &b, PagedRowsOp op) {
  Location loc = op.getLoc();
  auto type = cast<RankedTensorType>(op.getResult().getType());
  SmallVector<Value> dynamicSizes;
  if (type.isDynamicDim(0))
    dynamicSizes.push_back(op.getCount());
  Value pageSize = arith::ConstantIndexOp::create(b, loc, op.getPageSize());
  auto generate = tensor::GenerateOp::create(
      b, loc, type, dynamicSizes,
      [&](OpBuilder &nb, Location nl, ValueRange indices) {
        // Row r is key position start + r: page (start + r) / page_size of
        // the sequence's table row, at row (start + r) % page_size.
        Value position =
            arith::AddIOp::create(nb, nl, op.getStart(), indices[0]);
        Value slot = arith::DivUIOp::create(nb, nl, position, pageSize);
        Value inPage = arith::RemUIOp::create(nb, nl, position, pageSize);
        Value entry = tensor::ExtractOp::create(
            nb, nl, op.getBlockTable(), ValueRange{op.getSequence(), slot});
        Value page =
            arith::IndexCastOp::create(nb, nl, nb.getIndexType(), entry);
        Value element = tensor::ExtractOp::create(
            nb, nl, op.getCache(),
            ValueRange{page, inPage, op.getHead(), indices[1]});
        tensor::YieldOp::create(nb, nl, element);
      });
  return generate.getResult();
}

namespace {

struct FAExpandPagedRowsPass
    : public fa::impl::FAExpandPagedRowsBase<FAExpandPagedRowsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<PagedRowsOp> ops;
    getOperation().walk([&](PagedRowsOp op) { ops.push_back(op); });
    for (PagedRowsOp op : ops) {
      OpBuilder b(op);
      op.getResult().replaceAllUsesWith(expandPagedRows(b, op));
      op.erase();
    }
  }
};

} // namespace
