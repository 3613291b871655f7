//===- reference.cu - fa-runner's GPU reference for large shapes ---------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// A plain attention reference that shares no code (and no method) with the
// compiled kernels: one warp per query row, three passes over the keys
// (max, sum with P V, then the low-precision baseline), every score
// recomputed from Q and K in fp64. It checks the kernel's output in place
// and writes, per row:
//
//   err[row]  = max_d |out - ref|            (ref: exact, fp64)
//   base[row] = max_d |baseline - ref|       (baseline: the way a plain
//               low-precision implementation rounds, as fa-runner's CPU
//               baselineRow)
//   lse[row]  = |lse_out - lse_ref| / (1e-3 + 1e-4 |lse_ref|), +inf when a
//               fully masked row's LSE is not -inf
//   bad[row]  = 1 when an output element of the row is NaN, | 2 when a
//               fully masked row's output is not all zero
//
// fa-runner builds this file with nvcc into a fatbin embedded in the
// executable (no CUDA runtime is linked; the driver API loads it) and uses
// it where the fp64 CPU reference would be too slow to check every row.
//
// Programmable attention (docs/ProgrammableAttention.md) has its own entry
// points, fa_reference_mods_{bf16,f16}, so the plain ones stay as they
// were. They take the kernel's score_mod / mask_mod as flat programs
// (ModProgram.h: instruction and operand arrays, captures as device
// pointers with element type, sizes and strides) and run them with the
// interpreter of ModProgram.h in fp64, the same code the CPU reference runs.
// Keys go 32 at a time: the warp computes the 32 raw scores (one dot
// product per key, across lanes), then each lane runs the programs for one
// key, and the per-key results are broadcast for P V. A region that reads a
// capture out of bounds (or divides by zero, or gives +inf/NaN at a kept
// pair) records the first such event in `mods.error` and the row's key is
// dropped; fa-runner reports it and exits 2.
//
//===----------------------------------------------------------------------===//

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <math_constants.h>

#include "ModProgram.h"

using fa_runner::ModError;
using fa_runner::ModKernelArgs;

