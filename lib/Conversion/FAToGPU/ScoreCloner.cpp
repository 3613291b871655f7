//===- ScoreCloner.cpp - The scores body of a tile, cloned into kernels ---===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "ScoreCloner.h"

#include "fa/Dialect/FA/IR/ModRegions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/RegionUtils.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

//===----------------------------------------------------------------------===//
// TileCloner
//===----------------------------------------------------------------------===//

void TileCloner::Roots::bindKernelArguments(const FusedAttentionTile &tile,
                                            ValueRange arguments) {
  tensors[tile.query] = arguments[0];
  tensors[tile.key] = arguments[1];
  tensors[tile.value] = arguments[2];
  tensors[tile.output] = arguments[3];
  unsigned next = 4;
  if (tile.lseOutput)
    tensors[tile.lseOutput] = arguments[next++];
  if (tile.isVarlen()) {
    tensors[tile.cuSeqlensQ] = arguments[next++];
    // (Against a paged cache the key counts are cache_seqlens.)
    if (tile.cuSeqlensK)
      tensors[tile.cuSeqlensK] = arguments[next++];
  }
  if (tile.isPaged()) {
    tensors[tile.blockTable] = arguments[next++];
    tensors[tile.cacheSeqlens] = arguments[next++];
  }
  for (Value capture : tile.captures)
    tensors[capture] = arguments[next++];
}

TileCloner::TileCloner(ImplicitLocOpBuilder &b, const ScoreFunction &function,
                       Roots roots)
    : b(b), function(function), roots(std::move(roots)) {}

void TileCloner::beginBlock(Value start, Operation *anchor, Value outer) {
  kvStart = start;
  outerIndex = outer;
  blockAnchor = anchor;
  blockValues.clear();
  affineForms.clear();
  narrowedCompares.clear();
  floatBases.clear();
  ++blockSerial;
}

void TileCloner::placeFor(unsigned dependence, bool isLoad) {
  bool perElement = (dependence & kScore) ||
                    ((dependence & kRow) && (dependence & kCol));
  if (perElement)
    return;
  bool perThread = !(dependence & (kBlock | kCol)) &&
                   (dependence & (kRow | kThread));
  if (dependence == kUniform ||
      (perThread && (roots.hoistRowValues || isLoad || forcePrologue)))
    b.setInsertionPoint(prologueAnchor);
  else
    b.setInsertionPoint(blockAnchor);
}

static Operation *cloneIntoKernel(OpBuilder &b, Operation *op,
                                  IRMapping &mapping);

int64_t TileCloner::offsetOf(const Affine &form, const Context &context) const {
  int64_t offset = form.constant;
  if (form.rowCoefficient)
    offset += form.rowCoefficient * roots.rowOffsets[*context.row];
  if (form.colCoefficient)
    offset += form.colCoefficient * roots.colOffsets[*context.col];
  return offset;
}

/// Whether `value`, an integer of the scores body that varies with neither
/// row nor column (a tile's first row, a key block's first key), cannot be
/// negative: a constant >= 0, the induction variable of a loop whose lower
/// bound cannot be and whose step is positive, and sums and products of
/// such values (index arithmetic on positions does not wrap).
static bool isNonNegativeTerm(Value value, unsigned depth = 0) {
  if (depth > 8)
    return false;
  APInt constant;
  if (matchPattern(value, m_ConstantInt(&constant)))
    return !constant.isNegative();
  if (auto argument = dyn_cast<BlockArgument>(value)) {
    Operation *owner = argument.getOwner()->getParentOp();
    if (auto loop = dyn_cast<scf::ForOp>(owner)) {
      APInt step;
      return argument == loop.getInductionVar() &&
             matchPattern(loop.getStep(), m_ConstantInt(&step)) &&
             step.isStrictlyPositive() &&
             isNonNegativeTerm(loop.getLowerBound(), depth + 1);
    }
    if (auto loop = dyn_cast<scf::ForallOp>(owner)) {
      auto ivs = loop.getInductionVars();
      auto it = llvm::find(ivs, argument);
      if (it == ivs.end())
        return false;
      size_t dim = it - ivs.begin();
      OpFoldResult lower = loop.getMixedLowerBound()[dim];
      OpFoldResult step = loop.getMixedStep()[dim];
      std::optional<int64_t> stepValue = getConstantIntValue(step);
      if (!stepValue || *stepValue <= 0)
        return false;
      if (std::optional<int64_t> lowerValue = getConstantIntValue(lower))
        return *lowerValue >= 0;
      return isNonNegativeTerm(cast<Value>(lower), depth + 1);
    }
    return false;
  }
  Operation *op = value.getDefiningOp();
  if (isa_and_nonnull<arith::AddIOp, arith::MulIOp>(op))
    return isNonNegativeTerm(op->getOperand(0), depth + 1) &&
           isNonNegativeTerm(op->getOperand(1), depth + 1);
  if (isa_and_nonnull<arith::IndexCastOp>(op) &&
      (isa<IndexType>(op->getOperand(0).getType()) ||
       op->getOperand(0).getType().isInteger(64)) &&
      (isa<IndexType>(value.getType()) || value.getType().isInteger(64)))
    return isNonNegativeTerm(op->getOperand(0), depth + 1);
  return false;
}

