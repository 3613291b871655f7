//===- ModParser.cpp - Read and verify score_mod / mask_mod regions -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The region JSON of docs/ProgrammableAttention.md ("Launch metadata") into
// a flat ModProgram. The checks are the ones MLIR's verifiers make (the ops
// of the allow-list only, operand and result counts and types, predicates,
// constants that fit their type, value numbers defined before their use and
// in scope, terminators), so that a region fa-runner accepts means what the
// op meant; the numbering is the doc's pre-order walk: arguments, then each
// op's results before the ops of its regions.
//
//===----------------------------------------------------------------------===//

#include "ModInterpreter.h"
#include "Support.h"

namespace fa_runner {

namespace {

const char *const kOpNames[] = {
#define FA_MOD_NAME(id, name) name,
    FA_MOD_OPS(FA_MOD_NAME)
#undef FA_MOD_NAME
};

const char *const kCmpINames[] = {"eq",  "ne",  "slt", "sle", "sgt",
                                  "sge", "ult", "ule", "ugt", "uge"};
const char *const kCmpFNames[] = {"false", "oeq", "ogt", "oge", "olt", "ole",
                                  "one",   "ord", "ueq", "ugt", "uge", "ult",
                                  "ule",   "une", "uno", "true"};

class RegionParser {
public:
  RegionParser(ModRegion &region, const std::vector<TensorType> &captures)
      : r(region), captures(captures) {}

  void parse(const Json &json) {
    if (json.kind != Json::Object || !json.has("arguments") ||
        !json.has("body"))
      die(kUsage, "metadata: " + r.name +
                      " must be an object with \"arguments\" and \"body\"");
    checkArguments(json["arguments"]);
    block(json["body"], /*top=*/true, nullptr);
    r.numValues = static_cast<int>(r.valueTypes.size());
  }

private:
  [[noreturn]] void fail(const std::string &message) {
    die(kUsage, "metadata: " + r.name + " op #" + std::to_string(opIndex) +
                    " '" + opName + "': " + message);
  }

  void checkArguments(const Json &args) {
    std::vector<std::string> expected;
    if (r.isScore)
      expected.push_back("f32");
    expected.insert(expected.end(), 4, "index");
    if (args.kind != Json::Array ||
        args.array.size() != expected.size() + captures.size())
      die(kUsage, "metadata: " + r.name + " must have " +
                      std::to_string(expected.size() + captures.size()) +
                      " arguments (" + std::to_string(expected.size()) +
                      " and one per capture)");
    for (size_t a = 0; a < args.array.size(); ++a) {
      const Json &arg = args.array[a];
      std::string text = arg.kind == Json::String ? arg.string : "?";
      if (a < expected.size()) {
        if (text != expected[a])
          die(kUsage, "metadata: " + r.name + " argument " + std::to_string(a) +
                          " has type " + text + ", expected " + expected[a]);
        uint8_t t;
        parseScalarType(text, t);
        r.valueTypes.push_back(t);
        continue;
      }
      const TensorType &capture = captures[a - expected.size()];
      TensorType t;
      bool compatible = parseTensorType(text, t) &&
                        t.element == capture.element &&
                        t.shape.size() == capture.shape.size();
      for (size_t d = 0; compatible && d < t.shape.size(); ++d)
        compatible = t.shape[d] < 0 || capture.shape[d] < 0 ||
                     t.shape[d] == capture.shape[d];
      if (!compatible)
        die(kUsage, "metadata: " + r.name + " argument " + std::to_string(a) +
                        " has type " + text + ", but capture" +
                        std::to_string(a - expected.size()) + " is " +
                        tensorTypeName(capture));
      r.valueTypes.push_back(kTyTensor);
      r.captureTypes.push_back(t);
    }
    r.numArgs = static_cast<int>(args.array.size());
    visible.assign(r.numArgs, 1);
  }

