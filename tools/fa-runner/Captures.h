//===- Captures.h - The --capture flag: shapes and seeded fills -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// A kernel of programmable attention takes its captures as arguments after
// Q, K, V, O and the LSE. fa-runner makes each one on the host from a flag
//
//   --capture I:SHAPE:FILL
//
// (grammar in fa-runner --help), contiguous and row-major, so the same bytes
// go to the device for the kernel and the GPU reference, and stay on the
// host for the CPU reference.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_CAPTURES_H
#define FA_RUNNER_CAPTURES_H

#include "ModInterpreter.h"

#include <functional>
#include <string>
#include <vector>

namespace fa_runner {

struct CaptureFlag {
  int index = -1;
  std::string shape, fill, text;
};

/// Splits "I:SHAPE:FILL" (FILL may contain ':'); dies when malformed.
CaptureFlag parseCaptureFlag(const std::string &text);

struct HostCapture {
  std::string name; // capture0, ...
  TensorType type;  // as the kernel declares it (static sizes)
  std::vector<int64_t> shape, strides;
  std::vector<unsigned char> bytes;

  /// The evaluator's view of these bytes at `data` (host or device).
  ModCapture view(const void *data) const;
};

/// Resolves a shape symbol (B, Hq, Hkv, Nq, Nk) to its size; dies when the
/// size is not known.
using SizeOfSymbol = std::function<int64_t(const std::string &)>;

/// Makes every capture of `types` from `flags`, seeded by `seed` (each
/// capture by its own stream, so Q/K/V do not change with the captures).
std::vector<HostCapture> makeCaptures(const std::vector<TensorType> &types,
                                      const std::vector<CaptureFlag> &flags,
                                      const SizeOfSymbol &sizeOf,
                                      uint64_t seed);

/// A shape symbol a kernel knows, its size (-1: not known here) and the
/// flags that give it.
struct SizeSymbol {
  const char *name;
  int64_t value;
  const char *flags;
};

/// The SizeOfSymbol of `kernel` (e.g. "a paged kernel"), which knows
/// `sizes`: dies on another symbol, or on one whose size is not known.
SizeOfSymbol sizesOfSymbols(std::vector<SizeSymbol> sizes,
                            const std::string &kernel);

/// The captures of a run on the host (the CPU reference reads them there)
/// and the evaluator of the regions `score` and `mask` over them.
struct HostCaptures {
  std::vector<HostCapture> captures;
  std::vector<ModCapture> views;
  ModEvaluator evaluator;
  /// The evaluator, or null when there is no region (plain attention).
  ModEvaluator *mods;

  /// makeCaptures(types, flags, sizeOf, seed).
  HostCaptures(const std::vector<TensorType> &types,
               const std::vector<CaptureFlag> &flags,
               const SizeOfSymbol &sizeOf, uint64_t seed,
               const ModRegion *score, const ModRegion *mask);
  HostCaptures(const HostCaptures &) = delete;
  HostCaptures &operator=(const HostCaptures &) = delete;
};

} // namespace fa_runner

#endif // FA_RUNNER_CAPTURES_H
