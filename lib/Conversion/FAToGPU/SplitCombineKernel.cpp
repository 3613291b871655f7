//===- SplitCombineKernel.cpp - Merge the parts of a split key range ------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The second kernel of a split-KV attention: per query row, the partial
// LSEs of the S splits give M = max_s lse_s and the weights
// w_s = exp(lse_s - M) (M = -inf counts as 0), and
//
//   O = sum_s w_s O_s / sum_s w_s      (0 when the sum is 0)
//   LSE = M + log(sum_s w_s)           (-inf when no split saw a key)
//
// exactly the ops of the fa.split_combine forall (matchSplitCombine), the
// exp as the MUFU exp2 the softmax uses. One block per (query tile, head,
// batch); each thread takes (row, 4 columns) items of the tile, strided by
// the block size. The partials are tiny next to K and V (S x Dv floats per
// row), so the kernel is a short tail of the partial kernel, whose warps
// wait on latency: it reads 8 splits a step through views whose offsets
// are computed once (under CUDA graphs on the H200 it takes 2.3-4 us at
// S 2-6, about what a launch of its 256 blocks costs: cuDNN's reduction
// takes 2.3).
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/FormatVariadic.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;

FailureOr<gpu::GPUFuncOp>
mlir::fa::buildSplitCombineKernel(OpBuilder &builder, gpu::GPUModuleOp module,
                                  const SplitCombineTile &combine,
                                  const KernelLaunchInfo &partialInfo,
                                  Location loc) {
  auto outType = cast<RankedTensorType>(combine.output.getType());
  Type elementType = outType.getElementType();
  int64_t valueDim = outType.getDimSize(3);
  if (!elementType.isF16() && !elementType.isBF16())
    return emitError(loc, "the split-KV combine kernel writes f16 or bf16, "
                          "got ")
           << elementType;
  if (valueDim % 4 != 0)
    return emitError(loc, "the split-KV combine kernel needs Dv to be a "
                          "multiple of 4, got ")
           << valueDim;

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> arguments{getKernelArgumentType(cast<RankedTensorType>(
                                  combine.partialOutput.getType())),
                              getKernelArgumentType(cast<RankedTensorType>(
                                  combine.partialLse.getType())),
                              getKernelArgumentType(outType)};
  if (combine.lseOutput)
    arguments.push_back(getKernelArgumentType(
        cast<RankedTensorType>(combine.lseOutput.getType())));
  auto func = gpu::GPUFuncOp::create(builder, loc, "fa_attention_combine",
                                     builder.getFunctionType(arguments, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr(
      {static_cast<int32_t>(kSplitCombineThreads), 1, 1}));
  KernelLaunchInfo info = partialInfo;
  info.splitStage = kSplitCombineStage.str();
  info.blockM = combine.blockM;
  info.warps = kSplitCombineThreads / 32;
  info.stages = 0;
  info.threads = kSplitCombineThreads;
  info.dynamicSharedMemory = 0;
  info.lse = static_cast<bool>(combine.lseOutput);
  info.tensorMaps.clear();
  info.persistent = false;
  // (packedHeads stays the partial's: the combine runs over query heads,
  // but its metadata states the partial kernel's tiles.)
  func->setAttr(KernelLaunchInfo::attrName, info.toAttr(builder.getContext()));

  ImplicitLocOpBuilder b(loc, builder);
  b.setInsertionPointToStart(&func.getBody().front());
  Value partialOut = func.getArgument(0), partialLse = func.getArgument(1),
        out = func.getArgument(2);
  Value lse = combine.lseOutput ? func.getArgument(3) : Value();
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto f32 = [&](double v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  };
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value tile = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  Value qLength = memref::DimOp::create(b, out, 2);
  Value splits = memref::DimOp::create(b, partialLse, 0);
  Value rowStart = arith::MulIOp::create(b, tile, idx(combine.blockM));
  Value rows = arith::MinSIOp::create(
      b, idx(combine.blockM), arith::SubIOp::create(b, qLength, rowStart));
  int64_t chunks = valueDim / 4;
  Value items = arith::MulIOp::create(b, rows, idx(chunks));
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  Value zero = f32(0.0);
  auto vec4 = VectorType::get({4}, b.getF32Type());

  auto items_loop =
      scf::ForOp::create(b, tid, items, idx(kSplitCombineThreads));
  b.setInsertionPointToStart(items_loop.getBody());
  Value item = items_loop.getInductionVar();
  Value row = arith::AddIOp::create(
      b, rowStart, arith::DivUIOp::create(b, item, idx(chunks)));
  Value col = arith::MulIOp::create(
      b, arith::RemUIOp::create(b, item, idx(chunks)), idx(4));
  // The item's column of partial LSEs and of partial outputs over the
  // splits, as 1-D and 2-D views: their offsets are computed once, and each
  // split's address is one stride further (the 5-D index of each load
  // otherwise costs the kernel more than its memory traffic).
  auto column = [&](Value source, ArrayRef<Value> at, int64_t width) {
    auto type = cast<MemRefType>(source.getType());
    SmallVector<OpFoldResult> offsets{b.getIndexAttr(0)};
    for (Value v : at)
      offsets.push_back(v);
    SmallVector<OpFoldResult> sizes{splits};
    sizes.append(type.getRank() - 1, b.getIndexAttr(1));
    if (width > 1)
      sizes.back() = b.getIndexAttr(width);
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    SmallVector<int64_t> shape{ShapedType::kDynamic};
    if (width > 1)
      shape.push_back(width);
    auto viewType = memref::SubViewOp::inferRankReducedResultType(
        shape, type, offsets, sizes, strides);
    return memref::SubViewOp::create(b, cast<MemRefType>(viewType), source,
                                     offsets, sizes, strides)
        .getResult();
  };
  Value lseColumn = column(partialLse, {batch, head, row}, 1);
  Value outColumn = column(partialOut, {batch, head, row, col}, 4);
  Value zeroIndex = idx(0);
  auto partLse = [&](OpBuilder &nb, Location nl, Value s) -> Value {
    return memref::LoadOp::create(nb, nl, lseColumn, ValueRange{s});
  };
  // Both loops over the splits take kSplitCombineUnroll of them a step, so
  // that their loads are independent and in flight together, not one
  // memory latency per split. Split s0 + j of a step past the last one
  // reads the last one again and, in the sum, weighs 0.
  Value lastSplit = arith::SubIOp::create(b, splits, idx(1));
  auto unrolled = [&](ValueRange init,
                      function_ref<SmallVector<Value>(OpBuilder &, Location,
                                                      Value, Value, ValueRange)>
                          step) {
    return scf::ForOp::create(
        b, idx(0), splits, idx(kSplitCombineUnroll), init,
        [&](OpBuilder &nb, Location nl, Value first, ValueRange carried) {
          SmallVector<Value> values(carried);
          for (int64_t j = 0; j < kSplitCombineUnroll; ++j) {
            Value s = arith::AddIOp::create(
                nb, nl, first, arith::ConstantIndexOp::create(nb, nl, j));
            Value valid = arith::CmpIOp::create(
                nb, nl, arith::CmpIPredicate::ult, s, splits);
            Value read = arith::SelectOp::create(nb, nl, valid, s, lastSplit);
            values = step(nb, nl, read, valid, values);
          }
          scf::YieldOp::create(nb, nl, values);
        });
  };
  // M = max_s lse_s.
  auto maxLoop =
      unrolled(ValueRange{negInf}, [&](OpBuilder &nb, Location nl, Value s,
                                       Value, ValueRange carried) {
        return SmallVector<Value>{
            arith::MaximumFOp::create(nb, nl, carried[0], partLse(nb, nl, s))};
      });
  Value max = maxLoop.getResult(0);
  Value isEmpty =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, max, negInf);
  Value safeMax = arith::SelectOp::create(b, isEmpty, zero, max);
  // sum_s w_s and sum_s w_s O_s. The weights exp(lse_s - M) <= 1 are taken
  // as exp2((lse_s - M) log2(e)) with `afn`, the MUFU approximation of the
  // partial kernel's softmax (libdevice's exp is 25 instructions a split).
  Value log2e = f32(1.4426950408889634);
  Value zeros = arith::ConstantOp::create(
      b, DenseElementsAttr::get(vec4, b.getF32FloatAttr(0.0f)));
  auto sumLoop =
      unrolled(ValueRange{zero, zeros}, [&](OpBuilder &nb, Location nl, Value s,
                                            Value valid, ValueRange carried) {
        Value w = arith::SelectOp::create(
            nb, nl, valid,
            math::Exp2Op::create(
                nb, nl,
                arith::MulFOp::create(
                    nb, nl,
                    arith::SubFOp::create(nb, nl, partLse(nb, nl, s), safeMax),
                    log2e),
                arith::FastMathFlags::afn),
            zero);
        Value sum = arith::AddFOp::create(nb, nl, carried[0], w);
        Value part = vector::LoadOp::create(
            nb, nl, vec4, outColumn, ValueRange{s, zeroIndex},
            /*nontemporal=*/false, llvm::MaybeAlign(16));
        Value weights = vector::BroadcastOp::create(nb, nl, vec4, w);
        Value acc = vector::FMAOp::create(nb, nl, part, weights, carried[1]);
        return SmallVector<Value>{sum, acc};
      });
  Value sum = sumLoop.getResult(0), acc = sumLoop.getResult(1);
  Value noKey = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, sum, zero);
  Value quotient =
      arith::DivFOp::create(b, acc, vector::BroadcastOp::create(b, vec4, sum));
  Value result = arith::SelectOp::create(
      b, noKey,
      arith::ConstantOp::create(
          b, DenseElementsAttr::get(vec4, b.getF32FloatAttr(0.0f))),
      quotient);
  Value rounded =
      arith::TruncFOp::create(b, VectorType::get({4}, elementType), result);
  vector::StoreOp::create(b, rounded, out, ValueRange{batch, head, row, col},
                          /*nontemporal=*/false, llvm::MaybeAlign(8));
  if (lse) {
    auto first = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, col, idx(0)));
    b.setInsertionPointToStart(first.thenBlock());
    Value value = arith::AddFOp::create(b, max, math::LogOp::create(b, sum));
    memref::StoreOp::create(b, value, lse, ValueRange{batch, head, row});
  }
  b.setInsertionPointAfter(items_loop);
  gpu::ReturnOp::create(b);
  func.setName(llvm::formatv("fa_attention_combine_{0}_d{1}_bm{2}{3}",
                             elementType.isBF16() ? "bf16" : "f16", valueDim,
                             combine.blockM, lse ? "_lse" : "")
                   .str());
  return func;
}
