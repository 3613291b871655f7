//===- Varlen.h - Run and check a kernel of variable-length batches -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// A varlen kernel (fa.attention ... varlen(%cu_q, %cu_k) max_seqlen_q = %m)
// takes B sequences packed along the token axis: Q [Tq, Hq, D], K and V
// [Tk, Hkv, D], O [Tq, Hq, D], the LSE [Hq, Tq], and the i32 offsets
// cu_seqlens_q and cu_seqlens_k ([B + 1]); sequence b is query rows
// [cu_q[b], cu_q[b + 1]) and key rows [cu_k[b], cu_k[b + 1]), an attention
// of its own (positions, the causal alignment and the mods' indices within
// the sequence; the mods' batch index is b). fa-runner <prefix>
// --seqlens-q ... --seqlens-k ... draws each sequence from the seeded
// generator, packs them after --gap unused rows (NaN, so that a kernel
// reading them fails the check; as many after the last sequence), launches
// with the metadata's grid (its "scalar" max_seqlen_q from --max-seqlen-q
// or the longest query length) and checks every sequence against the fp64
// reference of a [1, H, n, D] problem, with the rule and the output line of
// fixed-length kernels. O and LSE rows inside a sequence start as NaN (each
// must be written); rows outside every sequence hold a sentinel that must
// survive.
//
// Packed queries against a paged cache (varlen(%cu_q) without cu_k, and
// paged(...)) reuse the queries, offsets and checks here with the keys of
// Paged.h: VarlenPaged.h.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_VARLEN_H
#define FA_RUNNER_VARLEN_H

#include "Captures.h"
#include "Driver.h"
#include "GpuReference.h"
#include "Launch.h"
#include "Metadata.h"
#include "Options.h"
#include "Reference.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace fa_runner {

/// What rows outside every sequence hold before the launch and must still
/// hold after it (finite in bf16, f16 and f32; compared bit for bit).
constexpr uint16_t kVarlenSentinel16 = 0x5a5a;
constexpr uint32_t kVarlenSentinel32 = 0x5a5a5a5a;

/// One sequence as a problem of its own: [1, H, n, D] with the strides of
/// the packed rows (bshd), its inputs, and where its rows start.
struct VarlenSequence {
  Problem p;
  Inputs in;
  int64_t firstQ = 0, firstK = 0;
};

/// A packed batch: `base` holds what every sequence shares (dtype, heads,
/// D, scale, mask, LSE); Q/K/V are [tokens, H, D] (NaN outside every
/// sequence), O [tokensQ, Hq, D] and the LSE [Hq, tokensQ], contiguous.
struct VarlenProblem {
  Problem base;
  std::vector<VarlenSequence> seqs;
  std::vector<int32_t> cuQ, cuK;
  int64_t tokensQ = 0, tokensK = 0;
  std::vector<uint16_t> q, k, v;

  /// Whether query row `t` belongs to a sequence.
  bool inside(int64_t t) const { return t >= cuQ.front() && t < cuQ.back(); }
};

/// Packs the sequences of `opt` (--seqlens-q/k after --gap rows), each
/// drawn from its own stream of the seeded generator (VarlenSequence::p
/// from `base`).
VarlenProblem makeVarlenProblem(const Problem &base, const Options &opt);

/// The queries of a packed batch: sequence b, drawn from its own stream of
/// the seeded generator as a [1, n_b, Hq, D] problem against
/// `keyLengths[b]` keys (n_b from the offsets `cuQ`, which must have passed
/// the checks), has its rows of Q at cuQ[b] of `tokensQ` rows (NaN outside
/// every sequence). K, V, cuK and firstK are left to the caller (its keys
/// and values are the sequence's `in`).
VarlenProblem packQueries(const Problem &base, const std::vector<int32_t> &cuQ,
                          int64_t tokensQ,
                          const std::vector<int64_t> &keyLengths,
                          const Options &opt);

/// O and the LSE before a launch: NaN inside the sequences (each row must
/// be written), the sentinel outside them (which must survive).
void initialOutputs(const VarlenProblem &vp, std::vector<uint16_t> &o,
                    std::vector<uint32_t> &lse);

/// The size symbols of a batch's captures: B sequences, Hq and Hkv, Nq /
/// Nk the longest query / key lengths, Tq the query token rows and, when
/// `tokensK` >= 0, Tk the key token rows. Lengths are known when `sized`;
/// `lengths` names the flags that give them.
std::vector<SizeSymbol> sequenceSymbols(bool sized, int64_t B,
                                        const Problem &base, int64_t longestQ,
                                        int64_t longestK, int64_t tokensQ,
                                        int64_t tokensK, const char *lengths);

