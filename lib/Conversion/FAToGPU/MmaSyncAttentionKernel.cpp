//===- MmaSyncAttentionKernel.cpp - The mma.sync attention kernel ---------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Builds the FlashAttention-2 style kernel of the `mma-sync` strategy from
// upstream gpu / nvgpu / nvvm / vector / scf ops. One block computes one
// (batch, query head, block_m query rows) tile; each warp owns
// 16 * rowTilesPerWarp rows. Per key/value block:
//
//   cp.async K,V block j+stages-1 -> ring slot (swizzled shared memory)
//   S    = Q K^T          ldmatrix (Q once, kept in registers; K per block)
//                          + mma.sync m16n8k16, f32 accumulators
//   mask (only in the diagonal / tail blocks: the loop is split)
//   m    = max(m, rowmax S)          in-thread max + 2 xor shuffles
//   P    = exp2(S * c - m * c)       c = scale * log2(e), one FFMA + ex2
//   l    = l * alpha + rowsum P      per-thread partial sums
//   O    = O * alpha + P V           P repacked in registers as the A
//                                    operand; V by ldmatrix.trans
//
// then O / l (0 for rows that saw no key) and LSE = m * ln 2 + log l.
//
// Shared memory rows are 16-byte chunks XOR-swizzled with (row mod 8), so
// the eight row addresses of every ldmatrix phase hit distinct banks.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include "llvm/ADT/bit.h"
#include "llvm/Support/FormatVariadic.h"

#include <array>
#include <cmath>
#include <limits>
#include <map>

using namespace mlir;
using namespace mlir::fa;

/// Elements of 16 bits per 16-byte chunk: the unit of cp.async and of one
/// ldmatrix row.
static constexpr int64_t kChunk = 8;

int64_t mlir::fa::getMmaSyncSharedMemoryBytes(const AttentionKernelSpec &spec,
                                              const MmaSyncConfig &config) {
  int64_t elementBytes = 2;
  int64_t query = config.blockM * spec.getHeadDim();
  int64_t keys = config.stages * config.blockN * spec.getHeadDim();
  int64_t values = config.stages * config.blockN * spec.getValueHeadDim();
  return (query + keys + values) * elementBytes;
}

/// 32-bit registers a thread holds for its fragments (Q, S, O and the
/// softmax state); beyond the budget ptxas spills.
static int64_t getFragmentRegisters(const AttentionKernelSpec &spec,
                                    const MmaSyncConfig &config) {
  int64_t rowTiles = config.rowTilesPerWarp();
  int64_t query =
      config.queryInRegisters ? rowTiles * (spec.getHeadDim() / 16) * 4 : 8;
  int64_t scores = rowTiles * (config.blockN / 8) * 4;
  int64_t output = rowTiles * (spec.getValueHeadDim() / 8) * 4;
  return query + scores + output + rowTiles * 4;
}

/// Fragment registers beyond which ptxas spills (255 per thread, minus
/// addresses and temporaries); the automatic schedule stays further below.
static constexpr int64_t kRegisterBudget = 216;
static constexpr int64_t kPreferredRegisters = 200;

void mlir::fa::chooseMmaSyncSchedule(const AttentionKernelSpec &spec,
                                     MmaSyncConfig &config) {
  auto fits = [&](MmaSyncConfig c) {
    return getFragmentRegisters(spec, c) <= kPreferredRegisters;
  };
  // 32 rows per warp (FlashAttention-2's shape: each K/V fragment feeds two
  // MMAs, half the shared-memory reads of 16 rows) when S and O of two row
  // tiles fit in registers, with Q kept in registers if it fits too, else
  // re-read from shared memory per block; otherwise 16 rows per warp. On
  // the H200 that made D = 64 (Q in registers) 1.3x and D = 128 at
  // block-n 48 (Q re-read) 1.1x faster than 16 rows per warp
  // (benchmarks/results/2026-11-20-h200-tune.md, 2026-11-21-h200-d128.md).
  if (config.warps == 0) {
    MmaSyncConfig wide = config;
    wide.warps = config.blockM / 32;
    wide.queryInRegisters = false;
    config.warps = config.blockM % 32 == 0 && wide.warps > 0 && fits(wide)
                       ? wide.warps
                       : config.blockM / 16;
  }
  MmaSyncConfig withQuery = config;
  withQuery.queryInRegisters = true;
  config.queryInRegisters = fits(withQuery);
}

