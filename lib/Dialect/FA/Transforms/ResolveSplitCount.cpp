//===- ResolveSplitCount.cpp - fa-resolve-split-count ---------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa.split_count -> the index arithmetic of its rule for a fixed number of
// concurrent blocks (include/fa/Runtime/KVSplits.h), for host code that
// launches nothing.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/FAOps.h"
#include "fa/Dialect/FA/Transforms/Passes.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FARESOLVESPLITCOUNT
#include "fa/Dialect/FA/Transforms/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;
using namespace mlir::fa;

Value mlir::fa::buildSplitCountRule(OpBuilder &b, Location loc, Value tiles,
                                    Value blocks, int64_t slots,
                                    int64_t maxSplits) {
  auto idx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v).getResult();
  };
  if (maxSplits <= 1)
    return idx(1);
  auto cmp = [&](arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y).getResult();
  };
  Value one = idx(1), slotCount = idx(slots);
  // chooseKVSplits: 1 when there is no tile, one key block or fewer, or
  // tiles enough to fill the slots; else min(slots / tiles, blocks, max),
  // at least 1.
  Value noSplit = arith::OrIOp::create(
      b, loc,
      arith::OrIOp::create(b, loc, cmp(arith::CmpIPredicate::eq, tiles, idx(0)),
                           cmp(arith::CmpIPredicate::ule, blocks, one)),
      cmp(arith::CmpIPredicate::uge, tiles, slotCount));
  Value divisor = arith::MaxUIOp::create(b, loc, tiles, one);
  Value wanted = arith::DivUIOp::create(b, loc, slotCount, divisor);
  Value count = arith::MinUIOp::create(
      b, loc, arith::MinUIOp::create(b, loc, wanted, blocks), idx(maxSplits));
  count = arith::MaxUIOp::create(b, loc, count, one);
  return arith::SelectOp::create(b, loc, noSplit, one, count);
}

namespace {

struct FAResolveSplitCountPass
    : public fa::impl::FAResolveSplitCountBase<FAResolveSplitCountPass> {
  using Base::Base;

  void runOnOperation() override {
    if (slots < 1) {
      emitError(getOperation().getLoc(), "slots must be at least 1, got ")
          << static_cast<int64_t>(slots);
      return signalPassFailure();
    }
    SmallVector<SplitCountOp> ops;
    getOperation().walk([&](SplitCountOp op) { ops.push_back(op); });
    for (SplitCountOp op : ops) {
      OpBuilder b(op);
      Value count =
          buildSplitCountRule(b, op.getLoc(), op.getTiles(), op.getBlocks(),
                              static_cast<int64_t>(slots), op.getMaxSplits());
      op.getResult().replaceAllUsesWith(count);
      op.erase();
    }
  }
};

} // namespace
