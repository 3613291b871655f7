//===- ModInterpreter.cpp - Read and evaluate score_mod / mask_mod --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "ModInterpreter.h"
#include "Support.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace fa_runner {

static const char *const kTypeNames[] = {"i1",  "i8",    "i16",   "i32",
                                         "i64", "index", "f16",   "bf16",
                                         "f32", "f64",   "tensor"};

const char *typeName(int type) {
  return type >= 0 && type <= kTyTensor ? kTypeNames[type] : "?";
}

bool parseScalarType(const std::string &text, uint8_t &type) {
  for (int t = 0; t < kTyTensor; ++t)
    if (text == kTypeNames[t]) {
      type = static_cast<uint8_t>(t);
      return true;
    }
  return false;
}

bool parseTensorType(const std::string &text, TensorType &type) {
  const std::string head = "tensor<";
  if (text.compare(0, head.size(), head) != 0 || text.back() != '>')
    return false;
  std::string body = text.substr(head.size(), text.size() - head.size() - 1);
  type.shape.clear();
  size_t pos = 0, x;
  while ((x = body.find('x', pos)) != std::string::npos) {
    std::string dim = body.substr(pos, x - pos);
    if (dim == "?") {
      type.shape.push_back(-1);
    } else {
      char *end = nullptr;
      long long n = std::strtoll(dim.c_str(), &end, 10);
      if (dim.empty() || *end || n < 0)
        return false;
      type.shape.push_back(n);
    }
    pos = x + 1;
  }
  return parseScalarType(body.substr(pos), type.element) &&
         type.element != kTyIndex;
}

std::string tensorTypeName(const TensorType &type) {
  std::string s = "tensor<";
  for (int64_t d : type.shape)
    s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return s + typeName(type.element) + ">";
}

//===----------------------------------------------------------------------===//
// Evaluation on the host.
//===----------------------------------------------------------------------===//

std::string describeModError(const ModError &e, const ModRegion &region,
                             const std::vector<ModCapture> &captures) {
  char where[256];
  if (region.isScore)
    std::snprintf(where, sizeof(where),
                  "at b=%lld h=%lld q_idx=%lld kv_idx=%lld (score %.17g)",
                  (long long)e.b, (long long)e.h, (long long)e.i,
                  (long long)e.j, e.score);
  else
    std::snprintf(where, sizeof(where),
                  "at b=%lld h=%lld q_idx=%lld kv_idx=%lld", (long long)e.b,
                  (long long)e.h, (long long)e.i, (long long)e.j);
  std::string op = "?";
  if (e.inst >= 0 && e.inst < static_cast<int>(region.insts.size()))
    op = "op #" + std::to_string(region.insts[e.inst].source) + " '" +
         region.opNames[region.insts[e.inst].source] + "'";
  std::string capture = "capture" + std::to_string(e.capture);
  switch (e.status) {
  case kModOutOfBounds: {
    const ModCapture &c = captures.at(e.capture);
    return region.name + " reads " + capture + "[" +
           joinInts(std::vector<int64_t>(e.index, e.index + e.rank)) +
           "] out of bounds (shape [" +
           joinInts(std::vector<int64_t>(c.sizes, c.sizes + c.rank)) + "]) " +
           where + ", " + op;
  }
  case kModBadDim:
    return region.name + ": tensor.dim of " + capture + " dimension " +
           std::to_string(e.index[0]) + ", which it does not have (rank " +
           std::to_string(captures.at(e.capture).rank) + ") " + where;
  case kModDivideByZero:
    return region.name + ": integer division by zero in " + op + " " + where;
  case kModUndefined:
    return region.name + " gives " +
           (e.modified != e.modified ? "NaN" : "+inf") + " at a kept pair " +
           where +
           ": undefined (docs/ProgrammableAttention.md), so the kernel cannot "
           "be checked on this input";
  default:
    return region.name + ": evaluation failed " + where;
  }
}

ModEvaluator::ModEvaluator(const ModRegion *score, const ModRegion *mask,
                           const std::vector<ModCapture> &captures)
    : score(score), mask(mask), captures(captures) {
  size_t n = 0;
  for (const ModRegion *r : {score, mask})
    if (r)
      n = std::max<size_t>(n, r->numValues);
  values.resize(n);
}

