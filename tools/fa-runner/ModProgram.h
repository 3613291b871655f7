//===- ModProgram.h - Flat programs of score_mod / mask_mod ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The regions of programmable attention (docs/ProgrammableAttention.md), as
// fa-runner's references evaluate them: a flat array of instructions over
// numbered 64-bit value slots, with scf.if turned into a conditional jump
// over its `then` part (so the untaken branch is never evaluated: it may
// guard an out-of-bounds tensor.extract).
//
// This header is the single definition of what each op means. It compiles
// for the host (the CPU reference and --eval, ModInterpreter.cpp) and for
// the device (reference.cu's fp64 GPU reference), so both references agree
// by construction and the CPU tests of this file cover the GPU's semantics.
// It depends on nothing of the compiler.
//
// Values:
//   - floats of every type are held as fp64. Arithmetic is exact fp64;
//     the only roundings are the ones the region states: arith.truncf (to
//     nearest even, overflow to inf), and conversions into a float type
//     (arith.constant, sitofp, uitofp), which define a value of that type.
//     extf is exact.
//   - integers are held zero-extended to 64 bits at their type's width
//     (i1 true is 1); arithmetic wraps at the width; index is 64 bits.
//
// Where MLIR says poison or undefined behaviour, the program takes the value
// the PTX instruction gives (a kernel that relies on either is outside what
// any check can judge): shli/shrui by >= width give 0, shrsi by >= width the
// sign; fptosi/fptoui saturate and give 0 for NaN; divsi/ceildivsi/
// floordivsi of INT_MIN by -1 wrap to INT_MIN and remsi gives 0. Integer
// division or remainder by zero, tensor.dim of a dimension the capture
// lacks and tensor.extract out of a capture's bounds stop the evaluation
// with an error (ModError) that fa-runner reports and exits 2 on.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_MODPROGRAM_H
#define FA_RUNNER_MODPROGRAM_H

#include <cstdint>
#include <cstring>
#include <math.h> // the C math functions, global on host and device

#ifdef __CUDACC__
#define FA_HD __host__ __device__
#else
#define FA_HD
#endif

