//===- ModInterpreter.h - Read and evaluate score_mod / mask_mod ----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Turns a region serialized in a kernel's .json (docs/ProgrammableAttention.md,
// "Launch metadata") into a flat ModProgram after checking it the way MLIR's
// verifiers would (allowed ops, operand counts and types, value numbers
// defined before use and visible in scope), and evaluates it on the host.
// Every defect exits 2 with a message that names the region and the op.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_MODINTERPRETER_H
#define FA_RUNNER_MODINTERPRETER_H

#include "Json.h"
#include "ModProgram.h"

#include <string>
#include <vector>

namespace fa_runner {

/// A capture's type: element type and shape (-1 for a dynamic size).
struct TensorType {
  uint8_t element = kTyF32;
  std::vector<int64_t> shape;
};

/// "i1" .. "f64" (and "index" when allowed). False when unknown.
bool parseScalarType(const std::string &text, uint8_t &type);
/// "tensor<?x8xf32>", "tensor<i32>". False when malformed.
bool parseTensorType(const std::string &text, TensorType &type);
const char *typeName(int type);
std::string tensorTypeName(const TensorType &type);

struct ModRegion {
  std::string name; // "score_mod" or "mask_mod"
  bool isScore = false;
  std::vector<ModInst> insts;
  std::vector<int32_t> operands;
  std::vector<uint8_t> valueTypes;  // by value number
  std::vector<std::string> opNames; // by ModInst::source
  /// Static sizes the region's capture arguments declare.
  std::vector<TensorType> captureTypes;
  int numArgs = 0, numValues = 0;

  /// The argument value number of capture `k`.
  int captureArg(int k) const { return (isScore ? 5 : 4) + k; }
};

/// Parses and verifies `json` (an object with "arguments" and "body") as the
/// region `name` of a kernel whose captures have the given types.
ModRegion parseModRegion(const Json &json, const std::string &name,
                         const std::vector<TensorType> &captures);

/// The message for an evaluation that stopped (OOB read, division by zero,
/// undefined score), for the host and the GPU reference alike.
std::string describeModError(const ModError &error, const ModRegion &region,
                             const std::vector<ModCapture> &captures);

/// Evaluates the regions of one kernel on the host; dies on ModError.
class ModEvaluator {
public:
  ModEvaluator(const ModRegion *score, const ModRegion *mask,
               const std::vector<ModCapture> &captures);
  bool hasScoreMod() const { return score != nullptr; }
  bool hasMaskMod() const { return mask != nullptr; }
  /// mask_mod(b, h, i, j, captures...); true when there is none.
  bool keep(int64_t b, int64_t h, int64_t i, int64_t j);
  /// score_mod(s, b, h, i, j, captures...); s when there is none.
  double modify(double s, int64_t b, int64_t h, int64_t i, int64_t j);
  /// Dies when a kept pair's modified score is +inf or NaN: the doc leaves
  /// that undefined, so no output could be judged wrong.
  void checkDefined(double modified, double s, int64_t b, int64_t h, int64_t i,
                    int64_t j) const;

private:
  uint64_t run(const ModRegion &region, ModError &error);
  const ModRegion *score, *mask;
  const std::vector<ModCapture> &captures;
  std::vector<uint64_t> values;
};

/// --eval REGION:ARGS: evaluates one region at the given arguments and
/// prints "REGION(args) = value".
void evalCommand(const std::string &spec, ModEvaluator &evaluator);

} // namespace fa_runner

#endif // FA_RUNNER_MODINTERPRETER_H
