//===- Metadata.h - What a kernel's .json says it computes ----------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Reads the launch metadata fa-compile writes (<prefix>.json): the argument
// list (Q, K, V, O, the optional LSE, then the captures) and the
// "attention" object. Three kinds of kernels:
//
//   - plain: no "from_op" field (kernels from before programmable
//     attention, or compiled without regions): checked as they always were;
//   - described: "from_op": true with "captures", "score_mod" and
//     "mask_mod": checked against the interpreted regions;
//   - undescribed: "from_op": false (compiled from already-tiled IR), or
//     the description is missing: they run, but nothing can check them.
//
// Any of them may list "tensor_maps" (TMA kernels; TensorMaps.h): each
// entry is checked here against the argument it describes.
//
// A varlen kernel (fa.attention's varlen; Varlen.h) has "varlen": true in
// its "attention" and a "varlen" object: q, k, v, o are [tokens, heads,
// head dim], the LSE [Hq, tokens], and the i32 offsets cu_seqlens_q and
// cu_seqlens_k follow the LSE (before the captures).
//
// A paged kernel (fa.attention's paged; Paged.h) has "paged": true and its
// "page_size" in its "attention" and a "paged" object: q and o are [B, Hq,
// Nq, D], the LSE [B, Hq, Nq], k and v the pools [num_pages, page_size,
// Hkv, D], and the i32 block_table [B, max_pages] and cache_seqlens [B]
// follow the LSE (before the captures).
//
// A varlen-paged kernel (both; VarlenPaged.h) has "varlen": true, "paged":
// true and its "page_size" in its "attention", a "varlen" object without
// cu_seqlens_k and a "paged" object: q and o are [tokens, Hq, D], the LSE
// [Hq, tokens], k and v the pools, and the i32 cu_seqlens_q, block_table
// and cache_seqlens follow the LSE (before the captures). It is never a
// split-KV kernel.
//
// The two kernels of a split-KV forward (SplitKV.h) carry a "split_kv"
// object: the partial kernel takes q, k, v, partial_o, partial_lse and the
// captures, and its "attention" describes the op; the combine kernel takes
// partial_o, partial_lse, o and the LSE, and only its dtype, head dim,
// scale, mask and LSE flag are read (SplitKV.cpp matches them).
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_METADATA_H
#define FA_RUNNER_METADATA_H

#include "Json.h"
#include "ModInterpreter.h"
#include "TensorMaps.h"

#include <memory>
#include <string>
#include <vector>

namespace fa_runner {

struct KernelMetadata {
  Json json;
  std::string dtype;  // bf16 | f16
  std::string causal; // none | top_left | bottom_right
  int64_t headDim = 0;
  double scale = 0;
  bool lse = false;
  /// A kernel of the backward pass ("backward" metadata) and its stage
  /// (delta, key_value, query).
  bool backward = false;
  std::string stage;
  /// A kernel of a split-KV forward ("split_kv" metadata; SplitKV.h): its
  /// stage (partial, combine) is `stage`; `splits` is the fixed split count
  /// (0: the runtime picks it by `splitRule`), at most `maxSplits`.
  bool splitKV = false;
  int64_t splits = 0, maxSplits = 0;
  std::string splitRule;
  /// A varlen kernel: the arguments cu_seqlens_q and cu_seqlens_k (-1 in a
  /// varlen-paged kernel, `varlen` and `paged` both set).
  bool varlen = false;
  int64_t cuSeqlensQ = -1, cuSeqlensK = -1;
  /// A paged kernel: the arguments block_table and cache_seqlens, and the
  /// rows per page (static, dimension 1 of k and v).
  bool paged = false;
  int64_t blockTable = -1, cacheSeqlens = -1, pageSize = 0;
  /// Static sizes of Q and K ([B, H, N, D], varlen [T, H, D], paged K
  /// [num_pages, page_size, H, D], varlen-paged Q [T, H, D] and K the
  /// pool's; -1 dynamic).
  /// A split-KV combine kernel has no Q or K: qShape is O's, kShape all -1.
  std::vector<int64_t> qShape, kShape;
  /// Arguments before the captures: 4, or 5 with the LSE (a split-KV partial
  /// kernel: 5, q, k, v, partial_o, partial_lse; its combine kernel: 3 or
  /// 4, partial_o, partial_lse, o and the LSE, and no captures; varlen: 2
  /// more, the offsets; paged: 2 more, the block table and the lengths;
  /// varlen-paged: 3 more, cu_seqlens_q, the table and the lengths).
  int fixedArguments = 4;
  /// backward: the kernels take the f32 dQ accumulator (dq_accum) after
  /// delta (backward-dq=accumulate).
  bool gradQueryAccumulator = false;
  /// The captures' types, static sizes from the arguments and the regions.
  std::vector<TensorType> captures;
  /// Empty when the kernel can be checked; else why it cannot.
  std::string uncheckable;
  std::unique_ptr<ModRegion> scoreMod, maskMod;
  /// The "tensor_maps" entries (none for kernels without TMA loads): one
  /// CUtensorMap parameter each, after the memref descriptors.
  std::vector<TensorMapSpec> tensorMaps;

  bool hasMods() const { return scoreMod || maskMod; }
  /// Threads per block, from "block"; dies unless it is an array whose
  /// first entry is in [1, 1024].
  unsigned threads() const;
  /// Dies unless what a launch reads is there: the kernel's name, its
  /// dynamic shared memory (a non-negative integer) and its threads.
  /// Called before the GPU is opened, so that bad metadata is a usage
  /// error on any machine.
  void checkLaunchFields() const;
};

/// Parses and validates `text`; dies (exit 2) on anything malformed.
KernelMetadata readMetadata(const std::string &text);

} // namespace fa_runner

#endif // FA_RUNNER_METADATA_H