LogicalResult mlir::fa::verifyMmaSyncConfig(
    const AttentionKernelSpec &spec, const MmaSyncConfig &config,
    const GPUTarget &target, function_ref<InFlightDiagnostic()> emitError) {
  Type element = spec.getElementType();
  if (!element.isF16() && !element.isBF16()) {
    emitError() << "the mma-sync strategy needs f16 or bf16 Q/K/V, got "
                << element << " (f32 attention runs only on the CPU path)";
    return failure();
  }
  if (spec.getHeadDim() != spec.getValueHeadDim()) {
    emitError() << "the mma-sync strategy needs D == Dv, got D = "
                << spec.getHeadDim() << ", Dv = " << spec.getValueHeadDim();
    return failure();
  }
  int64_t headDim = spec.getHeadDim();
  if (headDim % 64 != 0 || headDim > 256) {
    emitError() << "the mma-sync strategy supports head dimensions 64, 128, "
                   "192 and 256, got "
                << headDim;
    return failure();
  }
  if (config.warps <= 0 || config.warps > 16) {
    emitError() << "warps must be in [1, 16], got " << config.warps;
    return failure();
  }
  if (config.blockM % (16 * config.warps) != 0 ||
      config.rowTilesPerWarp() > 2) {
    emitError() << "block-m (" << config.blockM
                << ") must be 16 or 32 rows per warp times warps ("
                << config.warps << ")";
    return failure();
  }
  if (config.blockN % 16 != 0 || config.blockN > 256) {
    emitError() << "block-n must be a multiple of 16 and at most 256 for "
                   "m16n8k16 tensor cores, got "
                << config.blockN;
    return failure();
  }
  if (config.stages < 2 || config.stages > 4) {
    emitError() << "stages must be in [2, 4] (a ring of one block cannot "
                   "overlap loads with the tensor cores), got "
                << config.stages;
    return failure();
  }
  int64_t registers = getFragmentRegisters(spec, config);
  if (registers > kRegisterBudget) {
    emitError() << "tile too large for registers: block-m=" << config.blockM
                << " block-n=" << config.blockN << " warps=" << config.warps
                << " at D=" << headDim << " needs " << registers
                << " fragment registers per thread (budget " << kRegisterBudget
                << "); use more warps or a smaller block-n";
    return failure();
  }
  int64_t smem = getMmaSyncSharedMemoryBytes(spec, config);
  if (smem > target.maxSharedMemoryPerBlock) {
    emitError() << "the tile needs " << smem
                << " bytes of shared memory, more than the "
                << target.maxSharedMemoryPerBlock << " a block of "
                << target.chip << " can have; use fewer stages or smaller "
                << "tiles";
    return failure();
  }
  return success();
}

std::string mlir::fa::getAttentionKernelName(const AttentionKernelSpec &spec,
                                             const MmaSyncConfig &config) {
  std::string name = llvm::formatv(
      "fa_attention_{0}_d{1}_bm{2}_bn{3}_w{4}_s{5}",
      spec.getElementType().isBF16() ? "bf16" : "f16", spec.getHeadDim(),
      config.blockM, config.blockN, config.warps, config.stages);
  if (spec.causal)
    name +=
        *spec.causal == CausalAlignment::TopLeft ? "_causal_tl" : "_causal_br";
  if (!config.queryInRegisters)
    name += "_qsmem";
  if (spec.lseType)
    name += "_lse";
  // The scale is baked into the code: a non-default one is part of the name
  // (the f32 bits the kernel uses), so that runtimes caching kernels by name
  // never mix two scales.
  float scale = static_cast<float>(spec.scale);
  if (scale != static_cast<float>(1.0 / std::sqrt(double(spec.getHeadDim()))))
    name += llvm::formatv("_scale{0:x-8}", llvm::bit_cast<uint32_t>(scale));
  return name;
}

namespace {

/// Per-thread state of the online softmax for one 16-row MMA tile: rows
/// `g` and `g + 8` of the tile, where g = lane / 4.
struct OnlineSoftmaxState {
  SmallVector<Value> acc; // Dv / 8 accumulators, vector<2x2xf32>
  Value max[2];           // raw-score running max, f32
  Value sum[2];           // this thread's partial row sums, f32
};

class MmaSyncKernelEmitter {
public:
  MmaSyncKernelEmitter(ImplicitLocOpBuilder &b, const AttentionKernelSpec &spec,
                       const MmaSyncConfig &config)
      : b(b), spec(spec), config(config), elementType(spec.getElementType()),
        headDim(spec.getHeadDim()), rowTiles(config.rowTilesPerWarp()) {
    // Fold scale * log2(e) into one FFMA per score when it keeps the order
    // of the scores; otherwise scale first and run the softmax on 1 * s.
    double log2Scale = spec.scale * M_LOG2E;
    foldScale = log2Scale > 0;
    scoreScale = static_cast<float>(foldScale ? log2Scale : 1.0);
    preScale = static_cast<float>(log2Scale);
  }

