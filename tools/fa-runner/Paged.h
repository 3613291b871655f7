//===- Paged.h - Run and check a kernel of a paged KV cache ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// A paged kernel (fa.attention ... paged(%block_table, %cache_seqlens);
// docs/PagedKV.md) reads K and V from pages of one pool, [num_pages,
// page_size, Hkv, D]: sequence b has nk_b = cache_seqlens[b] keys, and its
// key j is K[block_table[b, j / page_size], j % page_size]. Q, O ([B, Hq,
// Nq, D]) and the LSE ([B, Hq, Nq]) keep the fixed layout; the causal mask
// and the mods' kv_idx use the position j, the mods' batch index is b.
//
// fa-runner <prefix> --cache-seqlens ... --nq N builds a block table (a
// seeded permutation of the pool's pages, or in order; --share-pages gives
// every sequence sequence 0's first page; --block-table gives one
// explicitly), checks it as a serving runtime would before any GPU work,
// draws each sequence's keys from the seeded generator into the pages the
// table gives it (pool rows no sequence reaches stay NaN, so a kernel
// reading them fails; unused table entries are page ids outside the pool,
// so one reading them faults under compute-sanitizer), launches with the
// metadata's grid and checks every sequence against the fp64 reference of
// a [1, H, Nq, D] problem whose K and V are its keys gathered through the
// table, with the rule and the output line of the other kernels. O and
// the LSE start as NaN (every row must be written); the pool, the table
// and the lengths must come back unchanged (outside_errors).
// --reference-only and --dump-inputs run the same inputs through the CPU
// reference alone (no kernel, no driver), for tests without a GPU.
//
// Packed queries against a paged cache (varlen(%cu_q) ... paged(...)) use
// the table, its checks and the pools here with the queries of Varlen.h:
// VarlenPaged.h.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_PAGED_H
#define FA_RUNNER_PAGED_H

#include "Captures.h"
#include "Driver.h"
#include "GpuReference.h"
#include "Metadata.h"
#include "Options.h"
#include "Reference.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace fa_runner {

class SplitKVPair;

/// A block table, the lengths and the pool's size (no data).
struct PageTable {
  int64_t pageSize = 0, numPages = 0, maxPages = 0;
  std::vector<int32_t> cacheSeqlens; // [B]
  std::vector<int32_t> table;        // [B, maxPages], row-major
  std::string order;                 // random | sequential | explicit
  bool shared = false;               // --share-pages

  int64_t batch() const { return static_cast<int64_t>(cacheSeqlens.size()); }
  /// The longest sequence's key count.
  int64_t longest() const {
    int64_t n = 0;
    for (int32_t nk : cacheSeqlens)
      n = std::max<int64_t>(n, nk);
    return n;
  }
  /// The pages sequence b reads: ceildiv(nk_b, pageSize).
  int64_t pagesOf(int64_t b) const {
    return (cacheSeqlens[b] + pageSize - 1) / pageSize;
  }
  /// The table in an output line, as JSON members and as text.
  std::string sizesJson() const;
  std::string sizesText() const;
  /// The pool row (page * pageSize + row in the page) of key j of b.
  int64_t rowOf(int64_t b, int64_t j) const {
    return int64_t(table[b * maxPages + j / pageSize]) * pageSize +
           j % pageSize;
  }
};

/// The table of `opt` for a kernel of `pageSize` rows per page: the
/// explicit --block-table, else one generated from --cache-seqlens (pool
/// pages in a seeded random order or in order; with --share-pages, every
/// sequence's first page is sequence 0's; entries past a sequence's pages
/// numPages + 2^20, -1 and numPages + 7 in turn: outside the pool, the
/// first far from it). `numPages` and `maxPages` are the
/// sizes to use (-1: the defaults, the pages needed plus 3 spare and the
/// longest sequence's pages plus 1). Dies (exit 2) when the pool is too
/// small for the generated table, or too large for the host (`rowBytes`:
/// one row of K and V together); does not validate (checkPagedInputs).
PageTable makePageTable(const Options &opt, int64_t pageSize, int64_t rowBytes,
                        int64_t numPages, int64_t maxPages);

/// What a serving runtime checks before a launch (the kernel reads what
/// the table says): `blockTable` holds B rows of `maxPages` entries for the
/// B `cacheSeqlens`; each length is in [0, maxPages * pageSize], and the
/// entries p < ceildiv(nk_b, pageSize) of row b are page ids in [0,
/// numPages). Entries past them are never read, whatever they hold.
/// Returns "" or what is wrong.
std::string checkPagedInputs(const std::vector<int32_t> &blockTable,
                             int64_t maxPages,
                             const std::vector<int32_t> &cacheSeqlens,
                             int64_t numPages, int64_t pageSize);