std::optional<TileCloner::Affine> TileCloner::affine(Value value) {
  std::pair<Value, int> cacheKey{value, forcePrologue ? 1 : 0};
  if (auto it = affineForms.find(cacheKey); it != affineForms.end())
    return it->second;
  if (!value.getType().isIntOrIndex())
    return std::nullopt;
  unsigned dep = function.getDependence(value);
  if (dep & kScore)
    return std::nullopt;
  Affine form;
  APInt constant;
  if (matchPattern(value, m_ConstantInt(&constant))) {
    form.constant = constant.getSExtValue();
    form.nonNegative = form.constant >= 0;
    return affineForms[cacheKey] = form;
  }
  if (!(dep & (kRow | kCol))) {
    form.base = materialize(value, {});
    form.dependence = dep;
    form.nonNegative = isNonNegativeTerm(value);
    return affineForms[cacheKey] = form;
  }
  Operation *op = value.getDefiningOp();
  if (!op)
    return std::nullopt;
  OpBuilder::InsertionGuard guard(b);
  if (auto index = dyn_cast<linalg::IndexOp>(op)) {
    form.dependence = kThread;
    placeFor(kThread, /*isLoad=*/false);
    bool inPrologue = b.getInsertionPoint() == Block::iterator(prologueAnchor);
    if (function.isRowIndex(index.getDim())) {
      form.base = roots.rowBase(/*inLoop=*/!inPrologue);
      form.rowCoefficient = 1;
    } else {
      form.base = roots.colBase();
      form.colCoefficient = 1;
    }
    return affineForms[cacheKey] = form;
  }
  // Sums and differences of affine forms, and their product with a
  // constant, stay affine.
  auto combine = [&](Value x, Value y, bool subtract,
                     unsigned dependence) -> Value {
    if (!y)
      return x;
    OpBuilder::InsertionGuard inner(b);
    placeFor(dependence, /*isLoad=*/false);
    if (!x)
      return subtract ? b.createOrFold<arith::SubIOp>(
                            arith::ConstantOp::create(
                                b, b.getZeroAttr(y.getType())),
                            y)
                      : y;
    return subtract ? b.createOrFold<arith::SubIOp>(x, y)
                    : b.createOrFold<arith::AddIOp>(x, y);
  };
  if (isa<arith::AddIOp, arith::SubIOp>(op)) {
    std::optional<Affine> x = affine(op->getOperand(0));
    std::optional<Affine> y = affine(op->getOperand(1));
    if (!x || !y)
      return std::nullopt;
    int sign = isa<arith::SubIOp>(op) ? -1 : 1;
    form.dependence = x->dependence | y->dependence;
    form.base = combine(x->base, y->base, sign < 0, form.dependence);
    form.constant = x->constant + sign * y->constant;
    form.rowCoefficient = x->rowCoefficient + sign * y->rowCoefficient;
    form.colCoefficient = x->colCoefficient + sign * y->colCoefficient;
    form.nonNegative = x->nonNegative && y->nonNegative && sign > 0;
    return affineForms[cacheKey] = form;
  }
  if (isa<arith::MulIOp>(op)) {
    for (unsigned i = 0; i < 2; ++i) {
      if (!matchPattern(op->getOperand(i), m_ConstantInt(&constant)))
        continue;
      std::optional<Affine> x = affine(op->getOperand(1 - i));
      if (!x)
        return std::nullopt;
      int64_t c = constant.getSExtValue();
      form = *x;
      if (x->base) {
        OpBuilder::InsertionGuard inner(b);
        placeFor(x->dependence, /*isLoad=*/false);
        form.base = b.createOrFold<arith::MulIOp>(
            x->base, arith::ConstantOp::create(
                         b, IntegerAttr::get(x->base.getType(), c)));
      }
      form.constant *= c;
      form.rowCoefficient *= c;
      form.colCoefficient *= c;
      form.nonNegative &= c >= 0;
      return affineForms[cacheKey] = form;
    }
    return std::nullopt;
  }
  // index <-> i64 casts keep the value.
  if (isa<arith::IndexCastOp, arith::ExtSIOp>(op)) {
    Type from = op->getOperand(0).getType(), to = value.getType();
    auto width = [](Type t) {
      return isa<IndexType>(t) ? 64u : t.getIntOrFloatBitWidth();
    };
    if (width(from) != 64 || width(to) != 64)
      return std::nullopt;
    std::optional<Affine> x = affine(op->getOperand(0));
    if (!x)
      return std::nullopt;
    form = *x;
    if (x->base) {
      OpBuilder::InsertionGuard inner(b);
      placeFor(x->dependence, /*isLoad=*/false);
      form.base = b.createOrFold<arith::IndexCastOp>(to, x->base);
    }
    return affineForms[cacheKey] = form;
  }
  return std::nullopt;
}

