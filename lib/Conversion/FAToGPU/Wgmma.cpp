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

SmallVector<Value>
mlir::fa::detail::emitWgmmaSS(ImplicitLocOpBuilder &b, ArrayRef<Value> acc,
                              Value descA, Value descB, int64_t n,
                              Type elementType, bool accumulate,
                              bool transposeA, bool transposeB) {
  int64_t m = n / 2;
  std::string asmString = llvm::formatv(
      "{{\n.reg .pred p;\nsetp.ne.b32 p, ${0}, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n{1}k16.f32.{2}.{2} {3}, ${4}, ${5}, "
      "p, 1, 1, {6}, {7};\n}",
      2 * m + 2, n, typeName(elementType), registerList(0, m), 2 * m, 2 * m + 1,
      transposeA ? 1 : 0, transposeB ? 1 : 0);
  Value scaleD =
      arith::ConstantOp::create(b, b.getI32IntegerAttr(accumulate ? 1 : 0));
  return emitTiedAsm(
      b, asmString, b.getF32Type(), "f",
      accumulatorOperands(b, accumulate ? acc : ArrayRef<Value>(), n),
      {descA, descB, scaleD}, {"l", "l", "r"});
}

SmallVector<Value> mlir::fa::detail::emitWgmmaRS(ImplicitLocOpBuilder &b,
                                                 ArrayRef<Value> acc,
                                                 ArrayRef<Value> a, Value descB,
                                                 int64_t n, Type elementType,
                                                 bool transposeB) {
  assert(a.size() == 4 && "the m64k16 A fragment is four registers");
  int64_t m = n / 2;
  // Always accumulates: scale-d is a predicate register set to true.
  std::string asmString = llvm::formatv(
      "{{\n.reg .pred p;\nsetp.ne.b32 p, ${0}, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n{1}k16.f32.{2}.{2} {3}, {4}, ${5}, "
      "p, 1, 1, {6};\n}",
      2 * m + 5, n, typeName(elementType), registerList(0, m),
      registerList(2 * m, 4), 2 * m + 4, transposeB ? 1 : 0);
  SmallVector<Value> extra(a);
  extra.push_back(descB);
  extra.push_back(arith::ConstantOp::create(b, b.getI32IntegerAttr(1)));
  return emitTiedAsm(b, asmString, b.getF32Type(), "f",
                     accumulatorOperands(b, acc, n), extra,
                     {"r", "r", "r", "r", "l", "r"});
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

void mlir::fa::detail::emitSlabTileLoad(ImplicitLocOpBuilder &b, Value map,
                                        Value bar, Value dst, ValueRange outer,
                                        int64_t rows, int64_t cols) {
  auto shared = LLVM::LLVMPointerType::get(b.getContext(), 3);
  auto cluster = LLVM::LLVMPointerType::get(b.getContext(), 7);
  for (int64_t slab = 0; slab < cols / 64; ++slab) {
    Value address = arith::AddIOp::create(
        b, dst,
        arith::ConstantOp::create(
            b, b.getI32IntegerAttr(slab * rows * kSlabRowBytes)));
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