  void emit(gpu::GPUFuncOp func);

private:
  // --- small builders -----------------------------------------------------
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
  Value fmax(Value x, Value y) { return arith::MaxNumFOp::create(b, x, y); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  /// exp2 with `afn`: the online softmax only takes exp2 of values <= 0,
  /// where the MUFU approximation (fa-lower-math-to-nvvm) is what
  /// FlashAttention uses too.
  Value exp2(Value x) {
    return math::Exp2Op::create(b, x, arith::FastMathFlags::afn);
  }
  Value isNegInf(Value x) {
    return arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, x,
                                 f32(-std::numeric_limits<float>::infinity()));
  }
  Value xorShuffle(Value x, int64_t mask) {
    Value offset = arith::ConstantOp::create(b, b.getI32IntegerAttr(mask));
    Value width = arith::ConstantOp::create(b, b.getI32IntegerAttr(32));
    return gpu::ShuffleOp::create(b, x, offset, width, gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }
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
  /// This lane's element offset, in ring slot `slot` of block-n rows of
  /// `rowLength` elements, for an ldmatrix.x4 of a 16-row, 2-chunk square:
  /// lane l addresses row l mod 8 of matrix l / 8, whose high bit selects
  /// rows 8-15 and low bit the second chunk (`rowsFromHighBit`, for K),
  /// or the other way round (for V, read transposed).
  Value ringFragmentBase(Value slot, int64_t rowLength, bool rowsFromHighBit) {
    Value matrix = div(lane, idx(8));
    Value high = div(matrix, idx(2)), low = rem(matrix, idx(2));
    Value rowHalf = rowsFromHighBit ? high : low;
    Value chunk = rowsFromHighBit ? low : high;
    Value row = add(mul(rowHalf, idx(8)), rem(lane, idx(8)));
    return add(mul(slot, idx(config.blockN * rowLength)),
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

  /// Issues cp.async copies of rows [rowStart, rowStart + rows) of
  /// src[batch, head, :, :] into the swizzled tile of `rows` x `cols`
  /// elements at element `dstOffset` of the flat shared buffer `dst`.
  /// Rows at or past `rowLimit` are zero-filled and read nothing; rowStart
  /// must be below it.
  void copyTileAsync(Value src, Value batch, Value head, Value rowStart,
                     Value rowLimit, Value dst, Value dstOffset, int64_t rows,
                     int64_t cols);

  /// Whether each key block re-reads %tid.x (readThreadIdInLoop) and
  /// derives every per-thread index and address from it: in the kernels
  /// that re-read Q from shared memory, the tightest for registers (32 rows
  /// per warp at D = 128). Otherwise LLVM hoists each per-thread address
  /// variant out of the key loop (one per k-step and row tile for the Q
  /// fragments, one per copy for cp.async, one per row for the causal
  /// bound), and each then holds a register across the whole loop; derived
  /// from an opaque per-block thread index they are recomputed in the loop,
  /// where the constant parts fold into immediate offsets. With Q in
  /// registers LLVM's hoisting is left alone: there ptxas allocated better
  /// without (CUDA 13 ptxas, `check_ptxas.py` over the default kernels,
  /// 2026-11-21).
  bool rematerializeThreadIndices() const { return !config.queryInRegisters; }

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

  /// This lane's element offset in qFlat for the A fragments of the 16 Q
  /// rows from `rowBase`. ldmatrix.x4 matrices: (rows 0-7, k 0-7), (rows
  /// 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = registers
  /// a0..a3 of m16n8k16: lane l addresses row l mod 16, chunk l / 16.
  Value queryFragmentBase(Value rowBase) {
    Value row = add(rowBase, rem(lane, idx(16)));
    return swizzledBase(row, div(lane, idx(16)), headDim);
  }
  /// The A fragment of k-step `k` of the 16 rows `rowStep` (a multiple of
  /// 8) below those of `base`: one XOR and one constant.
  Value loadQueryFragment(Value base, int64_t k, int64_t rowStep) {
    return nvgpu::LdMatrixOp::create(
        b, VectorType::get({4, 2}, elementType), qFlat,
        ValueRange{swizzledStep(base, headDim, k, rowStep)},
        /*transpose=*/false, /*numTiles=*/4);
  }
  /// Loads the A fragments of the 16 Q rows from `rowBase` (all k-steps).
  SmallVector<Value> loadRowFragments(Value rowBase) {
    Value base = queryFragmentBase(rowBase);
    SmallVector<Value> fragments;
    for (int64_t k = 0; k < headDim / 16; ++k)
      fragments.push_back(loadQueryFragment(base, k, 0));
    return fragments;
  }
  /// The Q fragment of row tile `m`, k-step `k`: from registers, or
  /// re-read from shared memory (once per block and k-step).
  Value queryFragment(int64_t m, int64_t k) {
    if (config.queryInRegisters)
      return queryFragments[m][k];
    Value &cached = reloadedQuery[{m, k}];
    if (!cached) {
      // One base per block for all row tiles and k-steps: the row tiles
      // are 16 rows apart (the same swizzle phase).
      if (!reloadedQueryBase)
        reloadedQueryBase = queryFragmentBase(warpRowBase(0));
      cached = loadQueryFragment(reloadedQueryBase, k, 16 * m);
    }
    return cached;
  }
  /// First row of row tile `m` of this warp, within the block's tile.
  Value warpRowBase(int64_t m) {
    return add(mul(warp, idx(16 * rowTiles)), idx(16 * m));
  }
  /// Global query row of this thread's accumulator rows g (and g + 8) in
  /// row tile `m`.
  Value threadRow(int64_t m) {
    return add(rowStart, add(warpRowBase(m), groupId));
  }

  /// The number of key columns from kvStart + 2 * threadInGroup that query
  /// row threadRow(0) + rowOffset may see (tail and causal limit), clamped
  /// to [0, blockN] and as i32: element (n, e) of this thread's scores is
  /// masked when 8 * n + e >= the limit, one compare with a constant per
  /// score. The causal bound splits into a block-uniform part and a small
  /// per-thread one (row within the tile minus the column pair), computed
  /// once per block (see rematerializeThreadIndices) rather than one
  /// induction variable per row.
  Value columnLimit(Value kvStart, int64_t rowOffset) {
    Value first = add(kvStart, mul(threadInGroup, idx(2)));
    Value limit = sub(kvLength, first);
    if (causalShift) {
      if (!causalThreadPart)
        causalThreadPart =
            sub(add(warpRowBase(0), groupId), mul(threadInGroup, idx(2)));
      Value uniform = sub(add(add(rowStart, causalShift), idx(1)), kvStart);
      limit = minS(limit, add(add(uniform, causalThreadPart), idx(rowOffset)));
    }
    limit = minS(maxS(limit, idx(0)), idx(config.blockN));
    return arith::IndexCastOp::create(b, b.getI32Type(), limit);
  }

  /// One key/value block: scores, (mask), online softmax, P V.
  void emitBlock(SmallVectorImpl<OnlineSoftmaxState> &states, Value block,
                 bool masked);

  SmallVector<Value> packState(ArrayRef<OnlineSoftmaxState> states);
  SmallVector<OnlineSoftmaxState> unpackState(ValueRange values);

  /// Emits scf.for over blocks [lb, ub) around emitBlock.
  void emitBlockLoop(SmallVectorImpl<OnlineSoftmaxState> &states, Value lb,
                     Value ub, bool masked);

  void emitEpilogue(ArrayRef<OnlineSoftmaxState> states);

  ImplicitLocOpBuilder &b;
  const AttentionKernelSpec &spec;
  const MmaSyncConfig &config;
  Type elementType;
  int64_t headDim, rowTiles;
  bool foldScale;
  float scoreScale, preScale;

  // Values of the kernel body.
  Value query, key, value, output, lse;
  Value lane, warp, groupId, threadInGroup, tid;
  Value batch, head, kvHead, rowStart, qLength, kvLength;
  Value causalShift; // null when not causal
  Value numBlocks;
  Value qFlat, kRing, vRing; // shared memory: Q tile, K and V rings
  SmallVector<SmallVector<Value>> queryFragments;    // [rowTile][kStep]
  SmallVector<SmallVector<Value>> pFragmentsPerTile; // [rowTile][keyStep]
  std::map<std::pair<int64_t, int64_t>, Value> reloadedQuery;
  Value reloadedQueryBase; // this block's, when Q is re-read
  Value causalThreadPart;  // this block's, see columnLimit
};

} // namespace

void MmaSyncKernelEmitter::copyTileAsync(Value src, Value batch, Value head,
                                         Value rowStart, Value rowLimit,
                                         Value dst, Value dstOffset,
                                         int64_t rows, int64_t cols) {
  int64_t chunksPerRow = cols / kChunk;
  int64_t total = rows * chunksPerRow;
  int64_t threads = config.threads();
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  // src[batch, head, rowStart:rowLimit, :] as a flat view: `tile`, with
  // `rowStride` elements between rows and `validRows` rows in bounds.
  Value tile, rowStride, validRows;
  auto buildTileView = [&]() {
    auto meta = memref::ExtractStridedMetadataOp::create(b, src);
    rowStride = meta.getStrides()[2];
    Value tileOffset =
        add(add(meta.getOffset(), mul(batch, meta.getStrides()[0])),
            add(mul(head, meta.getStrides()[1]), mul(rowStart, rowStride)));
    validRows = sub(rowLimit, rowStart);
    Value extent = add(mul(sub(validRows, idx(1)), rowStride), idx(cols));
    auto srcType = cast<MemRefType>(src.getType());
    auto tileType = MemRefType::get(
        {ShapedType::kDynamic}, srcType.getElementType(),
        StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, {1}),
        srcType.getMemorySpace());
    tile = memref::ReinterpretCastOp::create(
        b, tileType, meta.getBaseBuffer(), OpFoldResult(tileOffset),
        ArrayRef<OpFoldResult>{extent},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  };
  // One 16-byte chunk from element `srcIndex` of the view to element
  // `dstIndex` of `dst`. Out-of-bounds rows copy 0 bytes (zero-fill) from a
  // valid address, the view's first element.
  auto emitCopy = [&](Value inBounds, Value srcIndex, Value dstIndex) {
    Value srcElements = select(inBounds, idx(kChunk), idx(0));
    Value clampedIndex = select(inBounds, srcIndex, idx(0));
    nvgpu::DeviceAsyncCopyOp::create(
        b, tokenType, dst, ValueRange{dstIndex}, tile, ValueRange{clampedIndex},
        b.getIndexAttr(kChunk), srcElements, b.getUnitAttr());
  };
  auto guarded = [&](Value condition, function_ref<void()> body) {
    auto guard = scf::IfOp::create(b, condition);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(guard.thenBlock());
    body();
  };

  // Whole rows per pass of the block, a multiple of the swizzle period:
  // every copy of a thread is the same chunk of rows row0 + pass * stride
  // with the same swizzle phase. Both of its addresses are then one
  // per-thread value plus terms that are the same for the whole block:
  // shared memory dstBase + constant; global memory the tile's first row
  // (block-uniform) + threadOffset + pass * stride * rowStride. ptxas can
  // keep block-uniform values in uniform registers, outside the 255.
  int64_t stride = threads / chunksPerRow;
  if (threads % chunksPerRow == 0 && stride % 8 == 0) {
    Value row0 = div(tid, idx(chunksPerRow));
    Value chunk = rem(tid, idx(chunksPerRow));
    Value dstBase = add(dstOffset, swizzledBase(row0, chunk, cols));
    buildTileView();
    Value threadOffset = add(mul(row0, rowStride), mul(chunk, idx(kChunk)));
    for (int64_t pass = 0; pass * stride < rows; ++pass) {
      auto copy = [&]() {
        // row0 against a per-block bound: the per-pass rows
        // row0 + pass * stride would each be hoisted into a register.
        Value inBounds = lt(row0, sub(validRows, idx(pass * stride)));
        Value srcIndex = add(threadOffset, mul(idx(pass * stride), rowStride));
        emitCopy(inBounds, srcIndex, add(dstBase, idx(pass * stride * cols)));
      };
      if ((pass + 1) * stride <= rows)
        copy();
      else
        guarded(lt(row0, idx(rows - pass * stride)), copy);
    }
    return;
  }
  buildTileView();
  for (int64_t first = 0; first < total; first += threads) {
    Value linear = add(tid, idx(first));
    auto copy = [&]() {
      Value row = div(linear, idx(chunksPerRow));
      Value chunk = rem(linear, idx(chunksPerRow));
      Value inBounds = lt(row, validRows);
      Value srcIndex = add(mul(row, rowStride), mul(chunk, idx(kChunk)));
      emitCopy(inBounds, srcIndex,
               add(dstOffset, swizzledBase(row, chunk, cols)));
    };
    if (first + threads <= total)
      copy();
    else
      guarded(lt(linear, idx(total)), copy);
  }
}

SmallVector<Value>
MmaSyncKernelEmitter::packState(ArrayRef<OnlineSoftmaxState> states) {
  SmallVector<Value> values;
  for (const OnlineSoftmaxState &s : states) {
    llvm::append_range(values, s.acc);
    values.append({s.max[0], s.max[1], s.sum[0], s.sum[1]});
  }
  return values;
}

SmallVector<OnlineSoftmaxState>
MmaSyncKernelEmitter::unpackState(ValueRange values) {
  SmallVector<OnlineSoftmaxState> states(rowTiles);
  int64_t accs = spec.getValueHeadDim() / 8;
  size_t pos = 0;
  for (OnlineSoftmaxState &s : states) {
    s.acc.assign(values.begin() + pos, values.begin() + pos + accs);
    pos += accs;
    s.max[0] = values[pos++];
    s.max[1] = values[pos++];
    s.sum[0] = values[pos++];
    s.sum[1] = values[pos++];
  }
  return states;
}

void MmaSyncKernelEmitter::emitBlock(
    SmallVectorImpl<OnlineSoftmaxState> &states, Value block, bool masked) {
  int64_t blockN = config.blockN, stages = config.stages;
  int64_t valueDim = spec.getValueHeadDim();
  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  auto fragAType = VectorType::get({4, 2}, elementType);

  // Wait for this block's group (all but the newest stages - 2 are done),
  // then one barrier: it publishes the block to every warp and also tells
  // that every warp has finished block - 1, whose slot the prefetch of
  // block + stages - 1 overwrites next.
  NVVM::CpAsyncWaitGroupOp::create(b, stages - 2);
  gpu::BarrierOp::create(b);
  Value prefetch = add(block, idx(stages - 1));
  auto ifPrefetch = scf::IfOp::create(b, lt(prefetch, numBlocks));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifPrefetch.thenBlock());
    Value slot = rem(prefetch, idx(stages));
    Value kvStart = mul(prefetch, idx(blockN));
    copyTileAsync(key, batch, kvHead, kvStart, kvLength, kRing,
                  mul(slot, idx(blockN * headDim)), blockN, headDim);
    copyTileAsync(value, batch, kvHead, kvStart, kvLength, vRing,
                  mul(slot, idx(blockN * valueDim)), blockN, valueDim);
  }
  // Always commit (possibly an empty group) so that the wait above always
  // counts one group per block.
  NVVM::CpAsyncCommitGroupOp::create(b);

