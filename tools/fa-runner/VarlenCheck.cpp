//===- VarlenCheck.cpp - Inputs and references of variable-length batches -===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The packed inputs of a varlen run and its checks (Varlen.h): the offsets,
// each sequence checked as a [1, H, n, D] problem of its own by the fp64
// references of fixed-length kernels, and the rows outside every sequence.
//
//===----------------------------------------------------------------------===//

#include "CpuCheck.h"
#include "Support.h"
#include "Varlen.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>

namespace fa_runner {

std::vector<int32_t> packOffsets(const std::vector<int64_t> &lengths,
                                 int64_t gap) {
  std::vector<int32_t> cu{static_cast<int32_t>(gap)};
  for (int64_t n : lengths)
    cu.push_back(static_cast<int32_t>(cu.back() + n));
  return cu;
}

/// The checks of one side's offsets `cu` (`name`) against its operand's
/// `tokens` rows: "" or what is wrong.
static std::string checkSide(const char *name, const std::vector<int32_t> &cu,
                             int64_t tokens) {
  if (cu[0] < 0)
    return std::string(name) + "[0] is negative (" + std::to_string(cu[0]) +
           ")";
  for (size_t b = 0; b + 1 < cu.size(); ++b)
    if (cu[b + 1] < cu[b])
      return std::string(name) + " decreases at " + std::to_string(b + 1) +
             " (" + std::to_string(cu[b]) + " then " +
             std::to_string(cu[b + 1]) + ")";
  if (cu.back() > tokens)
    return std::string(name) + " ends at " + std::to_string(cu.back()) +
           ", past the operand's " + std::to_string(tokens) + " rows";
  return "";
}

/// max_seqlen_q at least every query length of `cuQ` (checked offsets).
static std::string checkMaxSeqlenQ(const std::vector<int32_t> &cuQ,
                                   int64_t maxSeqlenQ) {
  for (size_t b = 0; b + 1 < cuQ.size(); ++b)
    if (cuQ[b + 1] - cuQ[b] > maxSeqlenQ)
      return "max_seqlen_q " + std::to_string(maxSeqlenQ) +
             " is below the length of query sequence " + std::to_string(b) +
             " (" + std::to_string(cuQ[b + 1] - cuQ[b]) + ")";
  return "";
}

std::string checkOffsets(const std::vector<int32_t> &cuQ,
                         const std::vector<int32_t> &cuK, int64_t tokensQ,
                         int64_t tokensK, int64_t maxSeqlenQ) {
  if (cuQ.size() < 2 || cuQ.size() != cuK.size())
    return "cu_seqlens_q and cu_seqlens_k need B + 1 offsets each (B >= 1), "
           "got " +
           std::to_string(cuQ.size()) + " and " + std::to_string(cuK.size());
  for (std::string error : {checkSide("cu_seqlens_q", cuQ, tokensQ),
                            checkSide("cu_seqlens_k", cuK, tokensK),
                            checkMaxSeqlenQ(cuQ, maxSeqlenQ)})
    if (!error.empty())
      return error;
  return "";
}

std::string checkQueryOffsets(const std::vector<int32_t> &cuQ, int64_t batch,
                              int64_t tokensQ, int64_t maxSeqlenQ) {
  if (cuQ.size() < 2 || static_cast<int64_t>(cuQ.size()) != batch + 1)
    return "cu_seqlens_q has " + std::to_string(cuQ.size()) +
           " offsets; expected B + 1 = " + std::to_string(batch + 1) +
           " (B >= 1)";
  if (std::string error = checkSide("cu_seqlens_q", cuQ, tokensQ);
      !error.empty())
    return error;
  return checkMaxSeqlenQ(cuQ, maxSeqlenQ);
}

VarlenProblem packQueries(const Problem &base, const std::vector<int32_t> &cuQ,
                          int64_t tokensQ,
                          const std::vector<int64_t> &keyLengths,
                          const Options &opt) {
  VarlenProblem vp;
  vp.base = base;
  vp.cuQ = cuQ;
  vp.tokensQ = tokensQ;
  int64_t Hq = base.Hq, D = base.D;
  // 0xffff is NaN in bf16 and f16: a kernel that reads the gaps fails.
  vp.q.assign(tokensQ * Hq * D, 0xffff);
  vp.seqs.resize(keyLengths.size());
  for (size_t b = 0; b < vp.seqs.size(); ++b) {
    VarlenSequence &s = vp.seqs[b];
    s.p = base;
    s.p.Nq = cuQ[b + 1] - cuQ[b];
    s.p.Nk = keyLengths[b];
    s.firstQ = cuQ[b];
    // bshd with B = 1: the sequence's rows as they lie in the packed tensor.
    s.in = makeInputs(s.p, opt.seed * 1000003 + b, opt.mode);
    std::copy(s.in.q.begin(), s.in.q.end(), vp.q.begin() + s.firstQ * Hq * D);
  }
  return vp;
}

VarlenProblem makeVarlenProblem(const Problem &base, const Options &opt) {
  int64_t gap = std::max<int64_t>(opt.gap, 0);
  std::vector<int32_t> cuQ = packOffsets(opt.seqlensQ, gap);
  VarlenProblem vp =
      packQueries(base, cuQ, cuQ.back() + gap, opt.seqlensK, opt);
  vp.cuK = packOffsets(opt.seqlensK, gap);
  vp.tokensK = vp.cuK.back() + gap;
  int64_t Hkv = base.Hkv, D = base.D;
  // NaN in the gaps, as in Q.
  vp.k.assign(vp.tokensK * Hkv * D, 0xffff);
  vp.v.assign(vp.tokensK * Hkv * D, 0xffff);
  for (size_t b = 0; b < vp.seqs.size(); ++b) {
    VarlenSequence &s = vp.seqs[b];
    s.firstK = vp.cuK[b];
    std::copy(s.in.k.begin(), s.in.k.end(), vp.k.begin() + s.firstK * Hkv * D);
    std::copy(s.in.v.begin(), s.in.v.end(), vp.v.begin() + s.firstK * Hkv * D);
  }
  return vp;
}

void initialOutputs(const VarlenProblem &vp, std::vector<uint16_t> &o,
                    std::vector<uint32_t> &lse) {
  int64_t Hq = vp.base.Hq, D = vp.base.D, T = vp.tokensQ;
  // 0xffff is NaN in bf16 and f16, 0xffffffff in f32.
  o.assign(T * Hq * D, 0xffff);
  lse.assign(vp.base.lse ? Hq * T : 0, 0xffffffffu);
  for (int64_t t = 0; t < T; ++t) {
    if (vp.inside(t))
      continue;
    std::fill_n(o.begin() + t * Hq * D, Hq * D, kVarlenSentinel16);
    for (int64_t h = 0; h < Hq && vp.base.lse; ++h)
      lse[h * T + t] = kVarlenSentinel32;
  }
}

SequenceInputs varlenInputs(const VarlenProblem &vp,
                            const std::vector<uint16_t> &k,
                            const std::vector<uint16_t> &v,
                            std::vector<const std::vector<int32_t> *> indices) {
  SequenceInputs in(vp.q, k, v);
  initialOutputs(vp, in.o, in.lse);
  in.indices = std::move(indices);
  int64_t Hq = vp.base.Hq, D = vp.base.D, lb = 0;
  for (size_t b = 0; b < vp.seqs.size(); ++b)
    if (vp.seqs[b].p.Nq > vp.seqs[lb].p.Nq)
      lb = b;
  int64_t n = vp.seqs[lb].p.Nq, row = vp.cuQ[lb] + n / 2;
  if (n > 0)
    in.perturbAt = (row * Hq + Hq / 2) * D + D / 2;
  return in;
}

void checkAsVarlen(SequenceRun &run, const VarlenProblem &vp,
                   const KernelMetadata &meta, const Options &opt,
                   ModEvaluator *mods, bool packedKeys) {
  run.outside = [&vp](const std::vector<uint16_t> &out,
                      const std::vector<float> &lse) {
    return countOutsideErrors(vp, out, lse);
  };
  run.small = [&] { return isSmallVarlen(vp, meta, opt); };
  run.gpuCheck = [&vp, &meta,
                  packedKeys](const DeviceOperands &d,
                              const std::vector<ModCapture> &captures,
                              CheckStats &stats) {
    checkVarlenOnGpu(vp, d[0], packedKeys ? d[1] : 0, packedKeys ? d[2] : 0,
                     d[3], d[4], meta, captures, stats);
  };
  run.cpuCheck = [&vp, &opt, mods](bool small, const std::vector<uint16_t> &out,
                                   const std::vector<float> &lse,
                                   CheckStats &stats) {
    checkVarlenOnCpu(vp, opt, mods, small, out, lse, stats);
  };
}

bool isSmallVarlen(const VarlenProblem &vp, const KernelMetadata &meta,
                   const Options &opt) {
  double perPair = pairCost(meta, vp.base.D);
  double cost = 0;
  int64_t totalRows = 0;
  for (const VarlenSequence &s : vp.seqs) {
    cost += double(vp.base.Hq) * s.p.Nq * double(s.p.Nk) * perPair;
    totalRows += vp.base.Hq * s.p.Nq;
  }
  return cost <= 2e9 || totalRows <= opt.checkRows;
}

int64_t countOutsideErrors(const VarlenProblem &vp,
                           const std::vector<uint16_t> &out,
                           const std::vector<float> &lse) {
  int64_t Hq = vp.base.Hq, D = vp.base.D, errors = 0;
  for (int64_t t = 0; t < vp.tokensQ; ++t) {
    if (vp.inside(t))
      continue;
    for (int64_t e = t * Hq * D; e < (t + 1) * Hq * D; ++e)
      errors += out[e] != kVarlenSentinel16;
    for (int64_t h = 0; h < Hq && vp.base.lse; ++h) {
      uint32_t bits;
      std::memcpy(&bits, &lse[h * vp.tokensQ + t], 4);
      errors += bits != kVarlenSentinel32;
    }
  }
  return errors;
}

std::vector<std::array<int64_t, 3>>
pickVarlenRows(const VarlenProblem &vp, const Options &opt, bool small) {
  int64_t Hq = vp.base.Hq, B = vp.seqs.size();
  std::vector<std::array<int64_t, 3>> rows;
  std::vector<int64_t> firstRow; // flat index of each sequence's row 0
  int64_t totalRows = 0;
  for (int64_t b = 0; b < B; ++b) {
    firstRow.push_back(totalRows);
    int64_t n = vp.seqs[b].p.Nq;
    totalRows += Hq * n;
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < n; ++i)
        if (small || ((i == 0 || i == n - 1) && (h == 0 || h == Hq - 1)))
          rows.push_back({b, h, i});
  }
  std::mt19937_64 pick(opt.seed ^ 0x9e3779b97f4a7c15ull);
  while (!small && totalRows > 0 &&
         static_cast<int64_t>(rows.size()) < opt.checkRows) {
    int64_t r = static_cast<int64_t>(pick() % totalRows);
    // The last sequence starting at or before r: a non-empty one.
    int64_t b = std::upper_bound(firstRow.begin(), firstRow.end(), r) -
                firstRow.begin() - 1;
    int64_t n = vp.seqs[b].p.Nq;
    rows.push_back({b, (r - firstRow[b]) / n, (r - firstRow[b]) % n});
  }
  return rows;
}

