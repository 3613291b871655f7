//===- MmaSyncKeyGroups.cpp - Key-split warps of the mma.sync kernel ------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The end of a kernel whose warps split each key block (MmaSyncConfig::
// keyWarps): every key group ran its own online softmax over its slice of
// the keys; here they merge through shared memory into the first group's
// state, which the epilogue then writes.
//
//===----------------------------------------------------------------------===//

#include "MmaSyncKernelEmitter.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

void MmaSyncKernelEmitter::mergeKeyGroups(
    SmallVectorImpl<OnlineSoftmaxState> &states) {
  // Every value of this thread's state, as f32 scalars: per row tile the
  // accumulators (element (h, e) of each at 2h + e), then per row its max
  // and sum(s) (packState's order).
  SmallVector<Value> mine;
  for (Value v : packState(states)) {
    if (!isa<VectorType>(v.getType())) {
      mine.push_back(v);
      continue;
    }
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t e = 0; e < 2; ++e)
        mine.push_back(element(v, h, e));
  }
  int64_t count = mine.size();
  assert(count <= getMmaSyncMergeFloats(spec, config) && "merge buffer size");
  // Group g > 0 stores its state in slot (g - 1) * rowWarps + rowWarp,
  // value-major (value i of lane l at (slot * count + i) * 32 + l: no bank
  // conflicts), over the Q tile and the ring, which no warp reads any more.
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  int64_t slots = (config.keyWarps - 1) * config.rowWarps();
  auto bufferType = MemRefType::get({slots * count * 32}, b.getF32Type(),
                                    MemRefLayoutAttrInterface{}, workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                         MemRefLayoutAttrInterface{}, workgroup));
  Value buffer =
      memref::ViewOp::create(b, bufferType, smem, idx(0), ValueRange{});
  Value group = keyGroupOf(warp), rowWarp = rowWarpOf(warp);
  auto address = [&](Value slot, int64_t i) {
    return add(mul(add(mul(slot, idx(count)), idx(i)), idx(32)), lane);
  };
  gpu::BarrierOp::create(b);
  {
    auto store = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::ne, group, idx(0)));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(store.thenBlock());
    Value slot = add(mul(sub(group, idx(1)), idx(config.rowWarps())), rowWarp);
    for (int64_t i = 0; i < count; ++i)
      memref::StoreOp::create(b, mine[i], buffer, address(slot, i));
  }

  gpu::BarrierOp::create(b);

  // Value i of group g: this thread's own for g = 0, else loaded where it
  // is used. (All loads at once held 230 registers where the key loop
  // needs 128, bf16 D = 128, 16 x 64; the kernel's .minnctapersm bounds
  // them. Folding one group at a time, or chunks between barriers, spilled
  // more under that bound: 320-468 bytes against 88.)
  auto value = [&](int64_t g, int64_t i) -> Value {
    if (g == 0)
      return mine[i];
    Value slot = add(idx((g - 1) * config.rowWarps()), rowWarp);
    return memref::LoadOp::create(b, buffer, address(slot, i));
  };
  int64_t accs = spec.getValueHeadDim() / 8;
  unsigned rowSize = keepsExactSum() ? 3 : 2;
  Value negInf = f32(-std::numeric_limits<float>::infinity());
  SmallVector<Value> merged(count);
  int64_t pos = 0;
  for (int64_t m = 0; m < rowTiles; ++m) {
    int64_t accPos = pos, rowPos = pos + 4 * accs;
    for (int64_t h = 0; h < 2; ++h) {
      int64_t at = rowPos + h * rowSize;
      // The factor of each group: exp2((max_g - max) * scale) (0 for a
      // group that saw nothing; none under a fixed maximum, the same in
      // every group).
      // (Group 0's maximum first: GCC cannot see that keyWarps > 0.)
      Value rowMax = value(0, at);
      SmallVector<Value> factors, maxima{rowMax};
      for (int64_t g = 1; g < config.keyWarps; ++g)
        maxima.push_back(value(g, at));
      if (!fixedMax) {
        for (int64_t g = 1; g < config.keyWarps; ++g)
          rowMax = arith::MaxNumFOp::create(b, rowMax, maxima[g]);
        Value scale = f32(scoreScale);
        Value scaledMax = select(
            arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, rowMax, negInf),
            f32(0.0f), fmul(rowMax, scale));
        for (int64_t g = 0; g < config.keyWarps; ++g)
          factors.push_back(math::Exp2Op::create(
              b, arith::SubFOp::create(b, fmul(maxima[g], scale), scaledMax),
              arith::FastMathFlags::afn));
      }
      auto total = [&](int64_t i) {
        Value sum;
        for (int64_t g = 0; g < config.keyWarps; ++g) {
          Value x = fixedMax ? value(g, i) : fmul(value(g, i), factors[g]);
          sum = sum ? arith::AddFOp::create(b, sum, x) : x;
        }
        return sum;
      };
      merged[at] = rowMax;
      for (unsigned s = 1; s < rowSize; ++s)
        merged[at + s] = total(at + s);
      // Accumulator elements of row h: (h, 0) and (h, 1) of every d-tile.
      for (int64_t d = 0; d < accs; ++d)
        for (int64_t e = 0; e < 2; ++e)
          merged[accPos + 4 * d + 2 * h + e] =
              total(accPos + 4 * d + 2 * h + e);
    }
    pos = rowPos + 2 * rowSize;
  }
  assert(pos == count && "the merge covers the whole state");
  mine = merged;
  // Back into the state's shape.
  SmallVector<Value> values;
  auto accType = VectorType::get({2, 2}, b.getF32Type());
  pos = 0;
  for (int64_t m = 0; m < rowTiles; ++m) {
    for (int64_t d = 0; d < accs; ++d, pos += 4)
      values.push_back(vector::FromElementsOp::create(
          b, accType, ArrayRef<Value>(mine).slice(pos, 4)));
    for (unsigned s = 0; s < 2 * rowSize; ++s)
      values.push_back(mine[pos++]);
  }
  SmallVector<OnlineSoftmaxState> after = unpackState(values);
  states.assign(after.begin(), after.end());
}