  Value slot = rem(block, idx(stages));
  Value kvStart = mul(block, idx(blockN));
  Value zeroAcc = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0f)));

  // S = Q K^T. ldmatrix.x4 on K rows gives the B fragments of two n-tiles:
  // (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15).
  int64_t nTiles = blockN / 8;
  SmallVector<SmallVector<Value>> scores(rowTiles,
                                         SmallVector<Value>(nTiles, zeroAcc));
  {
    Value base = ringFragmentBase(slot, headDim, /*rowsFromHighBit=*/true);
    for (int64_t k = 0; k < headDim / 16; ++k) {
      for (int64_t pair = 0; pair < nTiles / 2; ++pair) {
        std::array<Value, 2> bFrags =
            loadBFragments(kRing, swizzledStep(base, headDim, k, 16 * pair),
                           /*transpose=*/false);
        for (int64_t half = 0; half < 2; ++half)
          for (int64_t m = 0; m < rowTiles; ++m)
            mmaAccumulate(queryFragment(m, k), bFrags[half],
                          scores[m][2 * pair + half]);
      }
    }
  }

  float negInf = -std::numeric_limits<float>::infinity();
  for (int64_t m = 0; m < rowTiles; ++m) {
    OnlineSoftmaxState &state = states[m];
    SmallVector<SmallVector<Value, 4>> s(nTiles);
    Value limits[2];
    if (masked)
      for (int64_t h = 0; h < 2; ++h)
        limits[h] = columnLimit(kvStart, 16 * m + 8 * h);
    for (int64_t n = 0; n < nTiles; ++n) {
      for (int64_t h = 0; h < 2; ++h) {
        for (int64_t e = 0; e < 2; ++e) {
          Value x = element(scores[m][n], h, e);
          if (!foldScale)
            x = fmul(x, f32(preScale));
          if (masked) {
            // This element is key column kvStart + 2 * threadInGroup +
            // 8 * n + e of the block.
            Value invalid = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                                  i32(8 * n + e), limits[h]);
            x = arith::SelectOp::create(b, invalid, f32(negInf), x);
          }
          s[n].push_back(x);
        }
      }
    }

    // Row max: in-thread, then across the 4 threads of a quad.
    Value newMax[2], scaledMax[2], alpha[2];
    for (int64_t h = 0; h < 2; ++h) {
      Value rowMax = state.max[h];
      for (int64_t n = 0; n < nTiles; ++n)
        for (int64_t e = 0; e < 2; ++e)
          rowMax = fmax(rowMax, s[n][2 * h + e]);
      rowMax = fmax(rowMax, xorShuffle(rowMax, 1));
      rowMax = fmax(rowMax, xorShuffle(rowMax, 2));
      newMax[h] = rowMax;
      // A row that has seen only masked keys keeps max = -inf; subtracting
      // 0 instead keeps exp2 at 0 rather than NaN.
      Value scaled = fmul(rowMax, f32(scoreScale));
      scaledMax[h] = select(isNegInf(rowMax), f32(0.0f), scaled);
      alpha[h] = exp2(fsub(fmul(state.max[h], f32(scoreScale)), scaledMax[h]));
    }

    // P = exp2(s * c - m * c), row sums, and P as A fragments (f16/bf16).
    Value rowSum[2] = {f32(0.0f), f32(0.0f)};
    SmallVector<Value> probabilities(nTiles);
    for (int64_t n = 0; n < nTiles; ++n) {
      SmallVector<Value, 4> p;
      for (int64_t h = 0; h < 2; ++h) {
        Value negMax = arith::NegFOp::create(b, scaledMax[h]);
        for (int64_t e = 0; e < 2; ++e) {
          Value x =
              math::FmaOp::create(b, s[n][2 * h + e], f32(scoreScale), negMax);
          Value pe = exp2(x);
          rowSum[h] = fadd(rowSum[h], pe);
          p.push_back(pe);
        }
      }
      Value tile = vector::FromElementsOp::create(b, accType, p);
      probabilities[n] = arith::TruncFOp::create(
          b, VectorType::get({2, 2}, elementType), tile);
    }
    for (int64_t h = 0; h < 2; ++h) {
      state.sum[h] = fadd(fmul(state.sum[h], alpha[h]), rowSum[h]);
      state.max[h] = newMax[h];
    }
    Value alphaTile = vector::FromElementsOp::create(
        b, accType, ValueRange{alpha[0], alpha[0], alpha[1], alpha[1]});
    for (Value &acc : state.acc)
      acc = fmul(acc, alphaTile);

    // The S accumulator layout of n-tiles 2k and 2k+1 is exactly the A
    // layout of the k-th 16-key step: (a0, a1) = tile 2k, (a2, a3) = 2k+1.
    SmallVector<Value> pFragments;
    for (int64_t k = 0; k < nTiles / 2; ++k) {
      pFragments.push_back(
          stack(fragAType, {probabilities[2 * k], probabilities[2 * k + 1]}));
    }
    // Stash the fragments; P V happens below for all row tiles at once so
    // each V fragment is loaded once.
    pFragmentsPerTile.push_back(std::move(pFragments));
  }

  // O += P V. ldmatrix.x4.trans on V rows gives the B fragments of two
  // d-tiles: (keys 0-7, d 0-7), (keys 8-15, d 0-7), (keys 0-7, d 8-15),
  // (keys 8-15, d 8-15).
  Value base = ringFragmentBase(slot, valueDim, /*rowsFromHighBit=*/false);
  for (int64_t k = 0; k < blockN / 16; ++k) {
    for (int64_t pair = 0; pair < valueDim / 16; ++pair) {
      std::array<Value, 2> bFrags =
          loadBFragments(vRing, swizzledStep(base, valueDim, pair, 16 * k),
                         /*transpose=*/true);
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t m = 0; m < rowTiles; ++m)
          mmaAccumulate(pFragmentsPerTile[m][k], bFrags[half],
                        states[m].acc[2 * pair + half]);
    }
  }
  pFragmentsPerTile.clear();
  reloadedQuery.clear();
  reloadedQueryBase = nullptr;
  causalThreadPart = nullptr;
}

