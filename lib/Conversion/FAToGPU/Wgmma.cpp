//===- Wgmma.cpp - Hopper warpgroup MMA emission --------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Wgmma.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/Support/FormatVariadic.h"

#include <cassert>

using namespace mlir;
using namespace mlir::fa::detail;

uint64_t mlir::fa::detail::getWgmmaDescriptorBits(int64_t leadingBytes,
                                                  int64_t strideBytes) {
  assert(leadingBytes % 16 == 0 && strideBytes % 16 == 0 &&
         "descriptor offsets are in units of 16 bytes");
  // Bits 16-29: leading byte offset >> 4; 32-45: stride byte offset >> 4;
  // 62-63: layout type, 1 = 128-byte swizzle (PTX ISA, "Matrix Descriptor
  // Format" of wgmma).
  uint64_t lbo = static_cast<uint64_t>(leadingBytes >> 4) & 0x3FFF;
  uint64_t sbo = static_cast<uint64_t>(strideBytes >> 4) & 0x3FFF;
  return (lbo << 16) | (sbo << 32) | (uint64_t{1} << 62);
}

Value mlir::fa::detail::makeWgmmaDescriptor(ImplicitLocOpBuilder &b,
                                            Value address, uint64_t bits) {
  Type i64 = b.getI64Type();
  Value start = arith::ShRUIOp::create(
      b, arith::ExtUIOp::create(b, i64, address),
      arith::ConstantOp::create(b, b.getI64IntegerAttr(4)));
  return arith::OrIOp::create(
      b, start,
      arith::ConstantOp::create(
          b, b.getI64IntegerAttr(static_cast<int64_t>(bits))));
}

Value mlir::fa::detail::offsetWgmmaDescriptor(ImplicitLocOpBuilder &b,
                                              Value descriptor,
                                              int64_t offsetBytes) {
  assert(offsetBytes % 16 == 0 && "wgmma operands start at 16-byte units");
  if (offsetBytes == 0)
    return descriptor;
  return arith::AddIOp::create(
      b, descriptor,
      arith::ConstantOp::create(b, b.getI64IntegerAttr(offsetBytes >> 4)));
}

SmallVector<int64_t> mlir::fa::detail::getKMajorStepOffsets(int64_t depth,
                                                            int64_t rows) {
  SmallVector<int64_t> offsets;
  for (int64_t k = 0; k < depth / 16; ++k)
    offsets.push_back((k / 4) * rows * kSlabRowBytes + (k % 4) * 32);
  return offsets;
}

SmallVector<int64_t> mlir::fa::detail::getRowStepOffsets(int64_t depth) {
  SmallVector<int64_t> offsets;
  for (int64_t k = 0; k < depth / 16; ++k)
    offsets.push_back(k * 16 * kSlabRowBytes);
  return offsets;
}

/// A volatile llvm.inline_asm whose results are `outputs` registers of
/// `outputType`, tied to the first `outputs` operands, and the struct's
/// fields as values.
static SmallVector<Value>
emitTiedAsm(ImplicitLocOpBuilder &b, StringRef asmString, Type outputType,
            StringRef outputConstraint, ArrayRef<Value> tied,
            ArrayRef<Value> extra, ArrayRef<StringRef> extraConstraints) {
  int64_t outputs = tied.size();
  std::string constraints;
  llvm::raw_string_ostream os(constraints);
  for (int64_t i = 0; i < outputs; ++i)
    os << (i ? "," : "") << "=" << outputConstraint;
  for (int64_t i = 0; i < outputs; ++i)
    os << "," << i;
  for (StringRef c : extraConstraints)
    os << "," << c;
  SmallVector<Value> operands(tied);
  llvm::append_range(operands, extra);
  Type resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(outputs, outputType));
  Value result =
      LLVM::InlineAsmOp::create(b, b.getLoc(), resultType, operands, asmString,
                                constraints, /*has_side_effects=*/true,
                                /*is_align_stack=*/false,
                                LLVM::tailcallkind::TailCallKind::None,
                                /*asm_dialect=*/nullptr,
                                /*operand_attrs=*/nullptr)
          .getRes();
  SmallVector<Value> values;
  for (int64_t i = 0; i < outputs; ++i)
    values.push_back(
        LLVM::ExtractValueOp::create(b, result, ArrayRef<int64_t>{i}));
  return values;
}