namespace fa_runner {

/// Value types. Integers first, then floats; kTensor only for capture
/// arguments.
enum ModType : uint8_t {
  kTyI1,
  kTyI8,
  kTyI16,
  kTyI32,
  kTyI64,
  kTyIndex,
  kTyF16,
  kTyBF16,
  kTyF32,
  kTyF64,
  kTyTensor,
};

FA_HD inline bool modIsInt(int t) { return t <= kTyIndex; }
FA_HD inline bool modIsFloat(int t) { return t >= kTyF16 && t <= kTyF64; }
FA_HD inline int modWidth(int t) {
  // clang-format off
  switch (t) {
  case kTyI1: return 1;
  case kTyI8: return 8;
  case kTyI16: case kTyF16: case kTyBF16: return 16;
  case kTyI32: case kTyF32: return 32;
  default: return 64;
  }
  // clang-format on
}
/// Bytes of one element of a capture of this type (i1 is stored as a byte,
/// as MLIR's memref lowering stores it).
FA_HD inline int modElementBytes(int t) {
  return t == kTyI1 ? 1 : modWidth(t) / 8;
}

// Every op a region may contain (docs/ProgrammableAttention.md), by its MLIR
// name. scf.if becomes a jump, scf.yield moves and a jump (below).
// clang-format off
#define FA_MOD_OPS(X)                                                          \
  X(Constant, "arith.constant") X(AddI, "arith.addi") X(SubI, "arith.subi")    \
  X(MulI, "arith.muli") X(DivSI, "arith.divsi") X(DivUI, "arith.divui")        \
  X(CeilDivSI, "arith.ceildivsi") X(CeilDivUI, "arith.ceildivui")              \
  X(FloorDivSI, "arith.floordivsi") X(RemSI, "arith.remsi")                    \
  X(RemUI, "arith.remui") X(MinSI, "arith.minsi") X(MinUI, "arith.minui")      \
  X(MaxSI, "arith.maxsi") X(MaxUI, "arith.maxui") X(AndI, "arith.andi")        \
  X(OrI, "arith.ori") X(XOrI, "arith.xori") X(ShLI, "arith.shli")              \
  X(ShRSI, "arith.shrsi") X(ShRUI, "arith.shrui") X(CmpI, "arith.cmpi")        \
  X(Select, "arith.select") X(IndexCast, "arith.index_cast")                   \
  X(IndexCastUI, "arith.index_castui") X(ExtSI, "arith.extsi")                 \
  X(ExtUI, "arith.extui") X(TruncI, "arith.trunci") X(SIToFP, "arith.sitofp")  \
  X(UIToFP, "arith.uitofp") X(FPToSI, "arith.fptosi")                          \
  X(FPToUI, "arith.fptoui") X(ExtF, "arith.extf") X(TruncF, "arith.truncf")    \
  X(AddF, "arith.addf") X(SubF, "arith.subf") X(MulF, "arith.mulf")            \
  X(DivF, "arith.divf") X(RemF, "arith.remf") X(NegF, "arith.negf")            \
  X(MaximumF, "arith.maximumf") X(MinimumF, "arith.minimumf")                  \
  X(MaxNumF, "arith.maxnumf") X(MinNumF, "arith.minnumf")                      \
  X(CmpF, "arith.cmpf") X(AbsF, "math.absf") X(AbsI, "math.absi")              \
  X(Ceil, "math.ceil") X(Floor, "math.floor") X(Round, "math.round")           \
  X(RoundEven, "math.roundeven") X(Trunc, "math.trunc")                        \
  X(CopySign, "math.copysign") X(Fma, "math.fma") X(Sqrt, "math.sqrt")         \
  X(Rsqrt, "math.rsqrt") X(Exp, "math.exp") X(Exp2, "math.exp2")               \
  X(Expm1, "math.expm1") X(Log, "math.log") X(Log2, "math.log2")               \
  X(Log10, "math.log10") X(Log1p, "math.log1p") X(PowF, "math.powf")           \
  X(Tanh, "math.tanh") X(Sinh, "math.sinh") X(Cosh, "math.cosh")               \
  X(Sin, "math.sin") X(Cos, "math.cos") X(Tan, "math.tan")                     \
  X(Atan, "math.atan") X(Atan2, "math.atan2") X(Erf, "math.erf")               \
  X(Extract, "tensor.extract") X(Dim, "tensor.dim") X(If, "scf.if")            \
  X(ScfYield, "scf.yield") X(Yield, "fa.yield")
// clang-format on

enum ModOp : uint16_t {
#define FA_MOD_ENUM(id, name) kOp##id,
  FA_MOD_OPS(FA_MOD_ENUM)
#undef FA_MOD_ENUM
  // Flat forms: scf.yield (result <- operand) and the end of a `then` part.
  kOpMove,
  kOpJump,
  kOpCount
};

// arith.cmpi / arith.cmpf predicates, numbered as MLIR numbers them.
enum ModCmpI { kEq, kNe, kSlt, kSle, kSgt, kSge, kUlt, kUle, kUgt, kUge };
// clang-format off
enum ModCmpF {
  kFalse, kOeq, kOgt, kOge, kOlt, kOle, kOne, kOrd,
  kUeq, kUgt_, kUge_, kUlt_, kUle_, kUne, kUno, kTrue
};
// clang-format on

/// One flat instruction. kOpIf jumps to `target` when its condition is
/// false (the first instruction of the else part); kOpJump always jumps.
struct ModInst {
  uint16_t op;
  uint8_t type;    // result type (fa.yield: the yielded type)
  uint8_t srcType; // type of the first operand (casts, comparisons)
  int32_t pred;    // cmpi / cmpf predicate
  int32_t result;  // value number written, -1 for none
  int32_t firstOperand, numOperands; // slice of the operand pool
  int32_t target;                    // kOpIf / kOpJump: instruction index
  int32_t source; // index of the op in the region's pre-order walk
  uint64_t imm;   // arith.constant: the value (fp64 bits for floats)
};

constexpr int kModMaxRank = 8;

/// A capture as the evaluator reads it: element type, sizes and strides in
/// elements. `data` is a host pointer on the host, a device one on the GPU.
struct ModCapture {
  const void *data;
  int32_t type;
  int32_t rank;
  int64_t sizes[kModMaxRank];
  int64_t strides[kModMaxRank];
};

enum ModStatus : int32_t {
  kModOk = 0,
  kModOutOfBounds,  // tensor.extract outside the capture
  kModBadDim,       // tensor.dim of a dimension the capture lacks
  kModDivideByZero, // integer division or remainder by zero
  kModUndefined,    // +inf or NaN modified score at a kept pair
};

/// Why an evaluation stopped, and where (the caller fills the pair).
struct ModError {
  int32_t status;
  int32_t inst;    // flat instruction index
  int32_t capture; // kModOutOfBounds / kModBadDim
  int32_t rank;
  int64_t index[kModMaxRank];
  int32_t region; // 0 score_mod, 1 mask_mod
  int32_t pad;
  int64_t b, h, i, j;
  double score;    // score_mod's score argument
  double modified; // kModUndefined: what score_mod gave
};

/// A region as the GPU reference receives it (numInsts 0: absent).
struct ModRegionRef {
  const ModInst *insts;
  const int32_t *operands;
  int32_t numInsts;
  int32_t numArgs;
};

/// Everything reference.cu needs for modified attention.
struct ModKernelArgs {
  ModRegionRef score, mask;
  const ModCapture *captures;
  int32_t numCaptures;
  int32_t pad;
  ModError *error;
};

/// Value slots one evaluation may use on the GPU (thread-local array).
constexpr int kModMaxGpuValues = 128;

FA_HD inline double modAsDouble(uint64_t bits) {
  double d;
  memcpy(&d, &bits, 8);
  return d;
}
FA_HD inline uint64_t modBits(double d) {
  uint64_t bits;
  memcpy(&bits, &d, 8);
  return bits;
}
FA_HD inline double modInf() { return modAsDouble(0x7ff0000000000000ull); }
FA_HD inline double modNaN() { return modAsDouble(0x7ff8000000000000ull); }
FA_HD inline bool modIsNaN(double x) { return x != x; }

FA_HD inline uint64_t modMask(int width) {
  return width >= 64 ? ~0ull : (1ull << width) - 1;
}
/// The value of a `width`-bit integer read as signed.
FA_HD inline int64_t modSext(uint64_t x, int width) {
  if (width >= 64)
    return static_cast<int64_t>(x);
  uint64_t sign = 1ull << (width - 1);
  return static_cast<int64_t>(((x & modMask(width)) ^ sign) - sign);
}

/// Rounds fp64 `x` to f16, bf16 or f32, to nearest even (subnormals kept,
/// overflow to inf). Other types: x.
FA_HD inline double modRoundTo(double x, int type) {
  int mantissa, minExp;
  double maxFinite;
  // clang-format off
  switch (type) {
  case kTyF16: mantissa = 10, minExp = -14, maxFinite = 65504.0; break;
  case kTyBF16: mantissa = 7, minExp = -126, maxFinite = 0x1.fep127; break;
  case kTyF32: mantissa = 23, minExp = -126, maxFinite = 0x1.fffffep127; break;
  default: return x;
  }
  // clang-format on
  double a = fabs(x);
  if (modIsNaN(x) || a == 0 || a == modInf())
    return x;
  int e;
  frexp(a, &e); // a = f * 2^e, f in [0.5, 1)
  int exponent = e - 1 < minExp ? minExp : e - 1;
  double quantum = ldexp(1.0, exponent - mantissa);
  // a / quantum < 2^(mantissa + 1): exact, and nearbyint rounds to even.
  double q = nearbyint(a / quantum) * quantum;
  if (q > maxFinite)
    q = modInf();
  return x < 0 ? -q : q;
}

/// Exact value of an f16 / bf16 bit pattern.
FA_HD inline double modHalfToDouble(uint16_t h, bool bf16) {
  if (bf16) {
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
  }
  int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v;
  if (exponent == 0)
    v = ldexp(static_cast<double>(mantissa), -24);
  else if (exponent == 31)
    v = mantissa ? modNaN() : modInf();
  else
    v = ldexp(static_cast<double>(mantissa + 1024), exponent - 25);
  return (h & 0x8000) ? -v : v;
}

/// Element `offset` of a capture, as a value slot of its element type.
FA_HD inline uint64_t modLoad(const ModCapture &c, int64_t offset) {
  const unsigned char *p = static_cast<const unsigned char *>(c.data);
  // clang-format off
  switch (c.type) {
  case kTyI1: return p[offset] & 1;
  case kTyI8: return p[offset];
  case kTyI16: case kTyF16: case kTyBF16: {
    uint16_t x;
    memcpy(&x, p + 2 * offset, 2);
    if (c.type == kTyI16)
      return x;
    return modBits(modHalfToDouble(x, c.type == kTyBF16));
  }
  // clang-format on
  case kTyI32:
  case kTyF32: {
    uint32_t x;
    memcpy(&x, p + 4 * offset, 4);
    if (c.type == kTyI32)
      return x;
    float f;
    memcpy(&f, &x, 4);
    return modBits(f);
  }
  default: {
    uint64_t x;
    memcpy(&x, p + 8 * offset, 8);
    return x;
  }
  }
}

/// fptosi / fptoui: toward zero, saturating, NaN -> 0 (as PTX's cvt.rzi).
FA_HD inline uint64_t modFloatToInt(double x, int width, bool isSigned) {
  if (modIsNaN(x))
    return 0;
  x = trunc(x);
  if (isSigned) {
    double lo = -ldexp(1.0, width - 1), hi = ldexp(1.0, width - 1);
    if (x <= lo)
      return (1ull << (width - 1)) & modMask(width);
    if (x >= hi)
      return modMask(width - 1);
    return static_cast<uint64_t>(static_cast<int64_t>(x)) & modMask(width);
  }
  if (x <= 0)
    return 0;
  if (x >= ldexp(1.0, width))
    return modMask(width);
  return static_cast<uint64_t>(x);
}

/// maximumf / minimumf (NaN propagates, -0 < +0) and maxnumf / minnumf
/// (a NaN operand gives the other one).
FA_HD inline double modMinMax(double x, double y, bool max, bool propagate) {
  if (modIsNaN(x) || modIsNaN(y)) {
    if (propagate)
      return modNaN();
    return modIsNaN(x) ? y : x;
  }
  if (x == y && x == 0) // +0 and -0: order by sign
    return ((modBits(x) >> 63) != 0) == max ? y : x;
  return (x > y) == max ? x : y;
}

FA_HD inline bool modCompareF(int pred, double x, double y) {
  bool unordered = modIsNaN(x) || modIsNaN(y);
  // clang-format off
  switch (pred) {
  case kFalse: return false;
  case kOeq: return !unordered && x == y;
  case kOgt: return !unordered && x > y;
  case kOge: return !unordered && x >= y;
  case kOlt: return !unordered && x < y;
  case kOle: return !unordered && x <= y;
  case kOne: return !unordered && x != y;
  case kOrd: return !unordered;
  case kUeq: return unordered || x == y;
  case kUgt_: return unordered || x > y;
  case kUge_: return unordered || x >= y;
  case kUlt_: return unordered || x < y;
  case kUle_: return unordered || x <= y;
  case kUne: return unordered || x != y;
  case kUno: return unordered;
  default: return true;
  }
  // clang-format on
}

FA_HD inline bool modCompareI(int pred, uint64_t x, uint64_t y, int width) {
  int64_t sx = modSext(x, width), sy = modSext(y, width);
  // clang-format off
  switch (pred) {
  case kEq: return x == y;
  case kNe: return x != y;
  case kSlt: return sx < sy;
  case kSle: return sx <= sy;
  case kSgt: return sx > sy;
  case kSge: return sx >= sy;
  case kUlt: return x < y;
  case kUle: return x <= y;
  case kUgt: return x > y;
  default: return x >= y;
  }
  // clang-format on
}

/// Signed division of the integer ops, given y != 0; `mode` -1 floor, 0
/// toward zero, 1 ceiling. x / -1 is the wrapping negation (no C overflow).
FA_HD inline uint64_t modDivS(int64_t x, int64_t y, int mode) {
  if (y == -1)
    return 0 - static_cast<uint64_t>(x);
  int64_t q = x / y, r = x % y;
  if (r != 0 && mode != 0 && ((r < 0) != (y < 0)) == (mode < 0))
    q += mode;
  return static_cast<uint64_t>(q);
}

/// Runs a flat program. v[0 .. numArgs) hold the region's arguments (a
/// capture argument holds its capture's index). Returns the value number
/// fa.yield yields, or -1 with `err` filled.
FA_HD inline int modRun(const ModInst *insts, int numInsts,
                        const int32_t *operands, uint64_t *v,
                        const ModCapture *captures, ModError *err) {
  for (int pc = 0; pc < numInsts; ++pc) {
    const ModInst &in = insts[pc];
    const int32_t *o = operands + in.firstOperand;
    uint64_t a = in.numOperands > 0 ? v[o[0]] : 0;
    uint64_t b = in.numOperands > 1 ? v[o[1]] : 0;
    double x = modAsDouble(a), y = modAsDouble(b);
    int w = modWidth(in.type), ws = modWidth(in.srcType);
    int64_t sa = modSext(a, w), sb = modSext(b, w);
    bool isFloat = false; // the result is held as fp64
    double f = 0;
    uint64_t r = 0;
    // clang-format off
    switch (in.op) {
    case kOpConstant: r = in.imm; break;
    case kOpAddI: r = a + b; break;
    case kOpSubI: r = a - b; break;
    case kOpMulI: r = a * b; break;
    case kOpDivSI: case kOpCeilDivSI: case kOpFloorDivSI:
    case kOpDivUI: case kOpCeilDivUI: case kOpRemSI: case kOpRemUI:
      if (b == 0) {
        err->status = kModDivideByZero;
        err->inst = pc;
        return -1;
      }
      if (in.op == kOpDivSI)
        r = modDivS(sa, sb, 0);
      else if (in.op == kOpCeilDivSI)
        r = modDivS(sa, sb, 1);
      else if (in.op == kOpFloorDivSI)
        r = modDivS(sa, sb, -1);
      else if (in.op == kOpDivUI)
        r = a / b;
      else if (in.op == kOpCeilDivUI)
        r = a / b + (a % b != 0);
      else if (in.op == kOpRemSI)
        r = sb == -1 ? 0 : static_cast<uint64_t>(sa % sb);
      else
        r = a % b;
      break;
    case kOpMinSI: r = sa < sb ? a : b; break;
    case kOpMinUI: r = a < b ? a : b; break;
    case kOpMaxSI: r = sa > sb ? a : b; break;
    case kOpMaxUI: r = a > b ? a : b; break;
    case kOpAndI: r = a & b; break;
    case kOpOrI: r = a | b; break;
    case kOpXOrI: r = a ^ b; break;
    case kOpShLI: r = b >= static_cast<uint64_t>(w) ? 0 : a << b; break;
    case kOpShRUI: r = b >= static_cast<uint64_t>(w) ? 0 : a >> b; break;
    case kOpShRSI:
      r = static_cast<uint64_t>(sa >> (b >= static_cast<uint64_t>(w) ? 63 : b));
      break;
    case kOpCmpI: r = modCompareI(in.pred, a, b, ws); break;
    case kOpCmpF: r = modCompareF(in.pred, x, y); break;
    case kOpSelect:
      r = (a & 1) ? b : v[o[2]];
      break;
    case kOpIndexCast: case kOpExtSI:
      r = static_cast<uint64_t>(modSext(a, ws));
      break;
    case kOpIndexCastUI: case kOpExtUI: case kOpTruncI: r = a; break;
    case kOpSIToFP:
      isFloat = true, f = modRoundTo(static_cast<double>(modSext(a, ws)),
                                     in.type);
      break;
    case kOpUIToFP:
      isFloat = true, f = modRoundTo(static_cast<double>(a), in.type);
      break;
    case kOpFPToSI: r = modFloatToInt(x, w, true); break;
    case kOpFPToUI: r = modFloatToInt(x, w, false); break;
    case kOpAbsI: r = sa < 0 ? 0 - a : a; break;
    case kOpExtF: case kOpMove: r = a; break;
    case kOpTruncF: isFloat = true, f = modRoundTo(x, in.type); break;
    case kOpAddF: isFloat = true, f = x + y; break;
    case kOpSubF: isFloat = true, f = x - y; break;
    case kOpMulF: isFloat = true, f = x * y; break;
    case kOpDivF: isFloat = true, f = x / y; break;
    case kOpRemF: isFloat = true, f = fmod(x, y); break;
    case kOpNegF: isFloat = true, f = -x; break;
    case kOpMaximumF: isFloat = true, f = modMinMax(x, y, true, true); break;
    case kOpMinimumF: isFloat = true, f = modMinMax(x, y, false, true); break;
    case kOpMaxNumF: isFloat = true, f = modMinMax(x, y, true, false); break;
    case kOpMinNumF: isFloat = true, f = modMinMax(x, y, false, false); break;
    case kOpAbsF: isFloat = true, f = fabs(x); break;
    case kOpCeil: isFloat = true, f = ceil(x); break;
    case kOpFloor: isFloat = true, f = floor(x); break;
    case kOpRound: isFloat = true, f = round(x); break; // half away from 0
    case kOpRoundEven: isFloat = true, f = nearbyint(x); break;
    case kOpTrunc: isFloat = true, f = trunc(x); break;
    case kOpCopySign: isFloat = true, f = copysign(x, y); break;
    case kOpFma:
      isFloat = true, f = fma(x, y, modAsDouble(v[o[2]]));
      break;
    case kOpSqrt: isFloat = true, f = sqrt(x); break;
    case kOpRsqrt: isFloat = true, f = 1.0 / sqrt(x); break;
    case kOpExp: isFloat = true, f = exp(x); break;
    case kOpExp2: isFloat = true, f = exp2(x); break;
    case kOpExpm1: isFloat = true, f = expm1(x); break;
    case kOpLog: isFloat = true, f = log(x); break;
    case kOpLog2: isFloat = true, f = log2(x); break;
    case kOpLog10: isFloat = true, f = log10(x); break;
    case kOpLog1p: isFloat = true, f = log1p(x); break;
    case kOpPowF: isFloat = true, f = pow(x, y); break;
    case kOpTanh: isFloat = true, f = tanh(x); break;
    case kOpSinh: isFloat = true, f = sinh(x); break;
    case kOpCosh: isFloat = true, f = cosh(x); break;
    case kOpSin: isFloat = true, f = sin(x); break;
    case kOpCos: isFloat = true, f = cos(x); break;
    case kOpTan: isFloat = true, f = tan(x); break;
    case kOpAtan: isFloat = true, f = atan(x); break;
    case kOpAtan2: isFloat = true, f = atan2(x, y); break;
    case kOpErf: isFloat = true, f = erf(x); break;
    case kOpExtract: {
      const ModCapture &c = captures[a];
      int64_t offset = 0;
      bool inside = true;
      for (int d = 0; d < c.rank; ++d) {
        int64_t index = static_cast<int64_t>(v[o[1 + d]]);
        err->index[d] = index;
        inside = inside && index >= 0 && index < c.sizes[d];
        offset += index * c.strides[d];
      }
      if (!inside) {
        err->status = kModOutOfBounds;
        err->inst = pc;
        err->capture = static_cast<int32_t>(a);
        err->rank = c.rank;
        return -1;
      }
      r = modLoad(c, offset);
      break;
    }
    // clang-format on
    case kOpDim: {
      const ModCapture &c = captures[a];
      int64_t d = static_cast<int64_t>(b);
      if (d < 0 || d >= c.rank) {
        err->status = kModBadDim;
        err->inst = pc;
        err->capture = static_cast<int32_t>(a);
        err->rank = 1;
        err->index[0] = d;
        return -1;
      }
      r = static_cast<uint64_t>(c.sizes[d]);
      break;
    }
    case kOpIf:
      if (!(a & 1))
        pc = in.target - 1;
      continue;
    case kOpJump:
      pc = in.target - 1;
      continue;
    case kOpYield:
      return o[0];
    default: // not produced by the parser
      continue;
    }
    if (isFloat)
      r = modBits(f);
    else if (modIsInt(in.type))
      r &= modMask(w);
    v[in.result] = r;
  }
  return -1;
}

} // namespace fa_runner

#endif // FA_RUNNER_MODPROGRAM_H