Value mlir::fa::detail::hideIntegerRange(ImplicitLocOpBuilder &b, Value value,
                                         StringRef tag) {
  std::string text = "mov.b32 $0, $1;";
  if (!tag.empty())
    text += (" // " + tag).str();
  return LLVM::InlineAsmOp::create(
             b, b.getLoc(), b.getI32Type(), ValueRange{value}, text, "=r,r",
             /*has_side_effects=*/false,
             /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
             /*asm_dialect=*/nullptr, /*operand_attrs=*/nullptr)
      .getRes();
}

arith::CmpIPredicate
mlir::fa::detail::getSignedPredicate(arith::CmpIPredicate predicate) {
  using P = arith::CmpIPredicate;
  switch (predicate) {
  case P::ult:
    return P::slt;
  case P::ule:
    return P::sle;
  case P::ugt:
    return P::sgt;
  case P::uge:
    return P::sge;
  default:
    return predicate;
  }
}

std::optional<arith::CmpIPredicate>
TileCloner::getSignedOrder(arith::CmpIPredicate predicate, const Affine &x,
                           const Affine &y) {
  arith::CmpIPredicate counterpart = getSignedPredicate(predicate);
  if (counterpart == predicate || (x.nonNegative && y.nonNegative))
    return counterpart;
  return std::nullopt;
}

Value TileCloner::narrowCompare(Operation *op, const Context &context) {
  auto cmp = dyn_cast<arith::CmpIOp>(op);
  if (!cmp)
    return {};
  std::optional<Affine> x = affine(cmp.getLhs());
  std::optional<Affine> y = affine(cmp.getRhs());
  if (!x || !y)
    return {};
  std::optional<arith::CmpIPredicate> predicate =
      getSignedOrder(cmp.getPredicate(), *x, *y);
  if (!predicate)
    return {};
  // x p y  <=>  e p D, with e = (x - y)'s element constant and D the
  // difference of the bases.
  Affine e;
  e.constant = x->constant - y->constant;
  e.rowCoefficient = x->rowCoefficient - y->rowCoefficient;
  e.colCoefficient = x->colCoefficient - y->colCoefficient;
  if (!e.rowCoefficient && !e.colCoefficient)
    return {};
  // Every element's constant lies in [lo, hi]; clamping D to [lo - 1,
  // hi + 1] keeps every comparison with them, and fits an i32.
  auto range = elementRange(e);
  if (range.first - 1 < INT32_MIN || range.second + 1 > INT32_MAX)
    return {};
  Value narrowed = narrowDifference(op, *x, *y, range, /*hide=*/true);
  Value element = arith::ConstantOp::create(
      b, b.getI32IntegerAttr(static_cast<int32_t>(offsetOf(e, context))));
  return arith::CmpIOp::create(b, *predicate, element, narrowed);
}

