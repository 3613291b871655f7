//===- RejectAttentionBackward.cpp - fa-reject-attention-backward ---------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Fails on the first fa.attention_backward, which no pipeline lowers yet, so
// that fa-lower-to-cpu reports it at the op instead of failing inside
// bufferization.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/Passes.h"
#include "fa/Dialect/FA/IR/FAOps.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FAREJECTATTENTIONBACKWARD
#include "fa/Conversion/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;
using namespace mlir::fa;

namespace {

struct RejectAttentionBackward
    : fa::impl::FARejectAttentionBackwardBase<RejectAttentionBackward> {
  void runOnOperation() override {
    WalkResult walk = getOperation()->walk([](AttentionBackwardOp op) {
      emitError(op.getLoc(),
                "fa.attention_backward has no CPU lowering yet (the "
                "backward pass is issue 14)");
      return WalkResult::interrupt();
    });
    if (walk.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