void MmaSyncKernelEmitter::emitBlockLoop(
    SmallVectorImpl<OnlineSoftmaxState> &states, Value lb, Value ub,
    bool masked) {
  SmallVector<Value> init = packState(states);
  auto loop = scf::ForOp::create(b, lb, ub, idx(1), init);
  loop->setAttr("fa.kv_blocks",
                b.getStringAttr(masked ? "masked" : "unmasked"));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<OnlineSoftmaxState> body =
        unpackState(loop.getRegionIterArgs());
    // The kernel entry's indices stay valid after the loop.
    Value entry[] = {tid, lane, warp, groupId, threadInGroup};
    if (rematerializeThreadIndices())
      bindThreadIndices(readThreadIdInLoop());
    emitBlock(body, loop.getInductionVar(), masked);
    tid = entry[0], lane = entry[1], warp = entry[2], groupId = entry[3];
    threadInGroup = entry[4];
    scf::YieldOp::create(b, packState(body));
  }
  SmallVector<OnlineSoftmaxState> after = unpackState(loop.getResults());
  states.assign(after.begin(), after.end());
}

void MmaSyncKernelEmitter::emitEpilogue(ArrayRef<OnlineSoftmaxState> states) {
  int64_t valueDim = spec.getValueHeadDim();
  auto pairType = VectorType::get({2}, elementType);
  Value zero = f32(0.0f);
  for (int64_t m = 0; m < rowTiles; ++m) {
    const OnlineSoftmaxState &state = states[m];
    Value rowBase = threadRow(m);
    for (int64_t h = 0; h < 2; ++h) {
      Value sum = state.sum[h];
      sum = fadd(sum, xorShuffle(sum, 1));
      sum = fadd(sum, xorShuffle(sum, 2));
      // Rows that saw no key have sum 0: their output is 0, never NaN.
      Value empty =
          arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, sum, zero);
      Value inverse =
          select(empty, zero, arith::DivFOp::create(b, f32(1.0f), sum));
      Value row = add(rowBase, idx(8 * h));
      auto inRange = scf::IfOp::create(b, lt(row, qLength));
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(inRange.thenBlock());
      for (int64_t d = 0; d < valueDim / 8; ++d) {
        Value lo = fmul(element(state.acc[d], h, 0), inverse);
        Value hi = fmul(element(state.acc[d], h, 1), inverse);
        Value pair = arith::TruncFOp::create(
            b, pairType,
            vector::FromElementsOp::create(
                b, VectorType::get({2}, b.getF32Type()), ValueRange{lo, hi}));
        Value col = add(idx(8 * d), mul(threadInGroup, idx(2)));
        vector::StoreOp::create(b, pair, output,
                                ValueRange{batch, head, row, col},
                                /*nontemporal=*/false, llvm::MaybeAlign(4));
      }
      if (!lse)
        continue;
      // LSE = m * scale + log(l) = (m * c) * ln 2 + log(l), natural log.
      auto firstOfQuad = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, threadInGroup,
                                   idx(0)));
      b.setInsertionPointToStart(firstOfQuad.thenBlock());
      Value maxScaled = fmul(state.max[h], f32(scoreScale));
      Value logSum = math::LogOp::create(b, sum, arith::FastMathFlags::afn);
      Value value =
          fadd(fmul(maxScaled, f32(static_cast<float>(M_LN2))), logSum);
      value =
          select(empty, f32(-std::numeric_limits<float>::infinity()), value);
      memref::StoreOp::create(b, value, lse, ValueRange{batch, head, row});
    }
  }
}

