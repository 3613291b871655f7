//===- Options.h - fa-runner's command line -------------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_OPTIONS_H
#define FA_RUNNER_OPTIONS_H

#include "Captures.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace fa_runner {

struct Options {
  std::string prefix;
  int64_t batch = -1, qHeads = -1, kvHeads = -1, qLength = -1, kvLength = -1;
  uint64_t seed = 1;
  std::string mode = "normal"; // normal | large | dominant
  std::string layout = "bhsd"; // bhsd (contiguous) | bshd (strided)
  bool bench = false, json = false, check = true;
  int iterations = 50, warmup = 10;
  int64_t checkRows = 4096;
  std::string reference = "auto"; // auto | cpu | gpu
  bool perturb = false; // control: corrupt one output; the check must fail
  std::vector<CaptureFlag> captures;
  /// A split-KV pair (SplitKV.h): the split count, 0 for the kernels' rule.
  int64_t kvSplits = 0;
  /// A varlen kernel (Varlen.h): the sequences' query and key lengths (as
  /// many of each), max_seqlen_q (-1: the longest query length) and the
  /// unused token rows before the first and after the last sequence (-1:
  /// not given, none).
  std::vector<int64_t> seqlensQ, seqlensK;
  int64_t maxSeqlenQ = -1, gap = -1;
  /// A varlen-paged kernel (VarlenPaged.h) takes --seqlens-q with
  /// --cache-seqlens, or explicit query offsets instead of --seqlens-q (B +
  /// 1 of them, any i32 values: bad offsets are for the checks of a run).
  std::vector<int64_t> cuSeqlensQ;
  /// A paged kernel (Paged.h): each sequence's key count (B of them; -1
  /// below: not given), the pool's pages, the block table's width, how the
  /// generated table orders the pages (random | sequential; empty: not
  /// given, random), whether sequences after the first share its first
  /// page, and an explicit table (rows of max_pages page ids, any values).
  std::vector<int64_t> cacheSeqlens;
  int64_t numPages = -1, maxPages = -1;
  std::string pageOrder;
  bool sharePages = false;
  std::vector<std::vector<int64_t>> blockTable;

  // CPU-only modes: no kernel image, no driver.
  bool referenceOnly = false;
  bool printAllRows = false;
  std::vector<std::array<int64_t, 3>> printRows; // (b, h, i)
  int64_t printCols = -1;                        // -1: all of D
  std::string dumpInputs;                        // directory
  std::vector<std::string> evals;                // REGION:ARGS

  /// Whether this run needs the kernel image and a GPU.
  bool runsKernel() const { return !referenceOnly && evals.empty(); }
  /// Whether the command line describes a variable-length batch (of a
  /// varlen or a varlen-paged kernel).
  bool varlen() const {
    return !seqlensQ.empty() || !seqlensK.empty() || maxSeqlenQ >= 0 ||
           gap >= 0 || !cuSeqlensQ.empty();
  }
  /// Whether the command line describes a paged KV cache.
  bool paged() const {
    return !cacheSeqlens.empty() || numPages >= 0 || maxPages >= 0 ||
           !pageOrder.empty() || sharePages || !blockTable.empty();
  }
};

Options parseOptions(int argc, char **argv);

} // namespace fa_runner

#endif // FA_RUNNER_OPTIONS_H