uint64_t ModEvaluator::run(const ModRegion &region, ModError &error) {
  for (size_t k = 0; k < captures.size(); ++k)
    values[region.captureArg(static_cast<int>(k))] = k;
  int result =
      modRun(region.insts.data(), static_cast<int>(region.insts.size()),
             region.operands.data(), values.data(), captures.data(), &error);
  if (result < 0)
    die(kUsage, describeModError(error, region, captures));
  return values[result];
}

bool ModEvaluator::keep(int64_t b, int64_t h, int64_t i, int64_t j) {
  if (!mask)
    return true;
  int64_t args[4] = {b, h, i, j};
  for (int k = 0; k < 4; ++k)
    values[k] = static_cast<uint64_t>(args[k]);
  ModError error{};
  error.region = 1, error.b = b, error.h = h, error.i = i, error.j = j;
  return run(*mask, error) & 1;
}

double ModEvaluator::modify(double s, int64_t b, int64_t h, int64_t i,
                            int64_t j) {
  if (!score)
    return s;
  values[0] = modBits(s);
  int64_t args[4] = {b, h, i, j};
  for (int k = 0; k < 4; ++k)
    values[1 + k] = static_cast<uint64_t>(args[k]);
  ModError error{};
  error.b = b, error.h = h, error.i = i, error.j = j, error.score = s;
  return modAsDouble(run(*score, error));
}

void ModEvaluator::checkDefined(double modified, double s, int64_t b, int64_t h,
                                int64_t i, int64_t j) const {
  if (!score || (modified == modified && modified != modInf()))
    return;
  ModError error{};
  error.status = kModUndefined;
  error.inst = -1;
  error.b = b, error.h = h, error.i = i, error.j = j, error.score = s;
  error.modified = modified;
  die(kUsage, describeModError(error, *score, captures));
}

void evalCommand(const std::string &spec, ModEvaluator &evaluator) {
  size_t colon = spec.find(':');
  std::string name = spec.substr(0, colon);
  bool isScore = name == "score_mod";
  if (colon == std::string::npos || (!isScore && name != "mask_mod"))
    die(kUsage, "--eval takes score_mod:SCORE,B,H,Q_IDX,KV_IDX or "
                "mask_mod:B,H,Q_IDX,KV_IDX, got '" +
                    spec + "'");
  if (isScore ? !evaluator.hasScoreMod() : !evaluator.hasMaskMod())
    die(kUsage, "--eval " + name + ": this kernel has no " + name);
  std::vector<std::string> fields;
  std::string rest = spec.substr(colon + 1);
  for (size_t pos = 0;;) {
    size_t comma = rest.find(',', pos);
    fields.push_back(rest.substr(pos, comma - pos));
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  if (fields.size() != (isScore ? 5u : 4u))
    die(kUsage, "--eval " + name + " takes " + (isScore ? "5" : "4") +
                    " comma-separated arguments, got '" + rest + "'");
  double score = 0;
  int64_t index[4];
  for (size_t k = 0; k < fields.size(); ++k) {
    char *end = nullptr;
    const char *text = fields[k].c_str();
    errno = 0;
    if (isScore && k == 0)
      score = std::strtod(text, &end);
    else
      index[k - isScore] = std::strtoll(text, &end, 10);
    // (A value past the type's range would be clamped: refused.)
    if (fields[k].empty() || *end || errno == ERANGE)
      die(kUsage, "--eval " + name + ": bad argument '" + fields[k] +
                      "' (a number; indices are 64-bit integers)");
  }
  if (isScore) {
    double r = evaluator.modify(score, index[0], index[1], index[2], index[3]);
    std::printf("score_mod(%.17g, %lld, %lld, %lld, %lld) = %.17g\n", score,
                (long long)index[0], (long long)index[1], (long long)index[2],
                (long long)index[3], r);
  } else {
    bool r = evaluator.keep(index[0], index[1], index[2], index[3]);
    std::printf("mask_mod(%lld, %lld, %lld, %lld) = %s\n", (long long)index[0],
                (long long)index[1], (long long)index[2], (long long)index[3],
                r ? "true" : "false");
  }
}

} // namespace fa_runner
