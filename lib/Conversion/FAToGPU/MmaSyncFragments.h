//===- MmaSyncFragments.h - Fragments of m16n8k16 kernels -------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What every mma.sync kernel of the project builds its schedule from: index
// arithmetic, the lane's thread indices, the XOR-swizzled shared-memory
// tiles (rows of 16-byte chunks, chunk index XOR row mod 8) and their
// ldmatrix addressing, register fragments, and m16n8k16 MMAs with f32
// accumulators. The forward kernel (MmaSyncKernelEmitter) and the backward
// kernels (MmaSyncBackwardKernel.cpp) derive from it.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_MMASYNCFRAGMENTS_H
#define FA_LIB_CONVERSION_FATOGPU_MMASYNCFRAGMENTS_H

#include "AsyncCopy.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <array>

namespace mlir::fa::detail {

class MmaSyncFragments {
protected:
  MmaSyncFragments(ImplicitLocOpBuilder &b, Type elementType)
      : b(b), elementType(elementType) {}

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value i32(int32_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  }
  Value f32(float v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(x, y); }
  Value sub(Value x, Value y) { return b.createOrFold<arith::SubIOp>(x, y); }
  Value mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(x, y); }
  Value div(Value x, Value y) { return b.createOrFold<arith::DivUIOp>(x, y); }
  Value rem(Value x, Value y) { return b.createOrFold<arith::RemUIOp>(x, y); }
  Value ceilDiv(Value x, Value y) {
    return b.createOrFold<arith::CeilDivUIOp>(x, y);
  }
  Value minS(Value x, Value y) { return b.createOrFold<arith::MinSIOp>(x, y); }
  Value maxS(Value x, Value y) { return b.createOrFold<arith::MaxSIOp>(x, y); }
  Value lt(Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return b.createOrFold<arith::SelectOp>(c, x, y);
  }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value element(Value vec, int64_t i, int64_t j) {
    return vector::ExtractOp::create(b, vec, ArrayRef<int64_t>{i, j});
  }

  /// Rows [first, first + count) of a 2-D register fragment. (Built from
  /// row extracts/inserts: the LLVM lowering of n-D vectors handles those
  /// directly, unlike strided slices.)
  Value rows(Value frag, int64_t first, int64_t count) {
    auto type = cast<VectorType>(frag.getType());
    auto resultType =
        VectorType::get({count, type.getShape()[1]}, type.getElementType());
    Value result = ub::PoisonOp::create(b, resultType);
    for (int64_t r = 0; r < count; ++r)
      result = vector::InsertOp::create(
          b, vector::ExtractOp::create(b, frag, first + r), result, r);
    return result;
  }
  /// Stacks 2-D fragments along rows into a value of `type`.
  Value stack(VectorType type, ArrayRef<Value> parts) {
    Value result = ub::PoisonOp::create(b, type);
    int64_t row = 0;
    for (Value part : parts) {
      int64_t n = cast<VectorType>(part.getType()).getShape()[0];
      for (int64_t r = 0; r < n; ++r)
        result = vector::InsertOp::create(
            b, vector::ExtractOp::create(b, part, r), result, row++);
    }
    return result;
  }

