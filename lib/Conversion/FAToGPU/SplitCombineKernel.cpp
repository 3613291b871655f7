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
// the fa.split_combine forall (matchSplitCombine) in one pass over the
// splits, eight a step with a running maximum (for S <= 8 the same terms as
// the forall's two passes), the exp as the MUFU exp2 the softmax uses. One
// block per (query tile, head, batch); each thread takes (row, 4 columns)
// items of the tile, strided by the block size. The partials are tiny next
// to K and V (S x Dv floats per row), so the kernel is a short tail of the
// partial kernel, whose time is latency: all loads of a step are in flight
// together, through views whose offsets are computed once (under CUDA
// graphs on the H200 the two-pass kernel took 2.3-4 us at S 2-6, about
// what a launch of its 256 blocks costs: cuDNN's reduction takes 2.3).
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
  // One pass over the splits, kSplitCombineUnroll of them a step: every
  // load of a step (its LSEs and output columns) is issued before any is
  // used, so that a step costs one memory latency, not one per split and
  // not one per pass. Split s0 + j of a step past the last one reads the
  // last one again and weighs 0. Each step takes the maximum M' of the
  // carried M and its LSEs, and rescales the carried sums by
  // exp(M - M') (0 on the first step, whose sums are 0): with S <= the
  // unroll, the sums are those of the two-pass formula, term for term.
  // The weights exp(lse_s - M) <= 1 are exp2((lse_s - M) log2(e)) with
  // `afn`, the MUFU approximation of the partial kernel's softmax
  // (libdevice's exp is 25 instructions a split).
  Value lastSplit = arith::SubIOp::create(b, splits, idx(1));
  Value log2e = f32(1.4426950408889634);
  Value zeros = arith::ConstantOp::create(
      b, DenseElementsAttr::get(vec4, b.getF32FloatAttr(0.0f)));
  auto step = [&](OpBuilder &nb, Location nl, Value first, ValueRange carried) {
    ImplicitLocOpBuilder sb(nl, nb);
    SmallVector<Value> valid, lses, parts;
    for (int64_t j = 0; j < kSplitCombineUnroll; ++j) {
      Value s = arith::AddIOp::create(sb, first,
                                      arith::ConstantIndexOp::create(sb, j));
      valid.push_back(
          arith::CmpIOp::create(sb, arith::CmpIPredicate::ult, s, splits));
      Value read = arith::SelectOp::create(sb, valid.back(), s, lastSplit);
      lses.push_back(memref::LoadOp::create(sb, lseColumn, ValueRange{read}));
      parts.push_back(vector::LoadOp::create(
          sb, vec4, outColumn, ValueRange{read, zeroIndex},
          /*nontemporal=*/false, llvm::MaybeAlign(16)));
    }
    Value max = carried[0];
    for (Value partLse : lses)
      max = arith::MaximumFOp::create(sb, max, partLse);
    // An empty row so far (M' = -inf) weighs everything against 0.
    Value isEmpty =
        arith::CmpFOp::create(sb, arith::CmpFPredicate::OEQ, max, negInf);
    Value safeMax = arith::SelectOp::create(sb, isEmpty, zero, max);
    auto weight = [&](Value partLse) {
      return math::Exp2Op::create(
          sb,
          arith::MulFOp::create(sb, arith::SubFOp::create(sb, partLse, safeMax),
                                log2e),
          arith::FastMathFlags::afn);
    };
    Value scale = weight(carried[0]);
    Value sum = arith::MulFOp::create(sb, carried[1], scale);
    Value acc = arith::MulFOp::create(
        sb, carried[2], vector::BroadcastOp::create(sb, vec4, scale));
    for (int64_t j = 0; j < kSplitCombineUnroll; ++j) {
      Value w = arith::SelectOp::create(sb, valid[j], weight(lses[j]), zero);
      sum = arith::AddFOp::create(sb, sum, w);
      acc = vector::FMAOp::create(
          sb, parts[j], vector::BroadcastOp::create(sb, vec4, w), acc);
    }
    return SmallVector<Value>{max, sum, acc};
  };
  auto splitLoop = scf::ForOp::create(
      b, idx(0), splits, idx(kSplitCombineUnroll),
      ValueRange{negInf, zero, zeros},
      [&](OpBuilder &nb, Location nl, Value first, ValueRange carried) {
        scf::YieldOp::create(nb, nl, step(nb, nl, first, carried));
      });
  Value max = splitLoop.getResult(0);
  Value sum = splitLoop.getResult(1), acc = splitLoop.getResult(2);
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
