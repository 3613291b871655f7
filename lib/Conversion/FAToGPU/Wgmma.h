//===- Wgmma.h - Hopper warpgroup MMA emission ------------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// wgmma.mma_async as the Hopper strategy emits it: shared-memory matrix
// descriptors for the 128-byte-swizzled layout, the SS form (A and B from
// shared memory) and the RS form (A from registers), and the fences that
// keep LLVM from moving register accesses across the asynchronous MMA.
//
// Upstream's nvvm.wgmma.mma_async has no register-A form, so both forms are
// emitted as llvm.inline_asm with the PTX spelled out: one statement per
// chain of MMAs into the same accumulators (a k-loop), whose registers are
// tied operands. An accumulator of 64 registers is 64 results and 64
// operands of a statement, so one statement per MMA made the LLVM IR of a
// kernel about half extractvalues and cost a quarter of the LLVM backend's
// time. The PTX inside keeps one scope per MMA and each descriptor move
// where LLVM placed it when every MMA was a statement of its own (hoisted
// out of the loop where the descriptor is loop-invariant, next to its MMA
// otherwise), so that ptxas sees the same instructions in the same order.
// nvvm.wgmma.fence / commit / wait are upstream ops.
//
// Shared-memory layout ("slabs"): a tile of R rows by C 16-bit columns is
// C/64 slabs of R rows of 128 bytes; the 16-byte chunk j of row r is stored
// at chunk j ^ (r mod 8) (the 128-byte swizzle, as TMA writes it). Slabs
// start at multiples of 1024 bytes. K-major operands (Q and K for
// S = Q K^T) step through k by moving the start address 32 bytes per 16
// columns inside a slab, and to the next slab every 64; the N-major V (for
// O += P V) steps 16 rows (2048 bytes) per k-step, its slabs LBO apart.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_WGMMA_H
#define FA_LIB_CONVERSION_FATOGPU_WGMMA_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::fa::detail {

/// Bytes of one slab row and of one 8-row swizzle period.
inline constexpr int64_t kSlabRowBytes = 128;
inline constexpr int64_t kSwizzlePeriodBytes = 1024;

/// The address-independent bits of a 128-byte-swizzle matrix descriptor:
/// leading and stride byte offsets (multiples of 16) and the layout type.
uint64_t getWgmmaDescriptorBits(int64_t leadingBytes, int64_t strideBytes);

/// A descriptor (i64) for the shared-memory byte address `address` (i32):
/// `bits` | address >> 4. Adding (offset >> 4) to it moves the start by
/// `offset` bytes (the start field holds any shared-memory address).
Value makeWgmmaDescriptor(ImplicitLocOpBuilder &b, Value address,
                          uint64_t bits);
/// `descriptor` moved by `offsetBytes` (a multiple of 16).
Value offsetWgmmaDescriptor(ImplicitLocOpBuilder &b, Value descriptor,
                            int64_t offsetBytes);

/// The byte offsets of the 16-deep k-steps through `depth` columns of a
/// K-major operand of `rows` rows in slabs: 32 bytes per step inside a slab,
/// the next slab (`rows` x 128 bytes) every 4 steps.
SmallVector<int64_t> getKMajorStepOffsets(int64_t depth, int64_t rows);
/// The byte offsets of the 16-deep k-steps through `depth` rows of an
/// N-major (or M-major) operand in slabs: 16 rows (2048 bytes) per step.
SmallVector<int64_t> getRowStepOffsets(int64_t depth);

/// Where the moved descriptors of a chain's MMAs are computed.
/// - AsPlaced: where LLVM placed them when every MMA was a statement of its
///   own (the forward's chains): as operands of the statement where the
///   base descriptor is the same in every iteration of the loop around the
///   chain (LLVM hoists them), else as adds inside the statement, next to
///   their MMA.
/// - Operands: always as operands, computed before the statement. The
///   backward's fused kernel keeps more accumulators live than the forward;
///   there ptxas allocates the adds' results inside the statement beside
///   all of them (its D = 64 kernels spilled 8-12 bytes), and none as
///   operands.
enum class DescriptorMoves { AsPlaced, Operands };