void checkVarlenOnCpu(const VarlenProblem &vp, const Options &opt,
                      ModEvaluator *mods, bool small,
                      const std::vector<uint16_t> &out,
                      const std::vector<float> &lse, CheckStats &stats) {
  const Problem &base = vp.base;
  int64_t Hq = base.Hq, D = base.D;
  // Every row of every sequence written: none NaN (the poison).
  for (int64_t t = vp.cuQ.front(); t < vp.cuQ.back(); ++t) {
    for (int64_t e = t * Hq * D; e < (t + 1) * Hq * D; ++e)
      stats.nanCount += std::isnan(base.load(out, e));
    for (int64_t h = 0; h < Hq && base.lse; ++h)
      stats.nanCount += std::isnan(lse[h * vp.tokensQ + t]);
  }
  for (const auto &[b, h, i] : pickVarlenRows(vp, opt, small)) {
    const VarlenSequence &s = vp.seqs[b];
    int64_t t = s.firstQ + i;
    // The regions see the sequence's index as the batch index.
    checkRow(base, evaluateRow(s.p, s.in, mods, 0, h, i, b), out,
             (t * Hq + h) * D, base.lse ? lse[h * vp.tokensQ + t] : 0.0, stats);
  }
}

void checkVarlenOnGpu(const VarlenProblem &vp, CUdeviceptr q, CUdeviceptr k,
                      CUdeviceptr v, CUdeviceptr o, CUdeviceptr lse,
                      const KernelMetadata &meta,
                      const std::vector<ModCapture> &captures,
                      CheckStats &stats) {
  int64_t Hq = vp.base.Hq, Hkv = vp.base.Hkv, D = vp.base.D;
  for (const VarlenSequence &s : vp.seqs) {
    if (s.p.Nq == 0)
      continue;
    int64_t n = s.p.Nq;
    DeviceBuffer lseRows(vp.base.lse ? Hq * n * 4 : 0);
    for (int64_t h = 0; h < Hq && vp.base.lse; ++h)
      check(cuda.cuMemcpyDtoD_v2(lseRows.ptr + h * n * 4,
                                 lse + (h * vp.tokensQ + s.firstQ) * 4, n * 4),
            "cuMemcpyDtoD");
    // Without packed keys: the sequence's own (a paged cache's, gathered).
    std::unique_ptr<DeviceBuffer> ownK, ownV;
    if (!k) {
      ownK = std::make_unique<DeviceBuffer>(s.in.k.data(), s.in.k.size() * 2);
      ownV = std::make_unique<DeviceBuffer>(s.in.v.data(), s.in.v.size() * 2);
    }
    checkOnGpu(s.p, q + s.firstQ * Hq * D * 2,
               k ? k + s.firstK * Hkv * D * 2 : ownK->ptr,
               v ? v + s.firstK * Hkv * D * 2 : ownV->ptr,
               o + s.firstQ * Hq * D * 2, vp.base.lse ? lseRows.ptr : 0,
               meta.scoreMod.get(), meta.maskMod.get(), captures, stats);
  }
}

} // namespace fa_runner
