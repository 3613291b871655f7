//===- ModRegions.cpp - score_mod / mask_mod regions of fa.attention ------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/ModRegions.h"
#include "fa/Dialect/FA/IR/FAOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::fa;

StringRef mlir::fa::getModName(ModKind kind) {
  return kind == ModKind::Score ? "score_mod" : "mask_mod";
}

unsigned mlir::fa::getNumModIndexArguments(ModKind kind) {
  return kind == ModKind::Score ? 5 : 4;
}

bool mlir::fa::isSupportedCaptureElementType(Type type) {
  if (auto integer = dyn_cast<IntegerType>(type))
    return integer.isSignless() &&
           llvm::is_contained({1u, 8u, 16u, 32u, 64u}, integer.getWidth());
  return type.isF16() || type.isBF16() || type.isF32() || type.isF64();
}

bool mlir::fa::isAllowedInModRegion(Operation *op) {
  // Every op here is side-effect free and has a scalar meaning that every
  // consumer (tiling, the GPU strategies, fa-runner's reference) implements.
  static const llvm::StringSet<> allowed = {
      // arith
      "arith.constant", "arith.addi", "arith.subi", "arith.muli",
      "arith.divsi", "arith.divui", "arith.ceildivsi", "arith.ceildivui",
      "arith.floordivsi", "arith.remsi", "arith.remui", "arith.minsi",
      "arith.minui", "arith.maxsi", "arith.maxui", "arith.andi", "arith.ori",
      "arith.xori", "arith.shli", "arith.shrsi", "arith.shrui", "arith.cmpi",
      "arith.select", "arith.index_cast", "arith.index_castui",
      "arith.extsi", "arith.extui", "arith.trunci", "arith.sitofp",
      "arith.uitofp", "arith.fptosi", "arith.fptoui", "arith.extf",
      "arith.truncf", "arith.addf", "arith.subf", "arith.mulf", "arith.divf",
      "arith.remf", "arith.negf", "arith.maximumf", "arith.minimumf",
      "arith.maxnumf", "arith.minnumf", "arith.cmpf",
      // math
      "math.absf", "math.absi", "math.ceil", "math.floor", "math.round",
      "math.roundeven", "math.trunc", "math.copysign", "math.fma",
      "math.sqrt", "math.rsqrt", "math.exp", "math.exp2", "math.expm1",
      "math.log", "math.log2", "math.log10", "math.log1p", "math.powf",
      "math.tanh", "math.sinh", "math.cosh", "math.sin", "math.cos",
      "math.tan", "math.atan", "math.atan2", "math.erf",
      // captures, control flow, terminator
      "tensor.extract", "tensor.dim", "scf.if", "scf.yield", "fa.yield"};
  return allowed.contains(op->getName().getStringRef());
}

/// The scalars a region may compute with: those of its captures, and
/// index. (Wider or narrower types, i128, f128 or f8, have no lowering on
/// every path: LLVM's NVPTX backend aborts on an i128 library call.)
static bool isScalar(Type type) {
  return isa<IndexType>(type) || isSupportedCaptureElementType(type);
}

/// The capture argument `value` reads, or null when it is not one.
static bool isCaptureArgument(Value value, Block &entry, unsigned firstCapture) {
  auto arg = dyn_cast<BlockArgument>(value);
  return arg && arg.getOwner() == &entry && arg.getArgNumber() >= firstCapture;
}

