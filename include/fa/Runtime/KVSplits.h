//===- KVSplits.h - Parts of a tile's key range -----------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The rule of `fa.split_count`, shared by the CPU lowering of the op and the
// runtimes that launch split kernels (fa-runner; python/fa_mlir/_splits.py
// restates it and a test compares the two). Header-only and free of MLIR so
// that a runtime can include it alone.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNTIME_KVSPLITS_H
#define FA_RUNTIME_KVSPLITS_H

#include <algorithm>
#include <cstdint>

namespace fa {

/// The name the launch metadata gives this rule ("split_kv": {"rule": ...}).
inline constexpr const char *kKVSplitRule = "fill-slots-v2";

/// The number of parts the key range of every tile is split into.
///
/// `tiles`: the independent (batch, head, query tile) tiles; `blocks`: the
/// key blocks of one tile (ceildiv(Nk, block_n)); `slots`: how many blocks
/// of the split kernel the device runs at once (multiprocessors times the
/// resident blocks of one); `maxSplits`: the kernel's limit. When the tiles
/// alone fill the slots the range is not split; otherwise into as many
/// parts as fill them in one wave (floor(slots / tiles): one more part
/// would leave a second wave of a few blocks, measured 1.45x slower for
/// packed GQA decoding on the H200:
/// benchmarks/results/2026-12-01-h200-decode-pack-gqa.md), at most one per
/// key block and at most `maxSplits`.
inline int64_t chooseKVSplits(int64_t tiles, int64_t blocks, int64_t slots,
                              int64_t maxSplits) {
  if (tiles <= 0 || blocks <= 1 || slots <= tiles || maxSplits <= 1)
    return 1;
  int64_t wanted = slots / tiles;
  return std::max<int64_t>(1, std::min({wanted, blocks, maxSplits}));
}

} // namespace fa

#endif // FA_RUNTIME_KVSPLITS_H