/// "{$first, ..., $(first + count - 1)}".
static std::string registerList(int64_t first, int64_t count) {
  std::string list = "{";
  for (int64_t i = 0; i < count; ++i)
    list += llvm::formatv("{0}${1}", i ? ", " : "", first + i).str();
  return list + "}";
}

static StringRef typeName(Type elementType) {
  return elementType.isBF16() ? "bf16" : "f16";
}

/// Accumulator operands: the given values, or poison where the MMA
/// overwrites them (scale-d = 0).
static SmallVector<Value> accumulatorOperands(ImplicitLocOpBuilder &b,
                                              ArrayRef<Value> acc, int64_t n) {
  if (!acc.empty()) {
    assert(static_cast<int64_t>(acc.size()) == n / 2 &&
           "m64nN: N/2 per thread");
    return SmallVector<Value>(acc);
  }
  return SmallVector<Value>(n / 2, ub::PoisonOp::create(b, b.getF32Type()));
}

/// Whether `value` is the same in every iteration of `loop`: defined
/// outside it, or computed inside it by pure ops from such values.
static bool isInvariantIn(Operation *loop, Value value, int depth = 0) {
  if (!loop->isAncestor(value.getParentRegion()->getParentOp()))
    return true;
  Operation *def = value.getDefiningOp();
  if (!def || depth > 16 || !isPure(def) || def->getNumRegions() != 0)
    return false;
  return llvm::all_of(def->getOperands(), [&](Value operand) {
    return isInvariantIn(loop, operand, depth + 1);
  });
}

namespace {
/// A shared-memory operand of a chain of MMAs: the descriptor `base` moved
/// by offsets[k] bytes for MMA k. The moved descriptors are operands of the
/// statement under DescriptorMoves::Operands, and under AsPlaced where
/// `base` is the same in every iteration of the loop around the chain (or
/// there is no loop): LLVM hoists them out of the loop. Otherwise (AsPlaced
/// in a loop) `base` is the operand and each move is an add inside the
/// statement, next to its MMA, where ptxas saw it when each MMA was a
/// statement of its own.
class MovedDescriptor {
public:
  MovedDescriptor(ImplicitLocOpBuilder &b, Value base,
                  ArrayRef<int64_t> offsets, StringRef name,
                  DescriptorMoves moves)
      : offsets(offsets), name(name) {
    assert(llvm::all_of(offsets,
                        [](int64_t offset) { return offset % 16 == 0; }) &&
           "wgmma operands start at 16-byte units");
    Operation *loop = b.getInsertionBlock()->getParentOp();
    while (loop && !isa<LoopLikeOpInterface>(loop))
      loop = loop->getParentOp();
    movedInside = moves == DescriptorMoves::AsPlaced && loop &&
                  !isInvariantIn(loop, base);
    if (movedInside)
      operands.push_back(base);
    else
      for (int64_t offset : offsets)
        operands.push_back(offsetWgmmaDescriptor(b, base, offset));
  }

  /// Appends the operands (first at asm operand `first`) and their
  /// constraints.
  void append(int64_t first, SmallVectorImpl<Value> &values,
              SmallVectorImpl<StringRef> &constraints) {
    this->first = first;
    llvm::append_range(values, operands);
    constraints.append(operands.size(), "l");
  }

  /// Writes MMA k's move, if any, and returns its operand.
  std::string emit(llvm::raw_ostream &os, int64_t k) const {
    if (!movedInside)
      return llvm::formatv("${0}", first + k).str();
    if (offsets[k] == 0)
      return llvm::formatv("${0}", first).str();
    os << ".reg .b64 " << name << ";\nadd.s64 " << name << ", $" << first
       << ", " << (offsets[k] >> 4) << ";\n";
    return name.str();
  }

private:
  ArrayRef<int64_t> offsets;
  StringRef name;
  bool movedInside;
  SmallVector<Value> operands;
  int64_t first = -1;
};
} // namespace

