//===- AttentionSignature.cpp - Shape rules of fa.attention ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/AttentionSignature.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::fa;

bool mlir::fa::isSupportedAttentionElementType(Type type) {
  return type.isF16() || type.isBF16() || type.isF32();
}

namespace {

/// Emits nothing when no emitter was given, so that callers can ask
/// "would this be valid?" without producing diagnostics.
class SignatureChecker {
public:
  explicit SignatureChecker(function_ref<InFlightDiagnostic()> emitError)
      : emitError(emitError) {}

  LogicalResult fail(const Twine &message) {
    if (emitError)
      emitError() << message;
    return failure();
  }

  static std::string dimToString(int64_t dim) {
    return ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
  }

  /// Two sizes agree unless both are static and differ.
  static bool compatible(int64_t a, int64_t b) {
    return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
  }

  FailureOr<RankedTensorType> rankedOperand(Type type, StringRef name,
                                            int64_t rank, StringRef layout) {
    auto tensor = dyn_cast_or_null<RankedTensorType>(type);
    if (!tensor) {
      (void)fail(Twine("expected ") + name + " to be a ranked tensor");
      return failure();
    }
    if (tensor.getRank() != rank) {
      (void)fail(Twine("expected ") + name + " to have rank " + Twine(rank) +
                 " " + layout + ", got rank " + Twine(tensor.getRank()));
      return failure();
    }
    return tensor;
  }

  /// An i32 operand of rank `rank` (offsets, a block table, lengths).
  FailureOr<RankedTensorType> i32Operand(Type type, StringRef name,
                                         int64_t rank, StringRef layout) {
    FailureOr<RankedTensorType> tensor =
        rankedOperand(type, name, rank, layout);
    if (failed(tensor) || tensor->getElementType().isSignlessInteger(32))
      return tensor;
    std::string got;
    llvm::raw_string_ostream(got) << tensor->getElementType();
    (void)fail(Twine(name) + " element type must be i32, got '" + got + "'");
    return failure();
  }

  LogicalResult staticPositive(RankedTensorType type, unsigned dim,
                               StringRef what, StringRef name) {
    int64_t size = type.getDimSize(dim);
    if (ShapedType::isDynamic(size))
      return fail(Twine(what) + " of " + name +
                  " must be static, got a dynamic size");
    if (size <= 0)
      return fail(Twine(what) + " of " + name + " must be positive, got " +
                  Twine(size));
    return success();
  }

  LogicalResult sameSize(RankedTensorType a, unsigned dimA, StringRef nameA,
                         RankedTensorType b, unsigned dimB, StringRef nameB,
                         StringRef what) {
    int64_t sizeA = a.getDimSize(dimA), sizeB = b.getDimSize(dimB);
    if (compatible(sizeA, sizeB))
      return success();
    return fail(Twine(what) + " of " + nameB + " (" + Twine(sizeB) +
                ") does not match " + nameA + " (" + Twine(sizeA) + ")");
  }

private:
  function_ref<InFlightDiagnostic()> emitError;
};

} // namespace

namespace {
/// Where batch, heads, sequence and head dimension sit in Q, K, V and O
/// (batch -1: none, the packed layout of variable-length batches).
struct OperandLayout {
  int64_t rank, batch, heads, sequence, dim;
  const char *query, *key, *value, *output;
};
constexpr OperandLayout kFixedLayout{4,
                                     0,
                                     1,
                                     2,
                                     3,
                                     "[B, Hq, Nq, D]",
                                     "[B, Hkv, Nk, D]",
                                     "[B, Hkv, Nk, Dv]",
                                     "[B, Hq, Nq, Dv]"};
constexpr OperandLayout kPackedLayout{3,
                                      -1,
                                      1,
                                      0,
                                      2,
                                      "[Tq, Hq, D] (variable-length)",
                                      "[Tk, Hkv, D] (variable-length)",
                                      "[Tk, Hkv, Dv] (variable-length)",
                                      "[Tq, Hq, Dv] (variable-length)"};
} // namespace

