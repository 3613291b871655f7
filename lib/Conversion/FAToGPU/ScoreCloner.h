//===- ScoreCloner.h - The scores body of a tile, cloned into kernels -*- C++ -*-//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Every GPU strategy evaluates the element-wise part of attention (scale,
// score_mod, causal mask, mask_mod) by cloning the `scores` body of the
// fused tile onto its accumulator fragments, so that the kernel computes
// exactly what the IR says. Two pieces:
//
// - ScoreFunction analyses the body once: it splits the yielded value into
//   the visibility predicate and the kept score (and a positive constant
//   factor on it that the softmax folds into one FMA), and records for
//   every value it depends on whether it varies with the block of keys, the
//   query row, the key column or the Q K^T element. What cannot be evaluated
//   in a kernel is refused here, before any kernel IR exists.
// - TileCloner clones those values into a kernel, each at the level it
//   varies at: once per thread block (prologue), once per fragment row,
//   once per key block or fragment column, or per element. Captures become
//   memref loads; a load that only depends on the row is hoisted out of the
//   key loop.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_SCORECLONER_H
#define FA_LIB_CONVERSION_FATOGPU_SCORECLONER_H

#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>
#include <optional>

namespace mlir::fa::detail {

/// What a value varies with.
enum Dependence : unsigned {
  kUniform = 0,
  kBlock = 1, // the key/value block (the key loop's induction variable)
  kRow = 2,   // the query row (linalg.index 0 of the scores body)
  kCol = 4,   // the key column within the block (linalg.index 1)
  kScore = 8, // the Q K^T element (the scores body's block argument)
  kThread = 16, // this thread's fragments, but not one element of them
};

/// How a kernel lays a tile's scores body onto its fragments.
struct ScoreFunctionOptions {
  /// The fragments are the transpose of the body's elements: fragment rows
  /// are the body's linalg.index 1 (keys), columns its index 0 (queries).
  /// The backward's key_value kernel computes S^T = K Q^T.
  bool transposed = false;
  /// A loop around `kvLoop` whose induction variable also varies per block
  /// (kBlock): the backward's loop over the query heads of a group.
  scf::ForOp outerLoop;
  /// A serial loop over the tiles around the tile (the backward's fused
  /// "key_tiles") whose iterations the kernel runs as its thread blocks:
  /// its induction variable, the tile's first row, is uniform
  /// (TileCloner::Roots::tileStart).
  scf::ForOp tileLoop;
  /// Values the kernel clones per block besides the body's (the query head
  /// of the backward's outer loop): they may vary with the block, never
  /// with a row, column or score.
  SmallVector<Value> blockValues;
};

/// Whether `value` is the split count of a split tile (the forall's first
/// bound), which a kernel reads from the partial LSE's first dimension.
bool isSplitCount(const FusedAttentionTile &tile, Value value);

class ScoreFunction {
public:
  /// Analyses `tile`; reports (on the offending op) and fails when its
  /// scores body or the index values of the tile cannot be evaluated in a
  /// kernel. A scores op with two results (the backward's) also yields
  /// d score / d s (getDerivative).
  static FailureOr<ScoreFunction>
  analyze(const FusedAttentionTile &tile,
          const ScoreFunctionOptions &options = {});