  /// One ldmatrix.x4 at element `offset` of a flat ring, split into the
  /// m16n8k16 B fragments of two adjacent 8-wide n-tiles.
  std::array<Value, 2> loadBFragments(Value ring, Value offset,
                                      bool transpose) {
    Value frag = nvgpu::LdMatrixOp::create(
        b, VectorType::get({4, 2}, elementType), ring, ValueRange{offset},
        transpose, /*numTiles=*/4);
    return {rows(frag, 0, 2), rows(frag, 2, 2)};
  }
  /// The element offset, in a flat ring of rows of `rowLength` elements, of
  /// 16-byte chunk `firstChunk + 2 * step` of row `row + rowStep`, where
  /// `firstChunk` is 0 or 1, `row mod 8` is the swizzle phase and rowStep is
  /// a multiple of 8; `base` is swizzledBase(row, firstChunk) plus the slot.
  ///
  /// The swizzle XORs the low three bits of the chunk index. Chunks
  /// firstChunk and 2 * (step mod 4) share no bits, so the swizzled chunk is
  /// ((firstChunk ^ phase) ^ 2 * (step mod 4)) + 8 * (step / 4). Rows are a
  /// multiple of 64 elements, so the row and slot parts of `base` have no
  /// bits where that XOR acts: every step's address is `base` XOR a
  /// constant plus a constant, from one live register.
  Value swizzledStep(Value base, int64_t rowLength, int64_t step,
                     int64_t rowStep) {
    Value offset = base;
    if (int64_t xorBits = 2 * (step % 4) * kChunk)
      offset = b.createOrFold<arith::XOrIOp>(base, idx(xorBits));
    return add(offset, idx(8 * (step / 4) * kChunk + rowStep * rowLength));
  }
  /// Element offset of chunk `firstChunk` (0 or 1) of `row` in a swizzled
  /// flat tile of rows of `rowLength` elements.
  Value swizzledBase(Value row, Value firstChunk, int64_t rowLength) {
    assert(rowLength % (8 * kChunk) == 0 && "rows of whole swizzle periods");
    return add(mul(row, idx(rowLength)), swizzledColumn(row, firstChunk));
  }
  /// This lane's element offset, in ring slot `slot` of `slotRows` rows of
  /// `rowLength` elements, for an ldmatrix.x4 of a 16-row, 2-chunk square:
  /// lane l addresses row l mod 8 of matrix l / 8, whose high bit selects
  /// rows 8-15 and low bit the second chunk (`rowsFromHighBit`, for K),
  /// or the other way round (for V, read transposed).
  Value ringFragmentBase(Value slot, int64_t slotRows, int64_t rowLength,
                         bool rowsFromHighBit) {
    Value matrix = div(lane, idx(8));
    Value high = div(matrix, idx(2)), low = rem(matrix, idx(2));
    Value rowHalf = rowsFromHighBit ? high : low;
    Value chunk = rowsFromHighBit ? low : high;
    Value row = add(mul(rowHalf, idx(8)), rem(lane, idx(8)));
    return add(mul(slot, idx(slotRows * rowLength)),
               swizzledBase(row, chunk, rowLength));
  }
  /// acc += a * bFrag on the tensor cores (m16n8k16, f32 accumulators).
  void mmaAccumulate(Value a, Value bFrag, Value &acc) {
    acc = nvgpu::MmaSyncOp::create(b, a, bFrag, acc,
                                   ArrayRef<int64_t>{16, 8, 16});
  }

  /// Column (in elements) of 16-byte chunk `chunk` of row `row` in a
  /// swizzled shared-memory tile.
  Value swizzledColumn(Value row, Value chunk) {
    Value phase = b.createOrFold<arith::AndIOp>(row, idx(7));
    return mul(b.createOrFold<arith::XOrIOp>(chunk, phase), idx(kChunk));
  }

  /// %tid.x through inline PTX with side effects, which LLVM can neither
  /// hoist nor merge with the kernel entry's. (llvm.inline_asm: the asm
  /// string of nvvm.inline_ptx cannot name a special register.)
  Value readThreadIdInLoop() {
    Value id =
        LLVM::InlineAsmOp::create(
            b, b.getLoc(), b.getI32Type(), ValueRange{}, "mov.u32 $0, %tid.x;",
            "=r", /*has_side_effects=*/true,
            /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
            /*asm_dialect=*/nullptr, /*operand_attrs=*/nullptr)
            .getRes();
    return arith::IndexCastUIOp::create(b, b.getIndexType(), id);
  }
  /// Sets tid and the lane, warp and quad indices derived from it.
  void bindThreadIndices(Value threadId) {
    tid = threadId;
    lane = rem(tid, idx(32));
    warp = div(tid, idx(32));
    groupId = div(lane, idx(4));
    threadInGroup = rem(lane, idx(4));
  }

  /// This lane's element offset, in a swizzled tile of rows of `rowLength`
  /// elements, for the A fragments of the 16 rows from `rowBase`.
  /// ldmatrix.x4 matrices: (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows
  /// 0-7, k 8-15), (rows 8-15, k 8-15) = registers a0..a3 of m16n8k16:
  /// lane l addresses row l mod 16, chunk l / 16.
  Value rowFragmentBase(Value rowBase, int64_t rowLength) {
    Value row = add(rowBase, rem(lane, idx(16)));
    return swizzledBase(row, div(lane, idx(16)), rowLength);
  }
  /// The A fragment, from the swizzled tile `flat`, of k-step `k` of the 16
  /// rows `rowStep` (a multiple of 8) below those of `base`
  /// (rowFragmentBase): one XOR and one constant.
  Value loadRowFragment(Value flat, Value base, int64_t rowLength, int64_t k,
                        int64_t rowStep) {
    return nvgpu::LdMatrixOp::create(
        b, VectorType::get({4, 2}, elementType), flat,
        ValueRange{swizzledStep(base, rowLength, k, rowStep)},
        /*transpose=*/false, /*numTiles=*/4);
  }

  ImplicitLocOpBuilder &b;
  Type elementType;
  Value lane, warp, groupId, threadInGroup, tid;
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_MMASYNCFRAGMENTS_H