std::pair<int64_t, int64_t> TileCloner::elementRange(const Affine &form) const {
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (int64_t r : roots.rowOffsets)
    for (int64_t c : roots.colOffsets) {
      int64_t v =
          form.constant + form.rowCoefficient * r + form.colCoefficient * c;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  return {lo, hi};
}

Value TileCloner::narrowDifference(Operation *compare, const Affine &x,
                                   const Affine &y,
                                   std::pair<int64_t, int64_t> range,
                                   bool hide) {
  hide &= roots.hideNarrowedRanges;
  std::pair<Operation *, int> cacheKey{compare,
                                       (forcePrologue ? 1 : 0) | (hide << 1)};
  if (Value cached = narrowedCompares.lookup(cacheKey))
    return cached;
  OpBuilder::InsertionGuard guard(b);
  placeFor(x.dependence | y.dependence, /*isLoad=*/false);
  Type type = compare->getOperand(0).getType();
  auto constant = [&](int64_t v) -> Value {
    return arith::ConstantOp::create(b, IntegerAttr::get(type, v));
  };
  Value bx = x.base ? x.base : constant(0);
  Value by = y.base ? y.base : constant(0);
  Value difference = b.createOrFold<arith::SubIOp>(by, bx);
  difference = b.createOrFold<arith::MinSIOp>(
      b.createOrFold<arith::MaxSIOp>(difference, constant(range.first - 1)),
      constant(range.second + 1));
  Value narrowed =
      isa<IndexType>(type)
          ? b.createOrFold<arith::IndexCastOp>(b.getI32Type(), difference)
          : b.createOrFold<arith::TruncIOp>(b.getI32Type(), difference);
  if (hide && !matchPattern(narrowed, m_Constant()))
    narrowed = hideIntegerRange(b, narrowed);
  return narrowedCompares[cacheKey] = narrowed;
}

Value TileCloner::affineToFloat(Operation *op, const Context &context) {
  auto cast = dyn_cast_or_null<arith::SIToFPOp>(op);
  if (!cast || !cast.getType().isF32())
    return {};
  std::optional<Affine> form = affine(cast.getIn());
  if (!form || (!form->rowCoefficient && !form->colCoefficient))
    return {};
  int64_t offset = offsetOf(*form, context);
  // lo + e below stays within (-2^22, 2^22).
  if (std::abs(offset) >= (int64_t(1) << 22) - 4096)
    return {};
  // f32(base + e) with hi = base rounded down to a multiple of 4096 and
  // lo = base - hi in [0, 4096): the bits 0x4B400000 + (lo + e) are the
  // float 1.5 * 2^23 + (lo + e) exactly (the exponent stays that of 2^23),
  // and c = f32(hi - 1.5 * 2^23) is exact (a multiple of 4096 below 2^36),
  // so their sum rounds base + e once, as sitofp does. An int-to-float
  // conversion per element becomes one integer and one float addition;
  // the conversions happen once per block (or thread).
  std::pair<Operation *, int> cacheKey{op, forcePrologue ? 1 : 0};
  auto [biasedLow, correction] = floatBases.lookup(cacheKey);
  if (!biasedLow) {
    OpBuilder::InsertionGuard guard(b);
    placeFor(form->dependence, /*isLoad=*/false);
    Type type = cast.getIn().getType();
    Value base = form->base
                     ? form->base
                     : arith::ConstantOp::create(b, b.getZeroAttr(type));
    if (!base.getType().isInteger(64))
      base = isa<IndexType>(base.getType())
                 ? b.createOrFold<arith::IndexCastOp>(b.getI64Type(), base)
                 : b.createOrFold<arith::ExtSIOp>(b.getI64Type(), base);
    Value high = b.createOrFold<arith::AndIOp>(
        base, arith::ConstantOp::create(b, b.getI64IntegerAttr(-4096)));
    Value low = b.createOrFold<arith::TruncIOp>(
        b.getI32Type(), b.createOrFold<arith::SubIOp>(base, high));
    biasedLow = b.createOrFold<arith::AddIOp>(
        low, arith::ConstantOp::create(b, b.getI32IntegerAttr(0x4B400000)));
    // A block's scores body is cloned twice, into the branch of a whole
    // block and into that of a masked one. The per-element additions
    // below would be the same instructions in both, and LLVM would hoist
    // them above the branch, where they all live at once (ALiBi's 34
    // distances a thread: 80 bytes of spills in the consumers of a causal
    // kernel in pairs, ptxas -v). A move tagged with the block makes them
    // differ, and each branch keeps its own next to their uses.
    if (b.getInsertionPoint() == Block::iterator(blockAnchor))
      biasedLow =
          hideIntegerRange(b, biasedLow, ("block " + Twine(blockSerial)).str());
    correction = b.createOrFold<arith::SIToFPOp>(
        b.getF32Type(),
        b.createOrFold<arith::SubIOp>(
            high, arith::ConstantOp::create(b, b.getI64IntegerAttr(12582912))));
    floatBases[cacheKey] = {biasedLow, correction};
  }
  Value bits = arith::AddIOp::create(
      b, biasedLow,
      arith::ConstantOp::create(b, b.getI32IntegerAttr(
                                       static_cast<int32_t>(offset))));
  Value magic = arith::BitcastOp::create(b, b.getF32Type(), bits);
  return arith::AddFOp::create(b, magic, correction);
}

Value TileCloner::materialize(Value value, const Context &context) {
  unsigned dep = function.getDependence(value);
  Operation *op = value.getDefiningOp();
  bool isLoad = isa_and_nonnull<tensor::ExtractOp>(op);
  // A value of the Q K^T element is one per element, whatever else it
  // depends on.
  int row = (dep & (kRow | kScore)) ? static_cast<int>(*context.row) : -1;
  int col = (dep & (kCol | kScore)) ? static_cast<int>(*context.col) : -1;
  bool perThread = !(dep & (kBlock | kCol | kScore)) && (dep & kRow);
  bool inPrologue =
      dep == kUniform ||
      (perThread && (roots.hoistRowValues || isLoad || forcePrologue));
  Key key{value, row, col};
  DenseMap<Key, Value> &cache = inPrologue ? kernelValues : blockValues;
  if (Value cached = cache.lookup(key))
    return cached;

  // Roots that are not op results.
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    FusedAttentionTile tile = function.getTile();
    Operation *owner = arg.getOwner()->getParentOp();
    Value result;
    if (owner == tile.forall) {
      unsigned dim = arg.getArgNumber();
      if (tile.split)
        result = dim == 0 ? roots.split
                          : std::array<Value, 3>{roots.batch, roots.head,
                                                 roots.tileIndex}[dim - 1];
      else
        result =
            std::array<Value, 3>{roots.batch, roots.head, roots.tileIndex}[dim];
    } else if (owner == tile.kvLoop)
      result = kvStart;
    else if (owner == function.getOuterLoop())
      result = outerIndex;
    else if (owner == function.getTileLoop())
      result = roots.tileStart;
    else
      result = context.qk;
    assert(result && "every root has a kernel value");
    return cache[key] = result;
  }

  if (isSplitCount(function.getTile(), value)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(prologueAnchor);
    return cache[key] = b.createOrFold<memref::DimOp>(
               roots.tensors.lookup(function.getTile().lseOutput), 0);
  }

  OpBuilder::InsertionGuard guard(b);
  // Index expressions: the element's constant added to a per-thread or
  // per-block base; comparisons of them: one narrow compare per element
  // (or per row or column, where they vary only with one of them).
  if ((dep & (kRow | kCol)) && !isLoad) {
    if (inPrologue)
      b.setInsertionPoint(prologueAnchor);
    else
      placeFor(dep, /*isLoad=*/false);
    if (Value compare = narrowCompare(op, context))
      return cache[key] = compare;
    if (Value converted = affineToFloat(op, context))
      return cache[key] = converted;
    if (std::optional<Affine> form = affine(value)) {
      Value offset = arith::ConstantOp::create(
          b, IntegerAttr::get(value.getType(), offsetOf(*form, context)));
      Value result =
          form->base ? b.createOrFold<arith::AddIOp>(form->base, offset)
                     : offset;
      return cache[key] = result;
    }
  }

  // Operands first (each at its own level), then the op at this level. A
  // load hoisted out of the loop needs its operands there too.
  bool savedForce = forcePrologue;
  forcePrologue |= inPrologue && perThread;
  IRMapping mapping;
  auto mapOperand = [&](Value operand) {
    if (isa<TensorType>(operand.getType()))
      mapping.map(operand, roots.tensors.lookup(operand));
    else
      mapping.map(operand, materialize(operand, context));
  };
  for (Value operand : op->getOperands())
    mapOperand(operand);
  if (op->getNumRegions()) {
    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(op->getRegions(), above);
    for (Value outside : above)
      mapOperand(outside);
  }
  forcePrologue = savedForce;
  if (inPrologue)
    b.setInsertionPoint(prologueAnchor);
  else
    placeFor(dep, isLoad);
  Operation *clone = cloneIntoKernel(b, op, mapping);
  // Every result of the op varies as the op does: cache them all.
  for (auto [from, to] : llvm::zip(op->getResults(), clone->getResults()))
    cache[Key{from, row, col}] = to;
  return cache.lookup(key);
}

