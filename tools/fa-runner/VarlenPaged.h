//===- VarlenPaged.h - Run and check packed queries against a paged cache -===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// A varlen-paged kernel (fa.attention ... varlen(%cu_q) max_seqlen_q = %m
// paged(%block_table, %cache_seqlens); a serving batch that mixes prefill
// chunks and decode steps) packs the queries of B sequences along the token
// axis as a varlen kernel does (Varlen.h): Q and O [Tq, Hq, D], the LSE
// [Hq, Tq], sequence b's n_b queries rows [cu_q[b], cu_q[b + 1]) by the i32
// offsets cu_seqlens_q [B + 1]; and reads their keys and values from pages
// of one pool [num_pages, page_size, Hkv, D] as a paged kernel does
// (Paged.h): nk_b = cache_seqlens[b] keys, key j at K[block_table[b, j /
// page_size], j % page_size]. There is no cu_seqlens_k. The queries are
// the last n_b of the sequence's nk_b positions: bottom-right causal lets
// row i (its position among the sequence's queries) see keys j <= i + nk_b
// - n_b, top-left j <= i; the mods see b, the query head, i and j. n_b may
// be 0, nk_b may be 0, n_b may exceed nk_b (rows without a key: O 0, LSE
// -inf).
//
// fa-runner <prefix> --seqlens-q ... --cache-seqlens ... (or explicit
// offsets, --cu-seqlens-q) draws each sequence from the seeded generator,
// packs its queries after --gap unused rows (NaN; as many after the last
// sequence), builds the block table and the pool as for a paged kernel
// (--page-order, --share-pages, --block-table, --num-pages, --max-pages;
// pool rows no sequence reaches NaN, unused table entries outside the
// pool), checks the offsets, max_seqlen_q, the lengths and the table as a
// serving runtime would before any GPU work, launches with the metadata's
// grid (its "scalar" max_seqlen_q from --max-seqlen-q or the longest query
// length) and checks every sequence against the fp64 reference of a [1, H,
// n_b, D] problem whose K and V are its nk_b keys gathered through the
// table (the reference's Nq != Nk alignment is the one above), with the
// rule of the other kernels. O and LSE rows inside a sequence start as NaN
// (each must be written), rows outside every sequence hold the varlen
// sentinel (which must survive); Q, the pool, the table, the lengths and
// the offsets must come back unchanged (outside_errors). --reference-only
// and --dump-inputs run the same inputs through the CPU reference alone
// (no kernel, no driver).
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_VARLENPAGED_H
#define FA_RUNNER_VARLENPAGED_H

#include "Captures.h"
#include "Metadata.h"
#include "Options.h"
#include "Paged.h"
#include "Varlen.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fa_runner {

/// The inputs of a varlen-paged run: `packed` holds the shared problem,
/// the packed Q (NaN outside every sequence), the offsets and the
/// sequences ([1, n_b, Hq, D] against their nk_b keys gathered through the
/// table, bshd; no cu_seqlens_k, K or V); `k` and `v` are the pools.
struct VarlenPagedProblem {
  VarlenProblem packed;
  PageTable pages;
  std::vector<uint16_t> k, v;
  int64_t maxSeqlenQ = 0, gap = 0;
};

/// Draws each sequence from its own stream of the seeded generator, packs
/// its queries at the offsets `cuQ` of `tokensQ` rows and fills the pools
/// through `pages` (fillPools). The offsets and the table must have passed
/// the checks.
VarlenPagedProblem makeVarlenPagedProblem(const Problem &base,
                                          const std::vector<int32_t> &cuQ,
                                          int64_t tokensQ,
                                          const PageTable &pages,
                                          const Options &opt);

/// --reference-only: prints the requested rows (--print-rows; B:H:I names
/// position I of sequence B's queries) and a REFERENCE summary.
int varlenPagedReferenceOnly(const VarlenPagedProblem &vpp,
                             const KernelMetadata &meta, const Options &opt,
                             ModEvaluator *mods);

/// --dump-inputs: those of a paged run (dumpPagedInputs; q.bin is the
/// packed [Tq, Hq, D]) and DIR/cu_seqlens_q.bin (i32).
void dumpVarlenPagedInputs(const std::string &dir,
                           const VarlenPagedProblem &vpp,
                           const std::vector<HostCapture> &captures);

/// Runs and checks (and with --bench times) the varlen-paged kernel at
/// `opt.prefix`, described by `meta`, from `image` (empty unless
/// opt.runsKernel()); returns the exit code.
int runVarlenPaged(const Options &opt, const KernelMetadata &meta,
                   const std::string &image);

} // namespace fa_runner

#endif // FA_RUNNER_VARLENPAGED_H
