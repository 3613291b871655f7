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
//===----------------------------------------------------------------------===//

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <math_constants.h>

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