  const FusedAttentionTile &getTile() const { return tile; }
  /// The i1 the body keeps an element by, or null when nothing masks.
  Value getVisible() const { return visible; }
  /// The kept score is `inner * scale` with `scale` > 0 (1 when no such
  /// factor): max and exp2 run on `inner` and fold the factor into one FMA.
  Value getInner() const { return inner; }
  double getKeptScale() const { return keptScale; }
  /// The derivative of the kept score with respect to the score_mod's
  /// input, the body's second result (null when it has one result).
  Value getDerivative() const { return derivative; }
  /// Whether fragment rows are the body's keys (ScoreFunctionOptions).
  bool isTransposed() const { return options.transposed; }
  scf::ForOp getOuterLoop() const { return options.outerLoop; }
  scf::ForOp getTileLoop() const { return options.tileLoop; }
  /// Whether linalg.index `dim` of the body is the fragment row.
  bool isRowIndex(unsigned dim) const { return (dim == 0) != isTransposed(); }
  /// The dependence bits of a value of the slice (see Dependence).
  unsigned getDependence(Value value) const { return dependence.lookup(value); }
  /// Values of the query extent of the tile (min(block_m, Nq - first row)).
  Value getRows() const { return rows; }
  /// An upper bound of the inner score that the softmax may subtract in
  /// place of the running row maximum, when the inner score stays in a
  /// static range [lo, hi] (getStaticRange) narrow enough that every
  /// visible probability exp2((s - hi) * scale) >= 2^-span is a normal
  /// number of `probabilityType` (span 100 for bf16 and f32, 12 for f16).
  /// Such a softmax needs no row maximum and never rescales its
  /// accumulators.
  std::optional<double> getFixedMax(Type probabilityType) const;

private:
  ScoreFunction(const FusedAttentionTile &tile,
                const ScoreFunctionOptions &options)
      : tile(tile), options(options) {}
  FailureOr<unsigned> analyzeValue(Value value);

  FusedAttentionTile tile;
  ScoreFunctionOptions options;
  Value visible, inner, derivative, rows;
  double keptScale = 1.0;
  DenseMap<Value, unsigned> dependence;
};

/// The range [lo, hi] of the float `value` of the scores body `body` for
/// every Q K^T element, index and captured value (interval arithmetic over
/// the body's float ops), or nullopt when it is unbounded.
std::optional<std::pair<double, double>> getStaticRange(Value value,
                                                        Block *body);

/// `value` (an i32) through an identity LLVM cannot look into: inline
/// `mov.b32`, which ptxas removes. A bound clamped in 64 bits and
/// truncated (a key count, a narrowed mask comparison) is compared with
/// each element's constant; from the clamp LLVM's instcombine knows that
/// the truncation is exact and folds it into every comparison, which then
/// compares 64-bit values: two SASS ISETPs a score where one does. A
/// `tag` becomes a comment of the asm text: moves with different tags are
/// different instructions, which LLVM neither merges nor hoists together
/// (TileCloner keeps a block's values in their branch with them).
Value hideIntegerRange(ImplicitLocOpBuilder &b, Value value,
                       StringRef tag = {});

/// The signed counterpart of an unsigned ordering predicate (ult -> slt,
/// ule -> sle, ugt -> sgt, uge -> sge); any other predicate itself. The
/// two order the same values where neither side can be negative.
arith::CmpIPredicate getSignedPredicate(arith::CmpIPredicate predicate);

/// Clones values of a ScoreFunction's slice into a kernel.
class TileCloner {
public:
  struct Roots {
    Value batch, head, tileIndex;
    /// The split of a split-KV tile (FusedAttentionTile::split).
    Value split;
    /// The tile's first row, for ScoreFunctionOptions::tileLoop.
    Value tileStart;
    /// Tile tensors (Q, K, V, O, LSE, captures) -> kernel memref arguments.
    DenseMap<Value, Value> tensors;
    /// Fills `tensors` from the kernel's arguments in the order of
    /// getKernelArgumentTypes: Q, K, V, O[, LSE][, cu_seqlens_q,
    /// cu_seqlens_k], captures.
    void bindKernelArguments(const FusedAttentionTile &tile,
                             ValueRange arguments);
    /// Fragment row `id` of this thread is local row (within the tile)
    /// rowBase + rowOffsets[id]; fragment column `id` is local key column
    /// (within the block) colBase + colOffsets[id]. `inLoop` asks for the
    /// base inside the key loop (the kernel may re-derive its thread
    /// indices per block), else at the kernel entry.
    std::function<Value(bool inLoop)> rowBase;
    std::function<Value()> colBase;
    SmallVector<int64_t> rowOffsets, colOffsets;
    /// Clone values that vary per thread but not per element once before
    /// the loop (else per block; capture loads are always hoisted).
    bool hoistRowValues = true;
    /// Pass the clamped i32 bound of each narrowed comparison through
    /// hideIntegerRange, so that its per-element comparisons stay 32-bit.
    bool hideNarrowedRanges = false;
  };

