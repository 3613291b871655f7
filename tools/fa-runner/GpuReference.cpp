//===- GpuReference.cpp - Running reference.cu over a kernel's output -----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "GpuReference.h"
#include "Support.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#ifdef FA_RUNNER_GPU_REFERENCE
#include "reference_fatbin.h" // fa_reference_fatbin: reference.cu, by nvcc
#endif

namespace fa_runner {

bool haveGpuReference() {
#ifdef FA_RUNNER_GPU_REFERENCE
  return true;
#else
  return false;
#endif
}

bool gpuReferenceFits(const ModRegion *score, const ModRegion *mask,
                      std::string &why) {
  for (const ModRegion *r : {score, mask})
    if (r && r->numValues > kModMaxGpuValues) {
      why = r->name + " has " + std::to_string(r->numValues) +
            " values; the GPU reference holds at most " +
            std::to_string(kModMaxGpuValues);
      return false;
    }
  return true;
}

#ifdef FA_RUNNER_GPU_REFERENCE
namespace {
/// A region's flat program on the device.
struct DeviceRegion {
  std::unique_ptr<DeviceBuffer> insts, operands;
  ModRegionRef ref{nullptr, nullptr, 0, 0};
  explicit DeviceRegion(const ModRegion *r) {
    if (!r)
      return;
    insts = std::make_unique<DeviceBuffer>(r->insts.data(),
                                           r->insts.size() * sizeof(ModInst));
    operands = std::make_unique<DeviceBuffer>(
        r->operands.data(), r->operands.size() * sizeof(int32_t));
    ref.insts = reinterpret_cast<const ModInst *>(insts->ptr);
    ref.operands = reinterpret_cast<const int32_t *>(operands->ptr);
    ref.numInsts = static_cast<int32_t>(r->insts.size());
    ref.numArgs = r->numArgs;
  }
};
} // namespace
#endif

void checkOnGpu(const Problem &p, CUdeviceptr q, CUdeviceptr k, CUdeviceptr v,
                CUdeviceptr o, CUdeviceptr lse, const ModRegion *score,
                const ModRegion *mask, const std::vector<ModCapture> &captures,
                CheckStats &stats) {
#ifdef FA_RUNNER_GPU_REFERENCE
  // The driver wants the fatbin 8-byte aligned; bin2c's array is bytes.
  std::vector<uint64_t> image((sizeof(fa_reference_fatbin) + 7) / 8);
  std::memcpy(image.data(), fa_reference_fatbin, sizeof(fa_reference_fatbin));
  CUmodule module;
  check(cuda.cuModuleLoadData(&module, image.data()),
        "cuModuleLoadData (GPU reference)");
  bool mods = score || mask;
  const char *name =
      mods ? (p.bf16 ? "fa_reference_mods_bf16" : "fa_reference_mods_f16")
           : (p.bf16 ? "fa_reference_bf16" : "fa_reference_f16");
  CUfunction function;
  check(cuda.cuModuleGetFunction(&function, module, name),
        "cuModuleGetFunction (GPU reference)");
  int64_t rows = p.B * p.Hq * p.Nq;
  DeviceBuffer err(rows * 8), base(rows * 8), lseErr(rows * 8), bad(rows * 4);
  struct Strides {
    long long b, h, s;
  };
  auto strides = [&](int64_t H, int64_t N) {
    std::vector<int64_t> st = p.strides(H, N);
    return Strides{st[0], st[1], st[2]};
  };
  Strides qs = strides(p.Hq, p.Nq), ks = strides(p.Hkv, p.Nk), os = qs;
  long long B = p.B, Hq = p.Hq, Hkv = p.Hkv, Nq = p.Nq, Nk = p.Nk;
  int D = static_cast<int>(p.D), causal = p.causal;
  double scale = p.scale;

  // Modified attention: programs, capture descriptors, the error record.
  DeviceRegion scoreRegion(score), maskRegion(mask);
  DeviceBuffer captureTable(captures.data(),
                            captures.size() * sizeof(ModCapture));
  DeviceBuffer errorRecord(sizeof(ModError));
  check(cuda.cuMemsetD8_v2(errorRecord.ptr, 0, sizeof(ModError)), "cuMemsetD8");
  ModKernelArgs modArgs{};
  modArgs.score = scoreRegion.ref;
  modArgs.mask = maskRegion.ref;
  modArgs.captures = reinterpret_cast<const ModCapture *>(captureTable.ptr);
  modArgs.numCaptures = static_cast<int32_t>(captures.size());
  modArgs.error = reinterpret_cast<ModError *>(errorRecord.ptr);

  std::vector<void *> params = {
      &q,     &k,      &v,       &o,        &lse,        &qs,     &ks,
      &os,    &B,      &Hq,      &Hkv,      &Nq,         &Nk,     &D,
      &scale, &causal, &err.ptr, &base.ptr, &lseErr.ptr, &bad.ptr};
  if (mods)
    params.push_back(&modArgs);
  constexpr unsigned kThreads = 256;
  unsigned blocks =
      static_cast<unsigned>((rows * 32 + kThreads - 1) / kThreads);
  check(cuda.cuLaunchKernel(function, blocks, 1, 1, kThreads, 1, 1, 0, nullptr,
                            params.data(), nullptr),
        "cuLaunchKernel (GPU reference)");
  check(cuda.cuCtxSynchronize(), "GPU reference execution");
  if (mods) {
    ModError error;
    check(cuda.cuMemcpyDtoH_v2(&error, errorRecord.ptr, sizeof(ModError)),
          "cuMemcpyDtoH");
    if (error.status != kModOk)
      die(kUsage,
          describeModError(error, error.region ? *mask : *score, captures));
  }
  std::vector<double> e(rows), b(rows), l(rows);
  std::vector<int32_t> flags(rows);
  check(cuda.cuMemcpyDtoH_v2(e.data(), err.ptr, rows * 8), "cuMemcpyDtoH");
  check(cuda.cuMemcpyDtoH_v2(b.data(), base.ptr, rows * 8), "cuMemcpyDtoH");
  check(cuda.cuMemcpyDtoH_v2(l.data(), lseErr.ptr, rows * 8), "cuMemcpyDtoH");
  check(cuda.cuMemcpyDtoH_v2(flags.data(), bad.ptr, rows * 4), "cuMemcpyDtoH");
  for (int64_t r = 0; r < rows; ++r) {
    // NaN compares false: count it instead of letting max() drop it.
    if (std::isnan(e[r]))
      ++stats.nanCount;
    else
      stats.maxErr = std::max(stats.maxErr, e[r]);
    stats.maxBase = std::max(stats.maxBase, b[r]);
    stats.maxLseErr = std::max(
        stats.maxLseErr,
        std::isnan(l[r]) ? std::numeric_limits<double>::infinity() : l[r]);
    stats.nanCount += flags[r] & 1;
    stats.maskedRowErrors += (flags[r] >> 1) & 1;
  }
  stats.checkedRows += rows;
#else
  (void)p, (void)q, (void)k, (void)v, (void)o, (void)lse, (void)score,
      (void)mask, (void)captures, (void)stats;
  die(kUsage, "this fa-runner has no GPU reference (built without nvcc)");
#endif
}

} // namespace fa_runner