/// Clones `op` with `mapping`; tensor reads become memref reads of the
/// kernel arguments, recursively inside scf.if.
static Operation *cloneIntoKernel(OpBuilder &b, Operation *op,
                                  IRMapping &mapping) {
  Location loc = op->getLoc();
  if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
    // The kernel also evaluates the body where the IR does not: key
    // columns past the last key (the padding of a block) and rows past the
    // last query. The load is clamped into the capture there, and its value
    // discarded; where the IR evaluates it, the clamp changes nothing.
    Value memref = mapping.lookup(extract.getTensor());
    SmallVector<Value> indices;
    for (auto [dim, index] : llvm::enumerate(extract.getIndices())) {
      Value size = memref::DimOp::create(b, loc, memref, dim);
      Value last = arith::SubIOp::create(
          b, loc, size, arith::ConstantIndexOp::create(b, loc, 1));
      Value clamped = arith::MinSIOp::create(
          b, loc,
          arith::MaxSIOp::create(b, loc, mapping.lookup(index),
                                 arith::ConstantIndexOp::create(b, loc, 0)),
          last);
      indices.push_back(clamped);
    }
    auto load = memref::LoadOp::create(b, loc, memref, indices);
    mapping.map(extract.getResult(), load.getResult());
    return load;
  }
  if (auto dim = dyn_cast<tensor::DimOp>(op)) {
    auto size = memref::DimOp::create(b, loc, mapping.lookup(dim.getSource()),
                                      mapping.lookup(dim.getIndex()));
    mapping.map(dim.getResult(), size.getResult());
    return size;
  }
  if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
    auto clone = scf::IfOp::create(b, loc, ifOp.getResultTypes(),
                                   mapping.lookup(ifOp.getCondition()),
                                   /*addThenBlock=*/true,
                                   /*addElseBlock=*/!ifOp.getElseRegion().empty());
    for (auto [from, to] :
         llvm::zip(ifOp->getRegions(), clone->getRegions())) {
      if (from.empty())
        continue;
      OpBuilder::InsertionGuard guard(b);
      Block &block = to.front();
      // scf.if's builder adds a terminator only without results.
      if (!block.empty())
        block.back().erase();
      b.setInsertionPointToEnd(&block);
      for (Operation &nested : from.front())
        cloneIntoKernel(b, &nested, mapping);
    }
    mapping.map(ifOp.getResults(), clone.getResults());
    return clone;
  }
  return b.clone(*op, mapping);
}