/// makePageTable (K and V rows of `Hkv` heads of `D` elements), checked as
/// a serving runtime checks a table before a launch (checkPagedInputs):
/// dies (exit 2) on a bad one.
PageTable checkedPageTable(const Options &opt, int64_t pageSize, int64_t Hkv,
                           int64_t D, int64_t numPages, int64_t maxPages);

/// One sequence as a problem of its own: [1, Hq, Nq, D] (its rows of Q)
/// against [1, Hkv, nk_b, D], its keys and values gathered through the
/// table (contiguous, bhsd).
struct PagedSequence {
  Problem p;
  Inputs in;
};

/// The inputs of a paged run: `base` holds what every sequence shares
/// (dtype, heads, Nq, D, scale, mask, LSE); Q is [B, Hq, Nq, D], K and V
/// the pools [numPages, pageSize, Hkv, D] (NaN in rows no sequence reaches).
struct PagedProblem {
  Problem base;
  PageTable pages;
  std::vector<PagedSequence> seqs;
  std::vector<uint16_t> q, k, v;
};

/// Draws each sequence (Q, K, V as a problem of its own, from its own
/// stream of the seeded generator) and fills the pools (fillPools). `pages`
/// must have passed checkPagedInputs.
PagedProblem makePagedProblem(const Problem &base, const PageTable &pages,
                              const Options &opt);

/// A sequence's keys and values as fillPools reads and writes them: its
/// problem (Nk keys, Hkv heads, its layout) and its inputs.
struct SequenceKeys {
  const Problem *p;
  Inputs *in;
};

/// The pools of `pages` ([numPages, pageSize, Hkv, D] each, NaN in rows no
/// sequence reaches): each sequence's keys and values are written into the
/// pages of its table row (sequence 0 last, so that its keys win a shared
/// page), then every sequence's are gathered back from the pools (what it
/// reads through the table). `pages` must have passed checkPagedInputs.
void fillPools(const PageTable &pages, const std::vector<SequenceKeys> &seqs,
               int64_t Hkv, int64_t D, std::vector<uint16_t> &k,
               std::vector<uint16_t> &v);

/// Whether the CPU reference affords every row (the rule of isSmall).
bool isSmallPaged(const PagedProblem &pp, const KernelMetadata &meta,
                  const Options &opt);

/// The CPU check of `out` and `lse` (copied to the host): every row when
/// `small`, else pickRows' first and last rows and seeded sample of the
/// [B, Hq, Nq] rows; NaN counted over every row.
void checkPagedOnCpu(const PagedProblem &pp, const Options &opt,
                     ModEvaluator *mods, bool small,
                     const std::vector<uint16_t> &out,
                     const std::vector<float> &lse, CheckStats &stats);

/// The GPU reference on every row, one sequence at a time (its gathered
/// keys and values uploaded): `q`, `o`, `lse` are the device buffers of the
/// kernel's operands. The regions must not read the batch index (the
/// reference passes 0).
void checkPagedOnGpu(const PagedProblem &pp, CUdeviceptr q, CUdeviceptr o,
                     CUdeviceptr lse, const KernelMetadata &meta,
                     const std::vector<ModCapture> &captures,
                     CheckStats &stats);

/// --reference-only: prints the requested rows (--print-rows; B:H:I names
/// sequence B) and a REFERENCE summary.
int pagedReferenceOnly(const PagedProblem &pp, const KernelMetadata &meta,
                       const Options &opt, ModEvaluator *mods);

/// --dump-inputs: DIR/q.bin (`q`: [B, Hq, Nq, D]), DIR/k.bin and v.bin
/// (the pools, [num_pages, page_size, Hkv, D], NaN where no sequence
/// reaches), DIR/block_table.bin and cache_seqlens.bin (i32, of `pages`),
/// DIR/capture<I>.bin.
void dumpPagedInputs(const std::string &dir, const std::vector<uint16_t> &q,
                     const PageTable &pages, const std::vector<uint16_t> &k,
                     const std::vector<uint16_t> &v,
                     const std::vector<HostCapture> &captures);

/// Dies (exit 2): the paged flags were given for `what` (a kernel that is
/// not a paged one), which takes `use` instead.
[[noreturn]] void notPaged(const std::string &what, const char *use);

/// Runs and checks (and with --bench times) the paged kernel at
/// `opt.prefix`, described by `meta`, from `image` (empty unless
/// opt.runsKernel()), or the split-KV pair `split` (its partial kernel's
/// metadata is `meta`); returns the exit code.
int runPaged(const Options &opt, const KernelMetadata &meta,
             const std::string &image, SplitKVPair *split = nullptr);

} // namespace fa_runner

#endif // FA_RUNNER_PAGED_H