LogicalResult mlir::fa::verifyAttentionSignature(
    const AttentionSignature &sig,
    function_ref<InFlightDiagnostic()> emitError) {
  SignatureChecker check(emitError);
  const OperandLayout &layout = sig.isVarlen() ? kPackedLayout : kFixedLayout;
  int64_t dim = layout.dim, seq = layout.sequence, heads = layout.heads;

  FailureOr<RankedTensorType> q =
      check.rankedOperand(sig.query, "query", layout.rank, layout.query);
  if (failed(q))
    return failure();
  // A paged cache keeps K and V in pages: [num_pages, page_size, Hkv, D]
  // (also under packed queries).
  bool paged = sig.isPaged();
  int64_t kvHeadsDim = paged ? 2 : heads, kvSeq = paged ? 1 : seq,
          kvDim = paged ? 3 : dim, kvRank = paged ? 4 : layout.rank;
  FailureOr<RankedTensorType> k = check.rankedOperand(
      sig.key, "key", kvRank,
      paged ? "[num_pages, page_size, Hkv, D] (paged)" : layout.key);
  if (failed(k))
    return failure();
  FailureOr<RankedTensorType> v = check.rankedOperand(
      sig.value, "value", kvRank,
      paged ? "[num_pages, page_size, Hkv, Dv] (paged)" : layout.value);
  if (failed(v))
    return failure();
  FailureOr<RankedTensorType> o =
      check.rankedOperand(sig.output, "output", layout.rank, layout.output);
  if (failed(o))
    return failure();

  // Element types.
  Type elementType = q->getElementType();
  if (!isSupportedAttentionElementType(elementType)) {
    std::string name;
    llvm::raw_string_ostream os(name);
    os << elementType;
    return check.fail("query element type '" + name +
                      "' is not supported; expected f16, bf16 or f32");
  }
  auto checkElementType = [&](RankedTensorType type,
                              StringRef name) -> LogicalResult {
    if (type.getElementType() == elementType)
      return success();
    std::string got, want;
    llvm::raw_string_ostream(got) << type.getElementType();
    llvm::raw_string_ostream(want) << elementType;
    return check.fail(Twine(name) + " element type '" + got +
                      "' does not match query element type '" + want + "'");
  };
  if (failed(checkElementType(*k, "key")) ||
      failed(checkElementType(*v, "value")) ||
      failed(checkElementType(*o, "output")))
    return failure();

  // Head dimensions are static: they decide the register tiling.
  if (failed(check.staticPositive(*q, dim, "head dimension", "query")) ||
      failed(check.staticPositive(*k, kvDim, "head dimension", "key")) ||
      failed(check.staticPositive(*v, kvDim, "head dimension", "value")) ||
      failed(check.staticPositive(*o, dim, "head dimension", "output")))
    return failure();
  if (q->getDimSize(dim) != k->getDimSize(kvDim))
    return check.fail("head dimension of key (" + Twine(k->getDimSize(kvDim)) +
                      ") does not match query (" + Twine(q->getDimSize(dim)) +
                      ")");
  if (v->getDimSize(kvDim) != o->getDimSize(dim))
    return check.fail("head dimension of output (" + Twine(o->getDimSize(dim)) +
                      ") does not match value (" + Twine(v->getDimSize(kvDim)) +
                      ")");

  // Batch.
  if (layout.batch >= 0 &&
      ((!paged &&
        (failed(check.sameSize(*q, 0, "query", *k, 0, "key", "batch size")) ||
         failed(
             check.sameSize(*q, 0, "query", *v, 0, "value", "batch size")))) ||
       failed(check.sameSize(*q, 0, "query", *o, 0, "output", "batch size"))))
    return failure();
  if (paged &&
      (failed(check.staticPositive(*k, 1, "page size", "key")) ||
       failed(check.staticPositive(*v, 1, "page size", "value")) ||
       failed(check.sameSize(*k, 0, "key", *v, 0, "value", "number of pages"))))
    return failure();

  // Heads: K and V share theirs; Q's is a multiple of it.
  int64_t kvHeads = k->getDimSize(kvHeadsDim);
  if (!ShapedType::isDynamic(kvHeads) && kvHeads == 0)
    return check.fail("number of key/value heads must be positive, got 0");
  if (failed(check.sameSize(*k, kvHeadsDim, "key", *v, kvHeadsDim, "value",
                            "number of heads")))
    return failure();
  int64_t qHeads = q->getDimSize(heads);
  if (!ShapedType::isDynamic(qHeads) && !ShapedType::isDynamic(kvHeads) &&
      qHeads % kvHeads != 0)
    return check.fail(
        "number of query heads (" + Twine(qHeads) +
        ") must be a multiple of the number of key/value heads (" +
        Twine(kvHeads) + ")");

  // Sequence lengths (total tokens when packed).
  if (failed(check.sameSize(*k, kvSeq, "key", *v, kvSeq, "value",
                            paged ? "page size" : "sequence length")))
    return failure();
  if (failed(check.sameSize(*q, heads, "query", *o, heads, "output",
                            "number of heads")) ||
      failed(check.sameSize(*q, seq, "query", *o, seq, "output",
                            "sequence length")))
    return failure();

  // Log-sum-exp output: [B, Hq, Nq], or [Hq, Tq] when packed.
  if (sig.lse) {
    bool packed = sig.isVarlen();
    FailureOr<RankedTensorType> lse = check.rankedOperand(
        sig.lse, "lse", packed ? 2 : 3,
        packed ? "[Hq, Tq] (variable-length)" : "[B, Hq, Nq]");
    if (failed(lse))
      return failure();
    if (!lse->getElementType().isF32()) {
      std::string got;
      llvm::raw_string_ostream(got) << lse->getElementType();
      return check.fail("lse element type must be f32, got '" + got + "'");
    }
    unsigned lseHeads = packed ? 0 : 1, lseSeq = packed ? 1 : 2;
    if ((!packed && failed(check.sameSize(*q, 0, "query", *lse, 0, "lse",
                                          "batch size"))) ||
        failed(check.sameSize(*q, heads, "query", *lse, lseHeads, "lse",
                              "number of heads")) ||
        failed(check.sameSize(*q, seq, "query", *lse, lseSeq, "lse",
                              "sequence length")))
      return failure();
  }

  // Variable-length batches: B + 1 offsets each, i32 (only the queries'
  // against a paged cache, whose key counts are cache_seqlens).
  // `batch`: B where static, from the query offsets.
  int64_t batch = ShapedType::kDynamic;
  if (sig.isVarlen()) {
    if (!sig.cuSeqlensQ || (!paged && !sig.cuSeqlensK))
      return check.fail("variable-length attention needs the offsets of both "
                        "the queries and the keys");
    if (paged && sig.cuSeqlensK)
      return check.fail("variable-length queries against a paged cache take "
                        "no key offsets (cu_seqlens_k)");
    FailureOr<RankedTensorType> cuQ =
        check.i32Operand(sig.cuSeqlensQ, "cu_seqlens_q", 1, "[B + 1]");
    if (failed(cuQ))
      return failure();
    SmallVector<std::pair<RankedTensorType, const char *>, 2> offsets{
        {*cuQ, "cu_seqlens_q"}};
    if (!paged) {
      FailureOr<RankedTensorType> cuK =
          check.i32Operand(sig.cuSeqlensK, "cu_seqlens_k", 1, "[B + 1]");
      if (failed(cuK))
        return failure();
      offsets.push_back({*cuK, "cu_seqlens_k"});
    }
    for (auto [type, name] : offsets)
      if (!type.isDynamicDim(0) && type.getDimSize(0) < 1)
        return check.fail(Twine(name) + " must hold B + 1 >= 1 offsets, got 0");
    if (offsets.size() == 2 &&
        failed(check.sameSize(offsets[0].first, 0, "cu_seqlens_q",
                              offsets[1].first, 0, "cu_seqlens_k",
                              "number of offsets")))
      return failure();
    if (!cuQ->isDynamicDim(0))
      batch = cuQ->getDimSize(0) - 1;
  } else {
    batch = q->getDimSize(0);
  }

  // A paged cache: an i32 block table [B, max_pages] and lengths [B].
  if (paged) {
    if (!sig.blockTable || !sig.cacheSeqlens)
      return check.fail("a paged attention needs both the block table and "
                        "the cache lengths");
    FailureOr<RankedTensorType> table =
        check.i32Operand(sig.blockTable, "block_table", 2, "[B, max_pages]");
    if (failed(table))
      return failure();
    FailureOr<RankedTensorType> lengths =
        check.i32Operand(sig.cacheSeqlens, "cache_seqlens", 1, "[B]");
    if (failed(lengths))
      return failure();
    const char *from = sig.isVarlen() ? "cu_seqlens_q (size - 1)" : "query";
    for (auto [type, name] : {std::pair(*table, "block_table"),
                              std::pair(*lengths, "cache_seqlens")}) {
      int64_t size = type.getDimSize(0);
      if (!SignatureChecker::compatible(batch, size))
        return check.fail(Twine("batch size of ") + name + " (" + Twine(size) +
                          ") does not match " + from + " (" + Twine(batch) +
                          ")");
    }
    // (With a dynamic batch they must still agree with each other.)
    if (failed(check.sameSize(*table, 0, "block_table", *lengths, 0,
                              "cache_seqlens", "batch size")))
      return failure();
  }

  if (sig.scale) {
    double scale = *sig.scale;
    if (!std::isfinite(scale))
      return check.fail("scale must be finite, got " +
                        Twine(std::isnan(scale) ? "nan" : "inf"));
    if (scale <= 0.0)
      return check.fail("scale must be positive, got " +
                        llvm::formatv("{0}", scale).str());
    // The softmax runs on scale * log2(e) as an f32 (fa-fuse-online-softmax
    // folds the two), and kernels flush subnormal f32 values to zero: a
    // scale outside the normal range would silently become inf or 0.
    double largest = std::numeric_limits<float>::max() / kLog2E;
    if (scale > largest)
      return check.fail(
          llvm::formatv("scale must be at most {0:e} (its product with "
                        "log2(e) is an f32), got {1:e}",
                        largest, scale)
              .str());
    if (scale < std::numeric_limits<float>::min())
      return check.fail(
          llvm::formatv("scale must be at least {0:e} (the smallest normal "
                        "f32; kernels flush smaller values to zero), got {1:e}",
                        std::numeric_limits<float>::min(), scale)
              .str());
  }
  return success();
}

double mlir::fa::getEffectiveScale(std::optional<APFloat> scale, Type query) {
  if (scale)
    return scale->convertToDouble();
  auto type = cast<RankedTensorType>(query);
  int64_t headDim = type.getDimSize(type.getRank() - 1);
  return 1.0 / std::sqrt(static_cast<double>(headDim));
}