/// The PTX of a chain of `steps` MMAs of shape m64n`n`k16 into the
/// accumulator registers $0..$(n/2 - 1), one scope per MMA as separate
/// statements had, so that ptxas sees the instructions in the same order:
/// `operands(os, k)` writes MMA k's descriptor moves and returns its A and
/// B operands; scale-d is a predicate true where operand `scale` is
/// nonzero, or, for the MMAs after the first when `laterAccumulate`, true
/// (the first overwrites, the others accumulate).
static std::string wgmmaChainAsm(
    int64_t steps, int64_t n, Type elementType, StringRef immediates,
    int64_t scale, bool laterAccumulate,
    llvm::function_ref<std::string(llvm::raw_ostream &, int64_t)> operands) {
  std::string text;
  llvm::raw_string_ostream os(text);
  bool setOne = laterAccumulate && steps > 1;
  if (setOne)
    os << "{\n.reg .b32 one;\n";
  std::string accumulators = registerList(0, n / 2);
  for (int64_t k = 0; k < steps; ++k) {
    os << "{\n";
    std::string ab = operands(os, k);
    std::string s = llvm::formatv("${0}", scale).str();
    if (setOne && k > 0) {
      if (k == 1)
        os << "mov.b32 one, 1;\n";
      s = "one";
    }
    os << ".reg .pred p;\nsetp.ne.b32 p, " << s << ", 0;\n";
    os << llvm::formatv("wgmma.mma_async.sync.aligned.m64n{0}k16.f32.{1}.{1} "
                        "{2}, {3}, p, 1, 1, {4};\n}",
                        n, typeName(elementType), accumulators, ab, immediates);
    if (k + 1 != steps)
      os << "\n";
  }
  if (setOne)
    os << "\n}";
  return text;
}

SmallVector<Value> mlir::fa::detail::emitWgmmaSS(
    ImplicitLocOpBuilder &b, ArrayRef<Value> acc, Value descA,
    ArrayRef<int64_t> offsetsA, Value descB, ArrayRef<int64_t> offsetsB,
    int64_t n, Type elementType, bool accumulate, bool transposeA,
    bool transposeB, DescriptorMoves moves) {
  int64_t steps = offsetsA.size();
  assert(steps > 0 && offsetsB.size() == offsetsA.size() &&
         "one A and one B offset per k-step");
  // Operands: the accumulators (outputs, then tied inputs), A's
  // descriptors, B's, the first MMA's scale-d. Inside a scope B's move
  // comes first, as LLVM ordered the two.
  int64_t m = n / 2;
  MovedDescriptor a(b, descA, offsetsA, "a", moves),
      bb(b, descB, offsetsB, "b", moves);
  SmallVector<Value> extra;
  SmallVector<StringRef> constraints;
  a.append(2 * m, extra, constraints);
  bb.append(2 * m + extra.size(), extra, constraints);
  int64_t scale = 2 * m + extra.size();
  extra.push_back(
      arith::ConstantOp::create(b, b.getI32IntegerAttr(accumulate ? 1 : 0)));
  constraints.push_back("r");
  std::string asmString = wgmmaChainAsm(
      steps, n, elementType,
      llvm::formatv("{0}, {1}", transposeA ? 1 : 0, transposeB ? 1 : 0).str(),
      scale, /*laterAccumulate=*/!accumulate,
      [&](llvm::raw_ostream &os, int64_t k) {
        std::string bOperand = bb.emit(os, k);
        return a.emit(os, k) + ", " + bOperand;
      });
  return emitTiedAsm(
      b, asmString, b.getF32Type(), "f",
      accumulatorOperands(b, accumulate ? acc : ArrayRef<Value>(), n), extra,
      constraints);
}

SmallVector<Value> mlir::fa::detail::emitWgmmaRS(
    ImplicitLocOpBuilder &b, ArrayRef<Value> acc, ArrayRef<Value> a,
    Value descB, ArrayRef<int64_t> offsetsB, int64_t n, Type elementType,
    bool transposeB, DescriptorMoves moves) {
  int64_t steps = offsetsB.size();
  assert(steps > 0 && static_cast<int64_t>(a.size()) == 4 * steps &&
         "the m64k16 A fragment is four registers per k-step");
  // Operands: the accumulators (outputs, then tied inputs), A's registers,
  // B's descriptors, scale-d (1: the RS form accumulates).
  int64_t m = n / 2;
  MovedDescriptor bb(b, descB, offsetsB, "b", moves);
  SmallVector<Value> extra(a);
  SmallVector<StringRef> constraints(a.size(), "r");
  bb.append(2 * m + extra.size(), extra, constraints);
  int64_t scale = 2 * m + extra.size();
  extra.push_back(arith::ConstantOp::create(b, b.getI32IntegerAttr(1)));
  constraints.push_back("r");
  std::string asmString = wgmmaChainAsm(
      steps, n, elementType, transposeB ? "1" : "0", scale,
      /*laterAccumulate=*/false, [&](llvm::raw_ostream &os, int64_t k) {
        std::string bOperand = bb.emit(os, k);
        return registerList(2 * m + 4 * k, 4) + ", " + bOperand;
      });
  return emitTiedAsm(b, asmString, b.getF32Type(), "f",
                     accumulatorOperands(b, acc, n), extra, constraints);
}

