//===- ModRegions.h - score_mod / mask_mod regions of fa.attention -*- C++ -*-//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The rules of the `score_mod` and `mask_mod` regions of `fa.attention`
// (docs/ProgrammableAttention.md), shared by the op verifier, the passes
// that clone the regions and the writers of launch metadata.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_IR_MODREGIONS_H
#define FA_DIALECT_FA_IR_MODREGIONS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Region.h"
#include "mlir/Support/LLVM.h"

namespace mlir::fa {

/// Which region of fa.attention.
enum class ModKind { Score, Mask };

/// "score_mod" or "mask_mod".
StringRef getModName(ModKind kind);

/// Number of leading block arguments before the captures: 5 for score_mod
/// (score, b, h, q_idx, kv_idx), 4 for mask_mod (b, h, q_idx, kv_idx).
unsigned getNumModIndexArguments(ModKind kind);

/// Element types a capture may have (not `index`: its width is no ABI).
bool isSupportedCaptureElementType(Type type);

/// Whether `op` (by name) may appear inside a score_mod / mask_mod region:
/// the side-effect-free scalar arith and math ops, tensor.extract and
/// tensor.dim, scf.if / scf.yield and fa.yield. Operand and result checks
/// are separate (verifyModRegion).
bool isAllowedInModRegion(Operation *op);

/// Checks one region (empty is fine): its block arguments against
/// `expectedArguments`, its terminator yields one value of `yieldType`, and
/// every nested op is allowed, scalar, and reads only capture arguments.
/// Diagnostics go to `owner` (or the offending nested op) and name the op.
LogicalResult verifyModRegion(Operation *owner, Region &region, ModKind kind,
                              TypeRange expectedArguments, Type yieldType);

/// An index of a tensor.extract, defined by a constant op, that is negative
/// or past its tensor's static size, or such a dimension of a tensor.dim
/// outside its tensor's rank: a read outside the capture (or its sizes),
/// which no kernel may make, even in a branch that never runs. Returns what
/// is wrong, or an empty string for any other op and when every constant
/// index is in bounds. Computed indices and dynamic sizes are not checked
/// (the GPU kernels do not either: such a read is undefined).
std::string describeOutOfBoundsIndex(Operation *op);

/// The captures and regions of `owner` (fa.attention or
/// fa.attention_backward, whose regions have one signature): each capture's
/// element type, at least one region to read captures, and both regions
/// against their signatures (verifyModRegion).
LogicalResult verifyCaptures(Operation *owner, ValueRange captures,
                             bool hasRegion);
LogicalResult verifyModRegions(Operation *owner, Region &scoreMod,
                               Region &maskMod, TypeRange captures);

/// Clones the body of a non-empty score_mod / mask_mod region at the
/// builder's insertion point with its block arguments replaced by
/// `arguments` (same count) and returns the value its fa.yield yields.
Value cloneModRegion(OpBuilder &builder, Region &region, ValueRange arguments);

} // namespace mlir::fa

#endif // FA_DIALECT_FA_IR_MODREGIONS_H
