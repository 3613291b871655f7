//===- KernelEpilogue.cpp - Output rows, shared by the strategies ---------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "KernelEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::fa::detail;

void mlir::fa::detail::emitOutputRow(
    ImplicitLocOpBuilder &b, const OutputRows &rows, Value row,
    const SoftmaxRowResult &result, int64_t valueDim,
    function_ref<Value(int64_t d, int64_t e)> accumulator) {
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto pairType = VectorType::get({2}, rows.elementType);
  auto lessThan = [&](Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, x, y);
  };
  Value head = rows.head;
  Value valid;
  if (rows.packedHeads > 1) {
    Value local = b.createOrFold<arith::SubIOp>(row, rows.rowStart);
    valid = lessThan(local, b.createOrFold<arith::MulIOp>(
                                rows.positions, idx(rows.packedHeads)));
    head = b.createOrFold<arith::AddIOp>(
        head, b.createOrFold<arith::DivUIOp>(local, rows.positions));
    row = b.createOrFold<arith::AddIOp>(
        rows.rowStart, b.createOrFold<arith::RemUIOp>(local, rows.positions));
  } else {
    valid = lessThan(row, rows.qLength);
  }
  auto inRange = scf::IfOp::create(b, valid);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(inRange.thenBlock());
  for (int64_t d = 0; d < valueDim / 8; ++d) {
    Value lo = arith::MulFOp::create(b, accumulator(d, 0), result.inverseSum);
    Value hi = arith::MulFOp::create(b, accumulator(d, 1), result.inverseSum);
    Value pair = vector::FromElementsOp::create(
        b, VectorType::get({2}, b.getF32Type()), ValueRange{lo, hi});
    if (!rows.elementType.isF32())
      pair = arith::TruncFOp::create(b, pairType, pair);
    Value col = b.createOrFold<arith::AddIOp>(
        idx(8 * d), b.createOrFold<arith::MulIOp>(rows.threadInGroup, idx(2)));
    SmallVector<Value> indices{rows.batch, head, row, col};
    if (rows.split)
      indices.insert(indices.begin(), rows.split);
    int64_t bytes = rows.elementType.getIntOrFloatBitWidth() / 4;
    vector::StoreOp::create(b, pair, rows.output, indices,
                            /*nontemporal=*/false, llvm::MaybeAlign(bytes));
  }
  emitRowLse(b, rows, head, row, result.lse);
}

void mlir::fa::detail::emitRowLse(ImplicitLocOpBuilder &b,
                                  const OutputRows &rows, Value head, Value row,
                                  Value lse) {
  if (!rows.lse)
    return;
  auto firstOfQuad = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, rows.threadInGroup,
                               arith::ConstantIndexOp::create(b, 0)));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(firstOfQuad.thenBlock());
  SmallVector<Value> indices{rows.batch, head, row};
  if (rows.split)
    indices.insert(indices.begin(), rows.split);
  memref::StoreOp::create(b, lse, rows.lse, indices);
}