  /// A scalar type name; dies otherwise.
  uint8_t scalarType(const Json &json, const char *what) {
    uint8_t t;
    if (json.kind != Json::String || !parseScalarType(json.string, t))
      fail(std::string(what) +
           " must be a scalar type (i1, i8, i16, i32, "
           "i64, index, f16, bf16, f32, f64), got " +
           (json.kind == Json::String ? json.string : "a non-string"));
    return t;
  }

  int32_t newValue(uint8_t type) {
    r.valueTypes.push_back(type);
    visible.push_back(0);
    return static_cast<int32_t>(r.valueTypes.size() - 1);
  }

  ModInst &emit(uint16_t op, uint8_t type, int32_t result,
                const std::vector<int32_t> &operands) {
    ModInst in{};
    in.op = op;
    in.type = type;
    in.srcType = operands.empty() ? type : r.valueTypes[operands[0]];
    in.result = result;
    in.firstOperand = static_cast<int32_t>(r.operands.size());
    in.numOperands = static_cast<int32_t>(operands.size());
    in.source = opIndex;
    r.operands.insert(r.operands.end(), operands.begin(), operands.end());
    r.insts.push_back(in);
    return r.insts.back();
  }

  int32_t predicate(const Json &op, const char *const *names, int count) {
    if (!op.has("predicate") || op["predicate"].kind != Json::String)
      fail("needs a string \"predicate\"");
    for (int p = 0; p < count; ++p)
      if (op["predicate"].string == names[p])
        return p;
    fail("unknown predicate '" + op["predicate"].string + "'");
  }

  uint64_t constant(const Json &op, uint8_t type) {
    if (!op.has("value"))
      fail("needs a \"value\"");
    const Json &value = op["value"];
    if (modIsFloat(type)) {
      double d;
      if (value.kind == Json::Number)
        d = value.number;
      else if (value.kind == Json::String && value.string == "inf")
        d = modInf();
      else if (value.kind == Json::String && value.string == "-inf")
        d = -modInf();
      else if (value.kind == Json::String && value.string == "nan")
        d = modNaN();
      else
        fail("a float constant is a number, \"inf\", \"-inf\" or \"nan\"");
      return modBits(modRoundTo(d, type)); // the literal is of its type
    }
    int w = modWidth(type);
    int64_t i;
    if (value.kind == Json::Bool && type == kTyI1)
      i = value.boolean;
    else if (value.kind == Json::Number && value.isInteger)
      i = value.integer;
    else
      fail("an integer constant is a JSON integer");
    // Signed or unsigned spellings of the width's values are both fine.
    if (w < 64 && (i < -(int64_t(1) << (w - 1)) || i > int64_t(modMask(w))))
      fail("constant " + std::to_string(i) + " does not fit in " +
           typeName(type));
    return static_cast<uint64_t>(i) & modMask(w);
  }

  /// Parses one block. `top`: the region's body (ends with fa.yield);
  /// otherwise a branch of the scf.if whose results are `ifResults`.
  void block(const Json &ops, bool top, const std::vector<int32_t> *ifResults,
             int owner = -1) {
    if (ops.kind != Json::Array)
      die(kUsage, "metadata: " + r.name + (top ? " body" : " scf.if branch") +
                      " must be an array of ops");
    std::vector<int32_t> definedHere;
    bool terminated = false;
    for (const Json &op : ops.array) {
      opIndex = nextOp++;
      opName = op.kind == Json::Object && op.has("name") &&
                       op["name"].kind == Json::String
                   ? op["name"].string
                   : "?";
      if (opName == "?")
        fail("an op must be an object with a string \"name\"");
      if (terminated)
        fail("an op follows the block's terminator");
      operation(op, top, ifResults, definedHere, terminated);
    }
    if (!terminated && top)
      die(kUsage, "metadata: " + r.name + " body must end with fa.yield");
    if (!terminated && ifResults && !ifResults->empty())
      die(kUsage, "metadata: " + r.name + " op #" + std::to_string(owner) +
                      " 'scf.if': a branch of an scf.if with results must "
                      "end with scf.yield");
    for (int32_t v : definedHere) // out of scope after the block
      visible[v] = 0;
  }