void MmaSyncKernelEmitter::emit(gpu::GPUFuncOp func) {
  b.setInsertionPointToStart(&func.getBody().front());
  query = func.getArgument(0);
  key = func.getArgument(1);
  value = func.getArgument(2);
  output = func.getArgument(3);
  if (spec.lseType)
    lse = func.getArgument(4);

  bindThreadIndices(gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  Value tile = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  // With a causal mask later query tiles see more keys: hand them out first
  // so that the short tiles fill the last wave instead of a long one.
  if (spec.causal)
    tile = sub(sub(gpu::GridDimOp::create(b, gpu::Dimension::x), idx(1)), tile);
  head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);

  auto dim = [&](Value memref, int64_t i) -> Value {
    return b.createOrFold<memref::DimOp>(memref, i);
  };
  qLength = dim(query, 2);
  kvLength = dim(key, 2);
  Value group = div(dim(query, 1), dim(key, 1));
  kvHead = div(head, group);
  rowStart = mul(tile, idx(config.blockM));

  // Blocks [0, fullBlocks) need no mask; [fullBlocks, numBlocks) are the
  // causal diagonal and the ragged tail.
  Value blockN = idx(config.blockN);
  Value kvEnd = kvLength, visibleToAll = kvLength;
  if (spec.causal) {
    causalShift = *spec.causal == CausalAlignment::TopLeft
                      ? idx(0)
                      : sub(kvLength, qLength);
    Value tileEnd = minS(add(rowStart, idx(config.blockM)), qLength);
    kvEnd = minS(kvLength, maxS(add(tileEnd, causalShift), idx(0)));
    visibleToAll =
        minS(kvLength, maxS(add(add(rowStart, causalShift), idx(1)), idx(0)));
  }
  numBlocks = ceilDiv(kvEnd, blockN);
  Value fullBlocks = minS(div(visibleToAll, blockN), numBlocks);

  // Shared memory: Q tile, then the K ring, then the V ring.
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto smemBytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                   MemRefLayoutAttrInterface{}, workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(b, smemBytes);
  int64_t valueDim = spec.getValueHeadDim();
  // Flat views (swizzled rows of 16-byte chunks; see swizzledBase): the Q
  // tile [block-m][D], then the K and V rings [stages][block-n][D].
  int64_t qElements = config.blockM * headDim;
  int64_t kElements = config.stages * config.blockN * headDim;
  int64_t vElements = config.stages * config.blockN * valueDim;
  auto flat = [&](int64_t elements, int64_t byteOffset) -> Value {
    auto type = MemRefType::get({elements}, elementType,
                                MemRefLayoutAttrInterface{}, workgroup);
    return memref::ViewOp::create(b, type, smem, idx(byteOffset), ValueRange{});
  };
  qFlat = flat(qElements, 0);
  kRing = flat(kElements, 2 * qElements);
  vRing = flat(vElements, 2 * (qElements + kElements));

  // Prologue: Q, then the first stages - 1 K/V blocks, one group each.
  copyTileAsync(query, batch, head, rowStart, qLength, qFlat, idx(0),
                config.blockM, headDim);
  NVVM::CpAsyncCommitGroupOp::create(b);
  for (int64_t s = 0; s + 1 < config.stages; ++s) {
    auto ifLoad = scf::IfOp::create(b, lt(idx(s), numBlocks));
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifLoad.thenBlock());
      Value kvStart = idx(s * config.blockN);
      copyTileAsync(key, batch, kvHead, kvStart, kvLength, kRing,
                    idx(s * config.blockN * headDim), config.blockN, headDim);
      copyTileAsync(value, batch, kvHead, kvStart, kvLength, vRing,
                    idx(s * config.blockN * valueDim), config.blockN, valueDim);
    }
    NVVM::CpAsyncCommitGroupOp::create(b);
  }
  NVVM::CpAsyncWaitGroupOp::create(b, config.stages - 1);
  gpu::BarrierOp::create(b);
  if (config.queryInRegisters)
    for (int64_t m = 0; m < rowTiles; ++m)
      queryFragments.push_back(loadRowFragments(warpRowBase(m)));

  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  Value zeroAcc = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0f)));
  SmallVector<OnlineSoftmaxState> states(rowTiles);
  for (OnlineSoftmaxState &s : states) {
    s.acc.assign(valueDim / 8, zeroAcc);
    s.max[0] = s.max[1] = f32(-std::numeric_limits<float>::infinity());
    s.sum[0] = s.sum[1] = f32(0.0f);
  }
  emitBlockLoop(states, idx(0), fullBlocks, /*masked=*/false);
  emitBlockLoop(states, fullBlocks, numBlocks, /*masked=*/true);
  // Drain the (empty) groups still in flight before the block exits.
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  emitEpilogue(states);
  gpu::ReturnOp::create(b);
}