  TileCloner(ImplicitLocOpBuilder &b, const ScoreFunction &function,
             Roots roots);

  /// Values that vary with nothing are cloned before `anchor` (in the
  /// kernel prologue; it must dominate every later use).
  void setPrologue(Operation *anchor) { prologueAnchor = anchor; }
  Operation *getPrologue() const { return prologueAnchor; }
  /// The kernel argument standing for a tile tensor (a capture).
  Value tensorArgument(Value tensor) const {
    return roots.tensors.lookup(tensor);
  }
  /// Starts a block of keys at `kvStart` (the streamed loop's induction
  /// variable; `outerIndex` that of the function's outer loop, if it has
  /// one): block-level values are cloned before `anchor`.
  void beginBlock(Value kvStart, Operation *anchor, Value outerIndex = {});
  /// A value of the slice that varies with the block only (e.g. the query
  /// head of the backward's outer loop), cloned for the current block.
  Value blockValue(Value value) { return materialize(value, {}); }

  /// A value of the slice that varies with nothing (e.g. the key loop's
  /// upper bound, the K/V head, the first row).
  Value uniform(Value value) { return materialize(value, {}); }
  /// A value of the scores body for this thread's fragment row `row`,
  /// column `col` and Q K^T element `qk`, cloned at the builder's insertion
  /// point (or hoisted, as its dependence allows).
  Value element(Value value, unsigned row, unsigned col, Value qk) {
    return materialize(value, {row, col, qk});
  }

