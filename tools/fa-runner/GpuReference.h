//===- GpuReference.h - Running reference.cu over a kernel's output -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The host side of the fp64 GPU reference (reference.cu, embedded as a
// fatbin when nvcc was found at build time): uploads the regions as flat
// programs and the capture descriptors, runs one warp per query row over
// the kernel's output in place, and folds the per-row results into the same
// statistics as the CPU check.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_GPUREFERENCE_H
#define FA_RUNNER_GPUREFERENCE_H

#include "Driver.h"
#include "ModInterpreter.h"
#include "Reference.h"

#include <string>
#include <vector>

namespace fa_runner {

/// What a check found, over the rows it looked at.
struct CheckStats {
  double maxErr = 0, maxBase = 0, maxLseErr = 0;
  int64_t checkedRows = 0, nanCount = 0, maskedRowErrors = 0;
};

/// Whether this fa-runner embeds reference.cu.
bool haveGpuReference();

/// Whether the GPU reference can evaluate these regions (its value slots
/// are a fixed thread-local array); `why` says why not.
bool gpuReferenceFits(const ModRegion *score, const ModRegion *mask,
                      std::string &why);

/// Checks every row of `o` (and `lse`, 0 when absent). `captures` are the
/// device views of the captures (data = device pointers).
void checkOnGpu(const Problem &p, CUdeviceptr q, CUdeviceptr k, CUdeviceptr v,
                CUdeviceptr o, CUdeviceptr lse, const ModRegion *score,
                const ModRegion *mask, const std::vector<ModCapture> &captures,
                CheckStats &stats);

} // namespace fa_runner

#endif // FA_RUNNER_GPUREFERENCE_H
