//===- SplitKV.h - Run the two kernels of a split-KV forward --------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa-compile --split-kv=auto|N writes a forward attention as two kernels,
// <prefix>.0 and <prefix>.1 (each .json says its stage under "split_kv"):
//
//   partial (q, k, v, partial_o, partial_lse, capture0, ...): each block
//     attends one query tile to one of S parts of the key range; grid
//     (ceildiv(Nq, block_m) * S, Hq, B);
//   combine (partial_o, partial_lse, o[, lse]): merges the S parts; grid
//     (ceildiv(Nq, block_m), Hq, B).
//
// partial_o (f32 [S, B, Hq, Nq, Dv]) and partial_lse (f32 [S, B, Hq, Nq])
// are contiguous scratch the runner allocates (poisoned with NaN: the
// partial kernel must write every element the combine kernel reads). S is
// the kernels' fixed "splits", else --kv-splits, else the rule of
// include/fa/Runtime/KVSplits.h on this device. fa-runner <prefix> finds
// the pair when <prefix>.json does not exist, and checks O (and the LSE)
// exactly as it checks a one-kernel forward: the pair computes the same.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_SPLITKV_H
#define FA_RUNNER_SPLITKV_H

#include "Driver.h"
#include "Launch.h"
#include "Metadata.h"
#include "Reference.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fa_runner {

/// Whether <prefix>.0.json or <prefix>.1.json exists and describes a
/// split-KV kernel.
bool isSplitKVPrefix(const std::string &prefix);

/// One memref argument: its device address, sizes and element strides.
/// A kernel argument: pointer, sizes and strides (in elements).
using MemrefArg = LaunchArg;

/// The two kernels of a split-KV forward and their scratch.
class SplitKVPair {
public:
  /// Reads <prefix>.0 and <prefix>.1 (with `images`, their .cubin, .fatbin
  /// or .ptx too) and checks that they are the partial and the combine
  /// kernel of one attention, and `requestedSplits` (--kv-splits; 0: none)
  /// against them. Dies (exit 2) on anything else.
  SplitKVPair(const std::string &prefix, bool images, int64_t requestedSplits);
  ~SplitKVPair();

  /// What the pair computes: the partial kernel's metadata (the op's
  /// attention, the captures and their regions).
  KernelMetadata &meta() { return kernels[0].meta; }

  /// A partial kernel of a paged cache (its metadata's "paged"): K and V
  /// are pools of `numPages` pages of `pageSize` rows, the block table has
  /// `maxPages` columns (whose pages bound the rule's key blocks). Call
  /// before checkProblem.
  void setPages(int64_t numPages, int64_t pageSize, int64_t maxPages);

  /// Checks the static sizes of every argument of both kernels against `p`
  /// (no GPU needed); dies (exit 2) on a mismatch.
  void checkProblem(const Problem &p);

  /// With the driver loaded and a context current: loads both kernels,
  /// picks S and allocates the scratch.
  void load(CUdevice device, int smemOptin);

  int64_t splits() const { return chosen; }
  /// "partial+combine" kernel names.
  std::string kernelNames() const;

  /// Launches the partial kernel, then the combine kernel (stream 0):
  /// q, k, v, o (and `lse`, when the kernels write it) as the forward
  /// kernel takes them; `trailing` are the partial kernel's arguments
  /// after partial_lse (the block table and the key counts of a paged
  /// cache, then the captures); `maps` its tensor maps.
  void launch(const MemrefArg &q, const MemrefArg &k, const MemrefArg &v,
              const MemrefArg &o, const MemrefArg *lse,
              const std::vector<MemrefArg> &trailing,
              std::vector<CUtensorMap> &maps);

private:
  struct Kernel {
    std::string path; // <prefix>.0 or .1
    KernelMetadata meta;
    std::string image;
    CUfunction function = nullptr;
    int64_t smem = 0;
    unsigned threads = 0;
    unsigned grid[3] = {0, 0, 0};
  };
  Kernel kernels[2]; // partial, combine
  int64_t requested = 0, chosen = 0, blockM = 0, blockN = 0;
  /// The query heads a partial tile packs (its tile's pack_gqa; 1: none).
  int64_t packedHeads = 1;
  /// A paged partial kernel's pool and table (0: contiguous K and V).
  int64_t numPages = 0, pageSize = 0, maxPages = 0;
  Problem problem{};
  bool haveProblem = false;
  std::unique_ptr<DeviceBuffer> partialO, partialLse;

  /// The sizes of argument `arg` of kernel `stage` (S: `splits`).
  std::vector<int64_t> argumentSizes(int stage, int64_t arg,
                                     int64_t splits) const;
  void checkShapes(int64_t splits) const;
  unsigned gridDim(int stage, int i) const;
};

} // namespace fa_runner

#endif // FA_RUNNER_SPLITKV_H