/// The inputs of a run of `vp` (K and V `k` and `v`; the i32 operands
/// `indices`): O and the LSE as initialOutputs makes them, --perturb's
/// element in the middle of the longest sequence (the first of them).
SequenceInputs varlenInputs(const VarlenProblem &vp,
                            const std::vector<uint16_t> &k,
                            const std::vector<uint16_t> &v,
                            std::vector<const std::vector<int32_t> *> indices);

/// The checks of a run of `vp`: the rows outside every sequence, and every
/// sequence on its own by the GPU reference (`packedKeys`: on K and V as
/// the kernel takes them; else on the sequence's own keys) or the CPU one.
void checkAsVarlen(SequenceRun &run, const VarlenProblem &vp,
                   const KernelMetadata &meta, const Options &opt,
                   ModEvaluator *mods, bool packedKeys);

/// Whether the CPU reference affords every row (the rule of isSmall).
bool isSmallVarlen(const VarlenProblem &vp, const KernelMetadata &meta,
                   const Options &opt);

/// Elements of O and the LSE outside every sequence that lost the sentinel.
int64_t countOutsideErrors(const VarlenProblem &vp,
                           const std::vector<uint16_t> &out,
                           const std::vector<float> &lse);

/// The rows to check, as (sequence, head, position): every row when
/// `small`, else the first and last positions of each sequence's first and
/// last heads and a seeded sample (--check-rows in all).
std::vector<std::array<int64_t, 3>>
pickVarlenRows(const VarlenProblem &vp, const Options &opt, bool small);

/// The CPU check of `out` and `lse` (copied to the host) on pickVarlenRows'
/// rows; NaN counted over every row of every sequence.
void checkVarlenOnCpu(const VarlenProblem &vp, const Options &opt,
                      ModEvaluator *mods, bool small,
                      const std::vector<uint16_t> &out,
                      const std::vector<float> &lse, CheckStats &stats);

/// The GPU reference on every row, one sequence at a time (a batch of one
/// whose LSE rows are first copied contiguous): `q` .. `lse` are the
/// device buffers of the packed operands; `k` and `v` 0: each sequence's
/// own keys and values (its `in`, uploaded), as for a paged cache. The
/// regions must not read the batch index (the reference passes 0).
void checkVarlenOnGpu(const VarlenProblem &vp, CUdeviceptr q, CUdeviceptr k,
                      CUdeviceptr v, CUdeviceptr o, CUdeviceptr lse,
                      const KernelMetadata &meta,
                      const std::vector<ModCapture> &captures,
                      CheckStats &stats);

/// The offsets of sequences of `lengths` packed after `gap` unused rows:
/// cu[0] = gap, cu[b + 1] = cu[b] + lengths[b].
std::vector<int32_t> packOffsets(const std::vector<int64_t> &lengths,
                                 int64_t gap);

/// What a launcher checks before a launch (the kernel reads what the
/// offsets say): B + 1 offsets each, non-decreasing from 0, the last within
/// the operand's `tokensQ` / `tokensK` rows, and `maxSeqlenQ` at least every
/// query length. Returns "" or what is wrong.
std::string checkOffsets(const std::vector<int32_t> &cuQ,
                         const std::vector<int32_t> &cuK, int64_t tokensQ,
                         int64_t tokensK, int64_t maxSeqlenQ);

/// What a launcher checks of the query offsets of a kernel without
/// cu_seqlens_k (a varlen-paged one, whose key counts are cache_seqlens):
/// `batch` + 1 of them, non-decreasing from 0, the last within `tokensQ`,
/// and `maxSeqlenQ` at least every query length. Returns "" or what is
/// wrong.
std::string checkQueryOffsets(const std::vector<int32_t> &cuQ, int64_t batch,
                              int64_t tokensQ, int64_t maxSeqlenQ);

/// Runs and checks (and with --bench times) the varlen kernel at
/// `opt.prefix`, described by `meta`, from `image` (empty unless
/// opt.runsKernel()); returns the exit code.
int runVarlen(const Options &opt, const KernelMetadata &meta,
              const std::string &image);

} // namespace fa_runner

#endif // FA_RUNNER_VARLEN_H