namespace {

struct Strides {
  long long b, h, s; // element strides of [B, H, S, D] (innermost is 1)
};

template <bool BF16> __device__ float load(const unsigned short *p,
                                           long long i) {
  unsigned short bits = p[i];
  if (BF16)
    return __bfloat162float(*reinterpret_cast<const __nv_bfloat16 *>(&bits));
  return __half2float(*reinterpret_cast<const __half *>(&bits));
}

template <bool BF16> __device__ float roundTrip(float x) {
  if (BF16)
    return __bfloat162float(__float2bfloat16_rn(x));
  return __half2float(__float2half_rn(x));
}

__device__ double warpSum(double x) {
  for (int offset = 16; offset > 0; offset /= 2)
    x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}
__device__ float warpSum(float x) {
  for (int offset = 16; offset > 0; offset /= 2)
    x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}
__device__ double warpMax(double x) {
  for (int offset = 16; offset > 0; offset /= 2)
    x = fmax(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}
__device__ float warpMax(float x) {
  for (int offset = 16; offset > 0; offset /= 2)
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}

constexpr int kMaxDimsPerLane = 8; // D <= 256

template <bool BF16>
__device__ void referenceRows(const unsigned short *q, const unsigned short *k,
                              const unsigned short *v, const unsigned short *o,
                              const float *lseOut, Strides qs, Strides ks,
                              Strides os, long long B, long long Hq,
                              long long Hkv, long long Nq, long long Nk,
                              int D, double scale, int causal, double *err,
                              double *base, double *lseErr, int *bad) {
  long long rows = B * Hq * Nq;
  long long row =
      (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows)
    return;
  long long i = row % Nq, h = (row / Nq) % Hq, b = row / (Nq * Hq);
  long long kvh = h / (Hq / Hkv);
  long long end = Nk;
  if (causal) {
    long long shift = causal == 1 ? 0 : Nk - Nq;
    end = i + shift + 1;
    end = end < 0 ? 0 : (end > Nk ? Nk : end);
  }
  int dims = (D + 31) / 32;
  const unsigned short *qRow = q + b * qs.b + h * qs.h + i * qs.s;
  const unsigned short *kBase = k + b * ks.b + kvh * ks.h;
  const unsigned short *vBase = v + b * ks.b + kvh * ks.h;
  float qv[kMaxDimsPerLane];
  for (int t = 0; t < dims; ++t) {
    int d = lane + 32 * t;
    qv[t] = d < D ? load<BF16>(qRow, d) : 0.0f;
  }
  // Score j in fp64 (exact) and as the low-precision baseline rounds it.
  auto score = [&](long long j, float &rounded) {
    double dot = 0;
    float dotF = 0;
    for (int t = 0; t < dims; ++t) {
      int d = lane + 32 * t;
      float kd = d < D ? load<BF16>(kBase + j * ks.s, d) : 0.0f;
      dot += double(qv[t]) * double(kd);
      dotF += qv[t] * kd;
    }
    dotF = warpSum(dotF);
    rounded = roundTrip<BF16>(roundTrip<BF16>(dotF) * static_cast<float>(scale));
    return warpSum(dot) * scale;
  };

  double m = -CUDART_INF, l = 0;
  float mB = -CUDART_INF_F, lB = 0;
  for (long long j = 0; j < end; ++j) {
    float sB;
    m = fmax(m, score(j, sB));
    mB = fmaxf(mB, sB);
  }
  double acc[kMaxDimsPerLane] = {};
  for (long long j = 0; j < end; ++j) {
    float sB;
    double e = exp(score(j, sB) - m);
    l += e;
    lB += expf(sB - mB);
    for (int t = 0; t < dims; ++t) {
      int d = lane + 32 * t;
      if (d < D)
        acc[t] += e * double(load<BF16>(vBase + j * ks.s, d));
    }
  }
  float accB[kMaxDimsPerLane] = {};
  for (long long j = 0; j < end; ++j) {
    float sB;
    score(j, sB);
    float p = roundTrip<BF16>(expf(sB - mB) / lB);
    for (int t = 0; t < dims; ++t) {
      int d = lane + 32 * t;
      if (d < D)
        accB[t] += p * load<BF16>(vBase + j * ks.s, d);
    }
  }

  const unsigned short *oRow = o + b * os.b + h * os.h + i * os.s;
  double rowErr = 0, rowBase = 0;
  int rowBad = 0;
  for (int t = 0; t < dims; ++t) {
    int d = lane + 32 * t;
    if (d >= D)
      continue;
    double got = load<BF16>(oRow, d);
    double ref = end ? acc[t] / l : 0.0;
    double baseline = end ? roundTrip<BF16>(accB[t]) : 0.0;
    if (isnan(got))
      rowBad |= 1;
    else if (end == 0 && got != 0.0)
      rowBad |= 2;
    rowErr = fmax(rowErr, fabs(got - ref));
    rowBase = fmax(rowBase, fabs(baseline - ref));
  }
  rowErr = warpMax(rowErr);
  rowBase = warpMax(rowBase);
  rowBad = __reduce_or_sync(0xffffffffu, static_cast<unsigned>(rowBad));
  if (lane != 0)
    return;
  err[row] = rowErr;
  base[row] = rowBase;
  bad[row] = rowBad;
  if (lseOut) {
    double got = lseOut[row];
    double ref = end ? m + log(l) : -CUDART_INF;
    double over;
    if (end == 0)
      over = isinf(got) && got < 0 ? 0.0 : CUDART_INF;
    else
      over = fabs(got - ref) / (1e-3 + 1e-4 * fabs(ref));
    if (isnan(got))
      over = CUDART_INF;
    lseErr[row] = over;
  } else {
    lseErr[row] = 0;
  }
}

/// Keeps the first error of the whole grid (the one fa-runner reports).
__device__ void reportError(ModError *out, const ModError &e) {
  if (atomicCAS(reinterpret_cast<int *>(&out->status), 0, e.status) != 0)
    return;
  out->inst = e.inst;
  out->capture = e.capture;
  out->rank = e.rank;
  for (int d = 0; d < fa_runner::kModMaxRank; ++d)
    out->index[d] = e.index[d];
  out->region = e.region;
  out->b = e.b, out->h = e.h, out->i = e.i, out->j = e.j;
  out->score = e.score;
  out->modified = e.modified;
  __threadfence();
}

/// referenceRows with score_mod / mask_mod: the same three passes (max,
/// sum with P V, baseline) over the keys the causal mask and mask_mod keep,
/// on modified scores. A row with nothing kept (or only -inf scores) is
/// empty: zeros and an LSE of -inf.
template <bool BF16>
__device__ void referenceRowsMods(
    const unsigned short *q, const unsigned short *k, const unsigned short *v,
    const unsigned short *o, const float *lseOut, Strides qs, Strides ks,
    Strides os, long long B, long long Hq, long long Hkv, long long Nq,
    long long Nk, int D, double scale, int causal, double *err, double *base,
    double *lseErr, int *bad, const ModKernelArgs &mods) {
  using namespace fa_runner;
  long long rows = B * Hq * Nq;
  long long row =
      (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows)
    return;
  long long i = row % Nq, h = (row / Nq) % Hq, b = row / (Nq * Hq);
  long long kvh = h / (Hq / Hkv);
  long long end = Nk;
  if (causal) {
    long long shift = causal == 1 ? 0 : Nk - Nq;
    end = i + shift + 1;
    end = end < 0 ? 0 : (end > Nk ? Nk : end);
  }
  int dims = (D + 31) / 32;
  const unsigned short *qRow = q + b * qs.b + h * qs.h + i * qs.s;
  const unsigned short *kBase = k + b * ks.b + kvh * ks.h;
  const unsigned short *vBase = v + b * ks.b + kvh * ks.h;
  float qv[kMaxDimsPerLane];
  for (int t = 0; t < dims; ++t) {
    int d = lane + 32 * t;
    qv[t] = d < D ? load<BF16>(qRow, d) : 0.0f;
  }
  auto score = [&](long long j, float &rounded) {
    double dot = 0;
    float dotF = 0;
    for (int t = 0; t < dims; ++t) {
      int d = lane + 32 * t;
      float kd = d < D ? load<BF16>(kBase + j * ks.s, d) : 0.0f;
      dot += double(qv[t]) * double(kd);
      dotF += qv[t] * kd;
    }
    dotF = warpSum(dotF);
    rounded =
        roundTrip<BF16>(roundTrip<BF16>(dotF) * static_cast<float>(scale));
    return warpSum(dot) * scale;
  };

  uint64_t vals[kModMaxGpuValues];
  ModError error = {};
  error.b = b, error.h = h, error.i = i;
  // Runs `region` on vals (arguments already set), or records its error.
  auto run = [&](const ModRegionRef &region, int first, int which) -> int {
    for (int c = 0; c < mods.numCaptures; ++c)
      vals[first + c] = c;
    int r = modRun(region.insts, region.numInsts, region.operands, vals,
                   mods.captures, &error);
    if (r < 0) {
      error.region = which;
      reportError(mods.error, error);
    }
    return r;
  };
  // mask_mod and score_mod of key j: false when the pair is not kept.
  auto modify = [&](long long j, double &s, float &sB) -> bool {
    error.j = j;
    long long index[4] = {b, h, i, j};
    if (mods.mask.numInsts) {
      for (int a = 0; a < 4; ++a)
        vals[a] = static_cast<uint64_t>(index[a]);
      int r = run(mods.mask, 4, 1);
      if (r < 0 || !(vals[r] & 1))
        return false;
    }
    if (mods.score.numInsts) {
      for (int a = 0; a < 4; ++a)
        vals[1 + a] = static_cast<uint64_t>(index[a]);
      vals[0] = modBits(s);
      error.score = s;
      int r = run(mods.score, 5, 0);
      if (r < 0)
        return false;
      double modified = modAsDouble(vals[r]);
      if (isnan(modified) || modified == CUDART_INF) {
        error.status = kModUndefined;
        error.inst = -1;
        error.region = 0;
        error.modified = modified;
        reportError(mods.error, error);
        return false;
      }
      s = modified;
      for (int a = 0; a < 4; ++a)
        vals[1 + a] = static_cast<uint64_t>(index[a]);
      vals[0] = modBits(static_cast<double>(sB));
      error.score = sB;
      r = run(mods.score, 5, 0);
      if (r < 0)
        return false;
      sB = roundTrip<BF16>(static_cast<float>(modAsDouble(vals[r])));
    }
    return true;
  };
  // Keys j0 .. j0 + 31: the warp computes their raw scores, then lane t
  // keeps key j0 + t's and runs the programs on it.
  auto chunk = [&](long long j0, double &s, float &sB) -> bool {
    int n = end - j0 < 32 ? static_cast<int>(end - j0) : 32;
    s = 0, sB = 0;
    for (int t = 0; t < n; ++t) {
      float rounded;
      double exact = score(j0 + t, rounded);
      if (lane == t)
        s = exact, sB = rounded;
    }
    return lane < n && modify(j0 + lane, s, sB);
  };

  double m = -CUDART_INF;
  float mB = -CUDART_INF_F;
  for (long long j0 = 0; j0 < end; j0 += 32) {
    double s;
    float sB;
    if (chunk(j0, s, sB)) {
      m = fmax(m, s);
      mB = fmaxf(mB, sB);
    }
  }
  m = warpMax(m);
  mB = warpMax(mB);
  bool empty = m == -CUDART_INF, emptyB = mB == -CUDART_INF_F;

  double l = 0, acc[kMaxDimsPerLane] = {};
  float lB = 0;
  for (long long j0 = 0; !empty && j0 < end; j0 += 32) {
    double s;
    float sB;
    bool kept = chunk(j0, s, sB);
    double e = kept ? exp(s - m) : 0.0;
    l += e;
    lB += kept && !emptyB ? expf(sB - mB) : 0.0f;
    int n = end - j0 < 32 ? static_cast<int>(end - j0) : 32;
    for (int t = 0; t < n; ++t) {
      double et = __shfl_sync(0xffffffffu, e, t);
      if (et == 0) // uniform: et is the same in every lane
        continue;
      for (int u = 0; u < dims; ++u) {
        int d = lane + 32 * u;
        if (d < D)
          acc[u] += et * double(load<BF16>(vBase + (j0 + t) * ks.s, d));
      }
    }
  }
  l = warpSum(l);
  lB = warpSum(lB);

  float accB[kMaxDimsPerLane] = {};
  for (long long j0 = 0; !emptyB && j0 < end; j0 += 32) {
    double s;
    float sB;
    bool kept = chunk(j0, s, sB);
    float p = kept ? roundTrip<BF16>(expf(sB - mB) / lB) : 0.0f;
    int n = end - j0 < 32 ? static_cast<int>(end - j0) : 32;
    for (int t = 0; t < n; ++t) {
      float pt = __shfl_sync(0xffffffffu, p, t);
      if (pt == 0)
        continue;
      for (int u = 0; u < dims; ++u) {
        int d = lane + 32 * u;
        if (d < D)
          accB[u] += pt * load<BF16>(vBase + (j0 + t) * ks.s, d);
      }
    }
  }

  const unsigned short *oRow = o + b * os.b + h * os.h + i * os.s;
  double rowErr = 0, rowBase = 0;
  int rowBad = 0;
  for (int t = 0; t < dims; ++t) {
    int d = lane + 32 * t;
    if (d >= D)
      continue;
    double got = load<BF16>(oRow, d);
    double ref = empty ? 0.0 : acc[t] / l;
    double baseline = emptyB ? 0.0 : roundTrip<BF16>(accB[t]);
    if (isnan(got))
      rowBad |= 1;
    else if (empty && got != 0.0)
      rowBad |= 2;
    rowErr = fmax(rowErr, fabs(got - ref));
    rowBase = fmax(rowBase, fabs(baseline - ref));
  }
  rowErr = warpMax(rowErr);
  rowBase = warpMax(rowBase);
  rowBad = __reduce_or_sync(0xffffffffu, static_cast<unsigned>(rowBad));
  if (lane != 0)
    return;
  err[row] = rowErr;
  base[row] = rowBase;
  bad[row] = rowBad;
  if (lseOut) {
    double got = lseOut[row];
    double ref = empty ? -CUDART_INF : m + log(l);
    double over;
    if (empty)
      over = isinf(got) && got < 0 ? 0.0 : CUDART_INF;
    else
      over = fabs(got - ref) / (1e-3 + 1e-4 * fabs(ref));
    if (isnan(got))
      over = CUDART_INF;
    lseErr[row] = over;
  } else {
    lseErr[row] = 0;
  }
}

} // namespace

#define FA_REFERENCE_ENTRY(NAME, BF16)                                         \
  extern "C" __global__ void NAME(                                             \
      const unsigned short *q, const unsigned short *k,                        \
      const unsigned short *v, const unsigned short *o, const float *lseOut,   \
      Strides qs, Strides ks, Strides os, long long B, long long Hq,           \
      long long Hkv, long long Nq, long long Nk, int D, double scale,          \
      int causal, double *err, double *base, double *lseErr, int *bad) {       \
    referenceRows<BF16>(q, k, v, o, lseOut, qs, ks, os, B, Hq, Hkv, Nq, Nk, D, \
                        scale, causal, err, base, lseErr, bad);                \
  }

FA_REFERENCE_ENTRY(fa_reference_bf16, true)
FA_REFERENCE_ENTRY(fa_reference_f16, false)

#define FA_REFERENCE_MODS_ENTRY(NAME, BF16)                                    \
  extern "C" __global__ void NAME(                                             \
      const unsigned short *q, const unsigned short *k,                        \
      const unsigned short *v, const unsigned short *o, const float *lseOut,   \
      Strides qs, Strides ks, Strides os, long long B, long long Hq,           \
      long long Hkv, long long Nq, long long Nk, int D, double scale,          \
      int causal, double *err, double *base, double *lseErr, int *bad,         \
      ModKernelArgs mods) {                                                    \
    referenceRowsMods<BF16>(q, k, v, o, lseOut, qs, ks, os, B, Hq, Hkv, Nq,    \
                            Nk, D, scale, causal, err, base, lseErr, bad,      \
                            mods);                                             \
  }

FA_REFERENCE_MODS_ENTRY(fa_reference_mods_bf16, true)
FA_REFERENCE_MODS_ENTRY(fa_reference_mods_f16, false)