  /// Which columns of this thread's fragment row `row` the current block
  /// shows: element (row, col) is visible iff lo <= colOffsets[col] <= hi
  /// (i32 values of the block; a null bound bounds nothing; see
  /// ColumnInterval for rows with both). `keysLeft` (index; optional) also
  /// bounds them: columns at or past it are the padding of the block. One
  /// comparison of the element's constant with per-row values then decides
  /// each score, where the predicate cloned per element compares once per
  /// affine comparison and once more for the padding. (Both forward
  /// strategies, under their columnIntervals.)
  ///
  /// The interval exists when the visible predicate is a conjunction
  /// (arith.andi) of comparisons (slt, sle, sgt, sge, eq) of affine index
  /// expressions whose column coefficient is 1 or -1 (causal masks, sliding
  /// windows) and of i1 values that do not vary with the column or the
  /// score; else it is nullopt and the caller evaluates the predicate per
  /// element. The builder's insertion point must lie where the block's
  /// per-row values may go (after `keysLeft`).
  struct ColumnInterval {
    /// One bound (the other null), or, where the row has both, the test
    /// (column - lo) <u width with width = max(hi - lo + 1, 0): one
    /// comparison a score instead of two.
    Value lo, hi;
    Value negatedLo, width;
  };
  std::optional<ColumnInterval> visibleColumns(unsigned row, Value keysLeft);
  /// Whether column `col` lies in `interval`: an i1, or null when the
  /// interval bounds nothing.
  Value inInterval(const ColumnInterval &interval, unsigned col);
  /// Score `x` of element (row, col, qk) of a masked block, or `negInf`
  /// where the block hides it: by the row's `interval` where it has one,
  /// else by the visible predicate cloned for the element and the padding
  /// test colOffsets[col] >= `padding` (the i32 count of the thread's
  /// columns that hold keys). Every strategy's masked scores, forward and
  /// backward.
  Value maskScore(Value x, unsigned row, unsigned col, Value qk,
                  const std::optional<ColumnInterval> &interval, Value padding,
                  Value negInf);

private:
  struct Context {
    std::optional<unsigned> row, col;
    Value qk;
  };
  /// value = base + constant + rowCoefficient * rowOffsets[row] +
  /// colCoefficient * colOffsets[col]: an index expression whose only
  /// per-element part is a compile-time constant. `base` (null for 0)
  /// varies per thread, block or tile, never per element.
  struct Affine {
    Value base;
    int64_t constant = 0, rowCoefficient = 0, colCoefficient = 0;
    /// Dependence of the base (kBlock, kThread).
    unsigned dependence = 0;
    /// Whether every term of the value is non-negative (so is the value,
    /// as index arithmetic on positions does not wrap): positions (a
    /// query's or key's index in its sequence, a linalg.index), constants
    /// >= 0, induction variables of loops from a non-negative bound
    /// upwards, their sums and their products with constants >= 0.
    bool nonNegative = true;
  };
  /// The signed predicate that orders x and y as `predicate` does: itself
  /// for a signed one or eq/ne; for an unsigned one, its signed counterpart
  /// where neither side can be negative (an unsigned comparison of
  /// positions, as `arith.cmpi ule, %kv_idx, %q_idx`); else none.
  static std::optional<arith::CmpIPredicate>
  getSignedOrder(arith::CmpIPredicate predicate, const Affine &x,
                 const Affine &y);
  Value materialize(Value value, const Context &context);
  /// The affine form of an integer value of the slice, when it has one.
  std::optional<Affine> affine(Value value);
  /// The element constant of `form` for fragment row `row`, column `col`.
  int64_t offsetOf(const Affine &form, const Context &context) const;
  /// A comparison of affine index expressions as one compare of an i32
  /// per-block value with an immediate per element; null when `cmp` is not
  /// one.
  Value narrowCompare(Operation *cmp, const Context &context);
  /// sitofp of an affine index expression as one i32 and one f32 addition
  /// per element (exact); null when `op` is not one.
  Value affineToFloat(Operation *op, const Context &context);
  /// Sets the insertion point for a value of dependence `dependence`
  /// (prologue, block or current).
  void placeFor(unsigned dependence, bool isLoad);

  ImplicitLocOpBuilder &b;
  const ScoreFunction &function;
  Roots roots;
  Operation *prologueAnchor = nullptr, *blockAnchor = nullptr;
  Value kvStart, outerIndex;
  /// Cloned values by (value, row or -1, col or -1): one map that lives for
  /// the kernel, one for the current block.
  using Key = std::tuple<Value, int, int>;
  DenseMap<Key, Value> kernelValues, blockValues;
  /// Affine forms (by value and whether they were placed in the prologue)
  /// and the per-block compare operands, per block.
  DenseMap<std::pair<Value, int>, Affine> affineForms;
  /// Set while the operands of a load hoisted out of the key loop are
  /// cloned: per-thread values go to the prologue too.
  bool forcePrologue = false;
  /// The range [lo, hi] of `form`'s element constants over this thread's
  /// fragment rows and columns.
  std::pair<int64_t, int64_t> elementRange(const Affine &form) const;
  /// Of a comparison x p y of affine forms: y's base - x's base, clamped to
  /// one past `range` (which keeps every comparison with an element
  /// constant in it) and narrowed to i32, placed where the bases vary and
  /// cached for the block; with `hide`, through hideIntegerRange where the
  /// roots ask for it (hideNarrowedRanges).
  Value narrowDifference(Operation *compare, const Affine &x, const Affine &y,
                         std::pair<int64_t, int64_t> range, bool hide);
  /// narrowDifference's values by (compare, forcePrologue | hide << 1).
  DenseMap<std::pair<Operation *, int>, Value> narrowedCompares;
  DenseMap<std::pair<Operation *, int>, std::pair<Value, Value>> floatBases;
  /// Counts beginBlock calls: the tag of the block's moves
  /// (affineToFloat).
  unsigned blockSerial = 0;
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_SCORECLONER_H
