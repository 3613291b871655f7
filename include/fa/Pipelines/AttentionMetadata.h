//===- AttentionMetadata.h - What an fa.attention computes, as JSON -*- C++ -*-//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The `attention` object of the launch metadata: the attributes, captures
// and score_mod / mask_mod regions of the fa.attention a kernel was compiled
// from, in the format of docs/ProgrammableAttention.md. Runtimes that check
// kernels (fa-runner) build their reference from it, independently of the
// compiler's lowering.
//
//===----------------------------------------------------------------------===//

#ifndef FA_PIPELINES_ATTENTIONMETADATA_H
#define FA_PIPELINES_ATTENTIONMETADATA_H

#include "fa/Dialect/FA/IR/FAOps.h"

#include "llvm/Support/JSON.h"

namespace mlir::fa {

/// A score_mod / mask_mod region as JSON: its argument types and its ops,
/// values numbered in pre-order (arguments first, then each op's results
/// before the ops nested in it). Null for an empty region.
llvm::json::Value serializeModRegion(Region &region);

/// The `attention` object for `op`; `firstCaptureArgument` is the kernel
/// argument index of its first capture.
llvm::json::Object describeAttention(AttentionOp op,
                                     int64_t firstCaptureArgument);

/// The same for an fa.attention_backward (no LSE output: its LSE is an
/// input); its captures are kernel arguments from `firstCaptureArgument`.
llvm::json::Object describeAttentionBackward(AttentionBackwardOp op,
                                             int64_t firstCaptureArgument);

} // namespace mlir::fa

#endif // FA_PIPELINES_ATTENTIONMETADATA_H
