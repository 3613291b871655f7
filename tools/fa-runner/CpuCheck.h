//===- CpuCheck.h - The CPU reference over many rows ----------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What fa-runner does with the fp64 CPU reference (Reference.h) beyond one
// row: choosing the rows, checking a kernel's output, the --reference-only
// mode and --dump-inputs.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_CPUCHECK_H
#define FA_RUNNER_CPUCHECK_H

#include "Captures.h"
#include "GpuReference.h"
#include "Metadata.h"
#include "Options.h"
#include "Reference.h"

#include <string>
#include <vector>

namespace fa_runner {

/// Whether the fp64 CPU reference can afford every row.
bool isSmall(const Problem &p, const KernelMetadata &meta, const Options &opt);

/// What the CPU reference spends on one (query, key) pair, in MACs: the
/// dot product and the interpreted regions. isSmall's rule is that all
/// pairs together cost at most 2e9 (or the rows are at most --check-rows).
double pairCost(const KernelMetadata &meta, int64_t D);

/// Rows to check: all when `small`, else the first and last rows plus a
/// seeded sample (flat indices over [B, Hq, Nq]).
std::vector<int64_t> pickRows(const Problem &p, const Options &opt, bool small);

/// "score_mod,mask_mod", "mask_mod", ... or "none".
std::string modsName(const KernelMetadata &meta);

/// What an output line says of the kernel's regions: "<modsName>
/// captures=N", or "" for a kernel without regions or captures.
std::string modsTag(const KernelMetadata &meta);

/// What an output line says of a split-KV pair's count: " kv_splits=S", or
/// the JSON member ", \"kv_splits\": S"; "" when `splits` < 0 (no pair).
std::string splitsTag(int64_t splits, bool json);

/// The columns of a row --print-cols prints (all D by default).
int64_t printedCols(const Options &opt, int64_t D);

/// What --reference-only sums over the rows it checks.
struct ReferenceSums {
  int64_t emptyRows = 0, keptPairs = 0;
  double maxBase = 0; // the baseline's largest error
  void add(const RowResult &r, int64_t D);
};

/// Checks the kernel's row against `ref`: its D elements of `out` from
/// `first` (`p`'s dtype) and, when `p` has one, its LSE `lse`.
void checkRow(const Problem &p, const RowResult &ref,
              const std::vector<uint16_t> &out, int64_t first, double lse,
              CheckStats &stats);

/// Writes DIR/NAME.bin (--dump-inputs); dies (exit 2) when it cannot.
void dumpFile(const std::string &dir, const std::string &name, const void *data,
              size_t bytes);

/// Prints row (b, h, i) of the reference ("row b= h= i= kept= lse= out=")
/// and of the baseline ("base b= h= i= out="), `cols` elements of each.
void printReferenceRow(int64_t b, int64_t h, int64_t i, const RowResult &r,
                       int64_t cols);

/// --reference-only: prints the requested rows and a REFERENCE summary.
int referenceOnly(const Problem &p, const KernelMetadata &meta,
                  const Options &opt, const Inputs &in, ModEvaluator *mods);

/// Checks a kernel's output (`out`, `lse` copied to the host) on `rows`
/// (NaN counted over all of them); the regions see batch index `modBatch`
/// when it is not negative (a sequence held as a problem of its own).
void checkOnCpu(const Problem &p, const Inputs &in, ModEvaluator *mods,
                const std::vector<uint16_t> &out, const std::vector<float> &lse,
                const std::vector<int64_t> &rows, CheckStats &stats,
                int64_t modBatch = -1);

/// --dump-inputs: DIR/{q,k,v}.bin in [B, H, N, D] order, DIR/capture<I>.bin.
void dumpInputs(const std::string &dir, const Problem &p, const Inputs &in,
                const std::vector<HostCapture> &captures);

} // namespace fa_runner

#endif // FA_RUNNER_CPUCHECK_H