  void operation(const Json &op, bool top,
                 const std::vector<int32_t> *ifResults,
                 std::vector<int32_t> &definedHere, bool &terminated) {
    int id = -1;
    for (int k = 0; k < static_cast<int>(sizeof(kOpNames) / sizeof(*kOpNames));
         ++k)
      if (opName == kOpNames[k])
        id = k;
    if (id < 0)
      fail("not an op a region may contain (the list is in "
           "docs/ProgrammableAttention.md)");

    // Operands: defined earlier and in scope.
    std::vector<int32_t> operands;
    if (op.has("operands")) {
      const Json &list = op["operands"];
      if (list.kind != Json::Array)
        fail("\"operands\" must be an array of value numbers");
      for (const Json &o : list.array) {
        if (o.kind != Json::Number || !o.isInteger)
          fail("an operand must be an integer value number");
        if (o.integer < 0 ||
            o.integer >= static_cast<int64_t>(r.valueTypes.size()))
          fail("operand %" + std::to_string(o.integer) +
               " is not a value defined before this op (values so far: " +
               std::to_string(r.valueTypes.size()) + ")");
        if (!visible[o.integer])
          fail("operand %" + std::to_string(o.integer) +
               " is not in scope here (defined inside another block, or a "
               "result of an enclosing scf.if)");
        operands.push_back(static_cast<int32_t>(o.integer));
      }
    }
    std::vector<uint8_t> results;
    if (op.has("results")) {
      const Json &list = op["results"];
      if (list.kind != Json::Array)
        fail("\"results\" must be an array of types");
      for (const Json &t : list.array)
        results.push_back(scalarType(t, "a result"));
    }

    auto type = [&](size_t k) { return r.valueTypes[operands[k]]; };
    auto count = [&](size_t n, size_t m) {
      if (operands.size() != n)
        fail("expects " + std::to_string(n) + " operands, got " +
             std::to_string(operands.size()));
      if (results.size() != m)
        fail("expects " + std::to_string(m) + " results, got " +
             std::to_string(results.size()));
    };
    auto mismatch = [&](const std::string &what) {
      std::string s = what + " (operands:";
      for (size_t k = 0; k < operands.size(); ++k)
        s += std::string(" ") + typeName(type(k));
      s += "; results:";
      for (uint8_t t : results)
        s += std::string(" ") + typeName(t);
      fail(s + ")");
    };
    auto isFixedInt = [](int t) { return modIsInt(t) && t != kTyIndex; };

    uint16_t code = static_cast<uint16_t>(id);
    switch (id) {
    case kOpAddI:
    case kOpSubI:
    case kOpMulI:
    case kOpDivSI:
    case kOpDivUI:
    case kOpCeilDivSI:
    case kOpCeilDivUI:
    case kOpFloorDivSI:
    case kOpRemSI:
    case kOpRemUI:
    case kOpMinSI:
    case kOpMinUI:
    case kOpMaxSI:
    case kOpMaxUI:
    case kOpAndI:
    case kOpOrI:
    case kOpXOrI:
    case kOpShLI:
    case kOpShRSI:
    case kOpShRUI:
      count(2, 1);
      if (!modIsInt(results[0]) || type(0) != results[0] ||
          type(1) != results[0])
        mismatch("operands and result must be one integer type");
      break;
    case kOpAbsI:
      count(1, 1);
      if (!modIsInt(results[0]) || type(0) != results[0])
        mismatch("operand and result must be one integer type");
      break;
    case kOpAddF:
    case kOpSubF:
    case kOpMulF:
    case kOpDivF:
    case kOpRemF:
    case kOpMaximumF:
    case kOpMinimumF:
    case kOpMaxNumF:
    case kOpMinNumF:
    case kOpCopySign:
    case kOpPowF:
    case kOpAtan2:
      count(2, 1);
      if (!modIsFloat(results[0]) || type(0) != results[0] ||
          type(1) != results[0])
        mismatch("operands and result must be one float type");
      break;
    case kOpFma:
      count(3, 1);
      if (!modIsFloat(results[0]) || type(0) != results[0] ||
          type(1) != results[0] || type(2) != results[0])
        mismatch("operands and result must be one float type");
      break;
    case kOpNegF:
    case kOpAbsF:
    case kOpCeil:
    case kOpFloor:
    case kOpRound:
    case kOpRoundEven:
    case kOpTrunc:
    case kOpSqrt:
    case kOpRsqrt:
    case kOpExp:
    case kOpExp2:
    case kOpExpm1:
    case kOpLog:
    case kOpLog2:
    case kOpLog10:
    case kOpLog1p:
    case kOpTanh:
    case kOpSinh:
    case kOpCosh:
    case kOpSin:
    case kOpCos:
    case kOpTan:
    case kOpAtan:
    case kOpErf:
      count(1, 1);
      if (!modIsFloat(results[0]) || type(0) != results[0])
        mismatch("operand and result must be one float type");
      break;
    case kOpCmpI:
      count(2, 1);
      if (!modIsInt(type(0)) || type(1) != type(0) || results[0] != kTyI1)
        mismatch("compares two values of one integer type into i1");
      break;
    case kOpCmpF:
      count(2, 1);
      if (!modIsFloat(type(0)) || type(1) != type(0) || results[0] != kTyI1)
        mismatch("compares two values of one float type into i1");
      break;
    case kOpSelect:
      count(3, 1);
      if (type(0) != kTyI1 || type(1) != results[0] || type(2) != results[0])
        mismatch("selects between two values of the result type on an i1");
      break;
    case kOpIndexCast:
    case kOpIndexCastUI:
      count(1, 1);
      if (!((type(0) == kTyIndex && isFixedInt(results[0])) ||
            (isFixedInt(type(0)) && results[0] == kTyIndex)))
        mismatch("casts between index and an integer type");
      break;
    case kOpExtSI:
    case kOpExtUI:
    case kOpTruncI:
      count(1, 1);
      if (!isFixedInt(type(0)) || !isFixedInt(results[0]) ||
          (id == kOpTruncI ? modWidth(results[0]) >= modWidth(type(0))
                           : modWidth(results[0]) <= modWidth(type(0))))
        mismatch(id == kOpTruncI ? "truncates to a narrower integer type"
                                 : "extends to a wider integer type");
      break;
    case kOpSIToFP:
    case kOpUIToFP:
      count(1, 1);
      if (!isFixedInt(type(0)) || !modIsFloat(results[0]))
        mismatch("converts an integer (not index) to a float");
      break;
    case kOpFPToSI:
    case kOpFPToUI:
      count(1, 1);
      if (!modIsFloat(type(0)) || !isFixedInt(results[0]))
        mismatch("converts a float to an integer (not index)");
      break;
    case kOpExtF:
    case kOpTruncF:
      count(1, 1);
      if (!modIsFloat(type(0)) || !modIsFloat(results[0]) ||
          (id == kOpTruncF ? modWidth(results[0]) >= modWidth(type(0))
                           : modWidth(results[0]) <= modWidth(type(0))))
        mismatch(id == kOpTruncF ? "truncates to a narrower float type"
                                 : "extends to a wider float type");
      break;
    case kOpConstant: {
      count(0, 1);
      int32_t v = newValue(results[0]);
      emit(code, results[0], v, {}).imm = constant(op, results[0]);
      define(v, definedHere);
      return;
    }
    case kOpExtract:
    case kOpDim: {
      if (operands.empty() || type(0) != kTyTensor)
        fail("the first operand must be a capture argument (a tensor)");
      const TensorType &t = r.captureTypes[operands[0] - (r.isScore ? 5 : 4)];
      if (id == kOpDim) {
        count(2, 1);
        if (type(1) != kTyIndex || results[0] != kTyIndex)
          mismatch("takes an index dimension and gives an index");
      } else {
        count(1 + t.shape.size(), 1);
        for (size_t k = 1; k < operands.size(); ++k)
          if (type(k) != kTyIndex)
            mismatch("indices must be index");
        if (results[0] != t.element)
          mismatch("the result must be the capture's element type " +
                   std::string(typeName(t.element)));
      }
      // The slot of a capture argument holds the capture's number.
      int32_t v = newValue(results[0]);
      emit(code, results[0], v, operands);
      define(v, definedHere);
      return;
    }
    case kOpIf: {
      if (operands.size() != 1 || type(0) != kTyI1)
        fail("expects one i1 condition");
      if (!op.has("then"))
        fail("needs a \"then\" block");
      if (!results.empty() &&
          (!op.has("else") || op["else"].kind != Json::Array ||
           op["else"].array.empty()))
        fail("an scf.if with results needs an \"else\" block");
      std::vector<int32_t> ifResults;
      for (uint8_t t : results)
        ifResults.push_back(newValue(t));
      int self = opIndex;
      size_t branch = r.insts.size();
      emit(kOpIf, kTyI1, -1, operands);
      block(op["then"], false, &ifResults, self);
      size_t jump = r.insts.size();
      emit(kOpJump, kTyI1, -1, {}).source = self;
      r.insts[branch].target = static_cast<int32_t>(r.insts.size());
      if (op.has("else") && op["else"].kind != Json::Null)
        block(op["else"], false, &ifResults, self);
      r.insts[jump].target = static_cast<int32_t>(r.insts.size());
      for (int32_t v : ifResults)
        define(v, definedHere);
      return;
    }
    case kOpScfYield: {
      if (top)
        fail("scf.yield outside an scf.if branch");
      if (!results.empty() || operands.size() != ifResults->size())
        fail("yields " + std::to_string(operands.size()) +
             " values to an scf.if with " + std::to_string(ifResults->size()) +
             " results");
      for (size_t k = 0; k < operands.size(); ++k) {
        if (type(k) != r.valueTypes[(*ifResults)[k]])
          mismatch("yielded types must be the scf.if's result types");
        emit(kOpMove, type(k), (*ifResults)[k], {operands[k]});
      }
      terminated = true;
      return;
    }
    case kOpYield: {
      if (!top)
        fail("fa.yield must end the region's body, not an scf.if branch");
      uint8_t want = r.isScore ? kTyF32 : kTyI1;
      if (operands.size() != 1 || !results.empty() || type(0) != want)
        fail(std::string("yields one ") + typeName(want));
      emit(kOpYield, want, -1, operands);
      terminated = true;
      return;
    }
    default:
      fail("unhandled op");
    }
    // The common case: one result, flat operands.
    int32_t v = newValue(results[0]);
    ModInst &in = emit(code, results[0], v, operands);
    if (id == kOpCmpI)
      in.pred = predicate(op, kCmpINames, 10);
    if (id == kOpCmpF)
      in.pred = predicate(op, kCmpFNames, 16);
    define(v, definedHere);
  }

  void define(int32_t v, std::vector<int32_t> &definedHere) {
    visible[v] = 1;
    definedHere.push_back(v);
  }

  ModRegion &r;
  const std::vector<TensorType> &captures;
  std::vector<char> visible;
  int nextOp = 0, opIndex = 0;
  std::string opName;
};

} // namespace

ModRegion parseModRegion(const Json &json, const std::string &name,
                         const std::vector<TensorType> &captures) {
  ModRegion r;
  r.name = name;
  r.isScore = name == "score_mod";
  RegionParser(r, captures).parse(json);
  // Names of the ops, for messages (sources are pre-order op numbers).
  for (const ModInst &in : r.insts) {
    if (static_cast<int>(r.opNames.size()) <= in.source)
      r.opNames.resize(in.source + 1);
    r.opNames[in.source] = in.op == kOpMove   ? "scf.yield"
                           : in.op == kOpJump ? "scf.if"
                                              : kOpNames[in.op];
  }
  return r;
}

} // namespace fa_runner