MemRefType mlir::fa::getKernelArgumentType(RankedTensorType type) {
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  strides.back() = 1;
  auto layout =
      StridedLayoutAttr::get(type.getContext(), ShapedType::kDynamic, strides);
  return MemRefType::get(type.getShape(), type.getElementType(), layout);
}

FailureOr<gpu::GPUFuncOp> mlir::fa::buildMmaSyncAttentionKernel(
    OpBuilder &builder, gpu::GPUModuleOp module, StringRef name,
    const AttentionKernelSpec &spec, const MmaSyncConfig &config,
    const GPUTarget &target, Location loc) {
  if (failed(verifyMmaSyncConfig(spec, config, target,
                                 [&]() { return emitError(loc); })))
    return failure();
  SmallVector<Type> arguments{getKernelArgumentType(spec.queryType),
                              getKernelArgumentType(spec.keyType),
                              getKernelArgumentType(spec.valueType),
                              getKernelArgumentType(spec.outputType)};
  if (spec.lseType)
    arguments.push_back(getKernelArgumentType(spec.lseType));

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(builder, loc, name,
                                     builder.getFunctionType(arguments, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr(
      {static_cast<int32_t>(config.threads()), 1, 1}));

  KernelLaunchInfo info;
  info.strategy = "mma-sync";
  info.chip = target.chip;
  info.blockM = config.blockM;
  info.blockN = config.blockN;
  info.warps = config.warps;
  info.stages = config.stages;
  info.threads = config.threads();
  info.dynamicSharedMemory = getMmaSyncSharedMemoryBytes(spec, config);
  info.scale = spec.scale;
  if (spec.causal)
    info.causal =
        *spec.causal == CausalAlignment::TopLeft ? "top_left" : "bottom_right";
  func->setAttr(KernelLaunchInfo::attrName, info.toAttr(builder.getContext()));

  ImplicitLocOpBuilder b(loc, builder);
  MmaSyncKernelEmitter(b, spec, config).emit(func);
  return func;
}