SmallVector<Value> mlir::fa::detail::fenceRegisters(ImplicitLocOpBuilder &b,
                                                    ArrayRef<Value> values) {
  if (values.empty())
    return {};
  Type type = values.front().getType();
  assert((type.isF32() || type.isInteger(32)) && "f32 or i32 registers");
  return emitTiedAsm(b, "", type, type.isF32() ? "f" : "r", values, {}, {});
}

void mlir::fa::detail::emitWgmmaFence(ImplicitLocOpBuilder &b) {
  NVVM::WgmmaFenceAlignedOp::create(b);
}

void mlir::fa::detail::emitWgmmaCommit(ImplicitLocOpBuilder &b) {
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
}

void mlir::fa::detail::emitWgmmaWait(ImplicitLocOpBuilder &b, int64_t pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(b, pending);
}

Value mlir::fa::detail::castIndexToI32(ImplicitLocOpBuilder &b, Value v) {
  return b.createOrFold<arith::IndexCastOp>(b.getI32Type(), v);
}

void mlir::fa::detail::emitSlabTileLoad(ImplicitLocOpBuilder &b, Value map,
                                        Value bar, Value dst, ValueRange outer,
                                        int64_t rows, int64_t cols,
                                        int64_t slabRows) {
  if (slabRows == 0)
    slabRows = rows;
  auto shared = LLVM::LLVMPointerType::get(b.getContext(), 3);
  auto cluster = LLVM::LLVMPointerType::get(b.getContext(), 7);
  for (int64_t slab = 0; slab < cols / 64; ++slab) {
    Value address = arith::AddIOp::create(
        b, dst,
        arith::ConstantOp::create(
            b, b.getI32IntegerAttr(slab * slabRows * kSlabRowBytes)));
    Value slabDst = LLVM::AddrSpaceCastOp::create(
        b, cluster, LLVM::IntToPtrOp::create(b, shared, address));
    SmallVector<Value> coordinates{
        arith::ConstantOp::create(b, b.getI32IntegerAttr(slab * 64))};
    llvm::append_range(coordinates, outer);
    NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
        b, slabDst, map, coordinates, bar, ValueRange(), Value(), Value(),
        NVVM::TMALoadMode::TILE,
        /*isCTAOnly=*/false, NVVM::CTAGroupKindAttr(), Value());
  }
}

void mlir::fa::detail::emitSlabTileStore(ImplicitLocOpBuilder &b, Value map,
                                         Value src, ValueRange outer,
                                         int64_t slabBytes, int64_t cols) {
  auto shared = LLVM::LLVMPointerType::get(b.getContext(), 3);
  for (int64_t slab = 0; slab < cols / 64; ++slab) {
    Value address = b.createOrFold<arith::AddIOp>(
        src,
        arith::ConstantOp::create(b, b.getI32IntegerAttr(slab * slabBytes)));
    SmallVector<Value> coordinates{
        arith::ConstantOp::create(b, b.getI32IntegerAttr(slab * 64))};
    llvm::append_range(coordinates, outer);
    NVVM::CpAsyncBulkTensorSharedCTAToGlobalOp::create(
        b, map, LLVM::IntToPtrOp::create(b, shared, address), coordinates,
        /*l2CacheHint=*/Value(), NVVM::TMAStoreMode::TILE,
        /*predicate=*/Value());
  }
  NVVM::CpAsyncBulkCommitGroupOp::create(b);
}

/// The suspend-time hint of mbarrier.try_wait, in nanoseconds.
static constexpr int32_t kWaitTicks = 10000000;

void mlir::fa::detail::emitMbarrierWait(ImplicitLocOpBuilder &b, Value bar,
                                        Value parity) {
  if (parity.getType().isIndex())
    parity = arith::IndexCastOp::create(b, b.getI32Type(), parity);
  NVVM::MBarrierTryWaitParityOp::create(
      b, bar, parity,
      arith::ConstantOp::create(b, b.getI32IntegerAttr(kWaitTicks)));
}