/// acc (64 x n f32, n/2 per thread) = sum over k of A_k B_k (+ acc when
/// `accumulate`), each A_k (64 x 16) and B_k (16 x n) in shared memory at
/// the descriptors descA and descB moved by offsetsA[k] and offsetsB[k]
/// bytes (multiples of 16): K-major (A B^T of two row-major tiles), or
/// M-major A / N-major B when transposed. One asm statement issues the
/// MMAs back to back (the first overwrites acc unless `accumulate`).
SmallVector<Value>
emitWgmmaSS(ImplicitLocOpBuilder &b, ArrayRef<Value> acc, Value descA,
            ArrayRef<int64_t> offsetsA, Value descB, ArrayRef<int64_t> offsetsB,
            int64_t n, Type elementType, bool accumulate,
            bool transposeA = false, bool transposeB = false,
            DescriptorMoves moves = DescriptorMoves::AsPlaced);
/// acc += sum over k of A_k B_k, A_k (64 x 16) in the four registers
/// a[4k..4k+3] of two 16-bit elements each (the m64k16 A fragment) and B_k
/// (16 x n) in shared memory at the descriptor descB moved by offsetsB[k]
/// bytes, N-major when `transposeB`; one asm statement, as emitWgmmaSS.
SmallVector<Value>
emitWgmmaRS(ImplicitLocOpBuilder &b, ArrayRef<Value> acc, ArrayRef<Value> a,
            Value descB, ArrayRef<int64_t> offsetsB, int64_t n,
            Type elementType, bool transposeB,
            DescriptorMoves moves = DescriptorMoves::AsPlaced);

/// `values` (all f32 or all i32) through an empty volatile asm: later
/// uses cannot move above it, earlier definitions cannot move below it.
SmallVector<Value> fenceRegisters(ImplicitLocOpBuilder &b,
                                  ArrayRef<Value> values);

void emitWgmmaFence(ImplicitLocOpBuilder &b);
void emitWgmmaCommit(ImplicitLocOpBuilder &b);
void emitWgmmaWait(ImplicitLocOpBuilder &b, int64_t pending);

/// `v` (an index) as i32, the type of TMA coordinates and shared-memory
/// addresses; a constant folds.
Value castIndexToI32(ImplicitLocOpBuilder &b, Value v);

/// TMA loads of a tile of `rows` rows x `cols` 16-bit columns into its
/// slabs from shared byte address `dst` (i32, a multiple of the swizzle
/// period): one box of 64 columns x `rows` per slab (the map's box), at
/// coordinates (64 slab, `outer`...) innermost first (i32), each completing
/// its bytes on the mbarrier `bar`. The caller arrives with the expected
/// transaction bytes. Slabs are `slabRows` rows apart (0: `rows`; more
/// when the box is a piece of a tile whose slabs hold more rows, at `dst`
/// a multiple of 8 rows into them).
void emitSlabTileLoad(ImplicitLocOpBuilder &b, Value map, Value bar, Value dst,
                      ValueRange outer, int64_t rows, int64_t cols,
                      int64_t slabRows = 0);

/// The converse for `cols` 16-bit columns: one TMA store per slab of the
/// box at shared byte address `src` (i32, a multiple of the swizzle
/// period) + slab * `slabBytes` to coordinates (64 slab, `outer`...)
/// innermost first (i32), through `map` (whose box gives the rows); then
/// one bulk-group commit. The caller fences its writes of the boxes for
/// the async proxy first, and waits for the group before it writes them
/// again.
void emitSlabTileStore(ImplicitLocOpBuilder &b, Value map, Value src,
                       ValueRange outer, int64_t slabBytes, int64_t cols);
/// Blocks the thread until the phase of the mbarrier `bar` with parity
/// `parity` (index or i32) has completed.
void emitMbarrierWait(ImplicitLocOpBuilder &b, Value bar, Value parity);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_WGMMA_H