LogicalResult mlir::fa::verifyModRegion(Operation *owner, Region &region,
                                        ModKind kind,
                                        TypeRange expectedArguments,
                                        Type yieldType) {
  if (region.empty())
    return success();
  StringRef name = getModName(kind);
  Block &entry = region.front();
  unsigned indices = getNumModIndexArguments(kind);
  if (entry.getNumArguments() != expectedArguments.size())
    return owner->emitOpError()
           << name << " expects " << expectedArguments.size()
           << " block arguments ("
           << (kind == ModKind::Score ? "score: f32, " : "")
           << "b, h, q_idx, kv_idx: index, then one per capture), got "
           << entry.getNumArguments();
  for (auto [i, arg, expected] :
       llvm::enumerate(entry.getArguments(), expectedArguments)) {
    if (arg.getType() != expected)
      return owner->emitOpError()
             << "block argument #" << i << " of " << name << " has type "
             << arg.getType() << ", expected " << expected
             << (i >= indices ? " (the type of its capture)" : "");
  }

  auto yield = dyn_cast<YieldOp>(entry.getTerminator());
  if (!yield)
    return owner->emitOpError() << name << " must end with fa.yield";
  if (yield.getValue().getType() != yieldType)
    return yield.emitOpError()
           << "in " << name << " must yield " << yieldType << ", got "
           << yield.getValue().getType();

  WalkResult result = region.walk([&](Operation *op) -> WalkResult {
    if (!isAllowedInModRegion(op)) {
      op->emitOpError() << "is not allowed in the " << name << " of "
                        << owner->getName()
                        << ": only side-effect-free scalar "
                           "ops (arith, math, tensor.extract/tensor.dim of a "
                           "capture, scf.if) may appear there";
      return WalkResult::interrupt();
    }
    for (Type type : op->getResultTypes()) {
      if (!isScalar(type)) {
        op->emitOpError() << "in the " << name << " of " << owner->getName()
                          << " produces " << type
                          << "; only scalars (i1, i8, i16, i32, i64, "
                             "index, f16, bf16, f32, f64) are allowed";
        return WalkResult::interrupt();
      }
    }
    if (isa<tensor::ExtractOp, tensor::DimOp>(op) &&
        !isCaptureArgument(op->getOperand(0), entry, indices)) {
      op->emitOpError() << "in the " << name << " of " << owner->getName()
                        << " must read a capture (a "
                           "trailing block argument of the region)";
      return WalkResult::interrupt();
    }
    if (std::string wrong = describeOutOfBoundsIndex(op); !wrong.empty()) {
      op->emitOpError() << "in the " << name << " of " << owner->getName()
                        << " " << wrong;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

std::string mlir::fa::describeOutOfBoundsIndex(Operation *op) {
  std::string message;
  llvm::raw_string_ostream os(message);
  auto constantOf = [](Value value) -> std::optional<int64_t> {
    APInt constant;
    if (!matchPattern(value, m_ConstantInt(&constant)))
      return std::nullopt;
    return constant.getSExtValue();
  };
  if (auto dim = dyn_cast<tensor::DimOp>(op)) {
    std::optional<int64_t> index = constantOf(dim.getIndex());
    auto type = dyn_cast<RankedTensorType>(dim.getSource().getType());
    if (index && type && (*index < 0 || *index >= type.getRank()))
      os << "reads dimension " << *index << " of '" << type << "', of rank "
         << type.getRank();
    return message;
  }
  auto extract = dyn_cast<tensor::ExtractOp>(op);
  if (!extract)
    return message;
  RankedTensorType type = extract.getTensor().getType();
  for (auto [dim, index] : llvm::enumerate(extract.getIndices())) {
    std::optional<int64_t> position = constantOf(index);
    int64_t size = type.getDimSize(dim);
    if (!position ||
        (*position >= 0 && (ShapedType::isDynamic(size) || *position < size)))
      continue;
    os << "reads index " << *position << " of dimension " << dim << " of '"
       << type << "', outside the tensor";
    break;
  }
  return message;
}

Value mlir::fa::cloneModRegion(OpBuilder &builder, Region &region,
                               ValueRange arguments) {
  Block &body = region.front();
  assert(body.getNumArguments() == arguments.size() &&
         "one value per block argument");
  IRMapping mapping;
  mapping.map(body.getArguments(), arguments);
  for (Operation &op : body.without_terminator())
    builder.clone(op, mapping);
  return mapping.lookup(cast<YieldOp>(body.getTerminator()).getValue());
}

LogicalResult mlir::fa::verifyCaptures(Operation *owner, ValueRange captures,
                                       bool hasRegion) {
  for (auto [index, capture] : llvm::enumerate(captures)) {
    auto type = cast<RankedTensorType>(capture.getType());
    if (!isSupportedCaptureElementType(type.getElementType()))
      return owner->emitOpError("capture #")
             << index << " has element type " << type.getElementType()
             << "; captures hold i1, i8, i16, i32, i64, f16, bf16, f32 or f64";
  }
  if (!captures.empty() && !hasRegion)
    return owner->emitOpError("has ")
           << captures.size()
           << " captures but no score_mod or mask_mod region to read them";
  return success();
}

LogicalResult mlir::fa::verifyModRegions(Operation *owner, Region &scoreMod,
                                         Region &maskMod, TypeRange captures) {
  MLIRContext *ctx = owner->getContext();
  if (failed(verifyModRegion(
          owner, scoreMod, ModKind::Score,
          AttentionOp::getModArgumentTypes(ctx, /*forMask=*/false, captures),
          Float32Type::get(ctx))))
    return failure();
  return verifyModRegion(
      owner, maskMod, ModKind::Mask,
      AttentionOp::getModArgumentTypes(ctx, /*forMask=*/true, captures),
      IntegerType::get(ctx, 1));
}
