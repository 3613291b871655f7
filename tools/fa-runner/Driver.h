//===- Driver.h - The CUDA driver API, loaded at run time -----------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa-runner dlopens libcuda.so.1 instead of linking CUDA, so it builds (and
// its CPU-only modes run) on machines without a GPU or a toolkit. Every call
// is checked; a failure exits 4 (3 when there is no driver or device).
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_DRIVER_H
#define FA_RUNNER_DRIVER_H

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace fa_runner {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

constexpr int kAttrMultiprocessors = 16;
constexpr int kAttrComputeMajor = 75;
constexpr int kAttrComputeMinor = 76;
constexpr int kAttrL2Size = 38;
constexpr int kAttrMaxSharedOptin = 97;
constexpr int kFuncAttrMaxDynamicShared = 8;

/// What cuTensorMapEncodeTiled writes: 128 opaque bytes, 64-byte aligned
/// (a TMA kernel takes it by value as `.param .align 64 .b8 name[128]`).
struct alignas(64) CUtensorMap {
  unsigned long long opaque[16];
};
static_assert(sizeof(CUtensorMap) == 128, "a CUtensorMap is 128 bytes");

struct Driver {
  void *handle = nullptr;
#define FA_CUDA_FUNCTIONS(X)                                                   \
  X(cuInit, CUresult(unsigned))                                                \
  X(cuDeviceGetCount, CUresult(int *))                                         \
  X(cuDeviceGet, CUresult(CUdevice *, int))                                    \
  X(cuDeviceGetName, CUresult(char *, int, CUdevice))                          \
  X(cuDeviceGetAttribute, CUresult(int *, int, CUdevice))                      \
  X(cuDevicePrimaryCtxRetain, CUresult(CUcontext *, CUdevice))                 \
  X(cuCtxSetCurrent, CUresult(CUcontext))                                      \
  X(cuCtxSynchronize, CUresult())                                              \
  X(cuModuleLoadData, CUresult(CUmodule *, const void *))                      \
  X(cuModuleGetFunction, CUresult(CUfunction *, CUmodule, const char *))       \
  X(cuFuncSetAttribute, CUresult(CUfunction, int, int))                        \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor,                               \
    CUresult(int *, CUfunction, int, size_t))                                  \
  X(cuMemAlloc_v2, CUresult(CUdeviceptr *, size_t))                            \
  X(cuMemFree_v2, CUresult(CUdeviceptr))                                       \
  X(cuMemGetInfo_v2, CUresult(size_t *, size_t *))                             \
  X(cuMemcpyHtoD_v2, CUresult(CUdeviceptr, const void *, size_t))              \
  X(cuMemcpyDtoH_v2, CUresult(void *, CUdeviceptr, size_t))                    \
  X(cuMemcpyDtoD_v2, CUresult(CUdeviceptr, CUdeviceptr, size_t))               \
  X(cuMemsetD8_v2, CUresult(CUdeviceptr, unsigned char, size_t))               \
  X(cuLaunchKernel,                                                            \
    CUresult(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,     \
             unsigned, unsigned, CUstream, void **, void **))                  \
  X(cuEventCreate, CUresult(CUevent *, unsigned))                              \
  X(cuEventRecord, CUresult(CUevent, CUstream))                                \
  X(cuEventSynchronize, CUresult(CUevent))                                     \
  X(cuEventElapsedTime, CUresult(float *, CUevent, CUevent))                   \
  X(cuGetErrorString, CUresult(CUresult, const char **))
  // Functions only some kernels need, absent from older drivers: null when
  // missing (their users say so). The enum arguments are C enums (int).
#define FA_CUDA_OPTIONAL_FUNCTIONS(X)                                          \
  X(cuTensorMapEncodeTiled,                                                    \
    CUresult(CUtensorMap *, int, unsigned, void *, const uint64_t *,           \
             const uint64_t *, const uint32_t *, const uint32_t *, int, int,   \
             int, int))
#define FA_DECLARE(name, type) std::add_pointer_t<type> name = nullptr;
  FA_CUDA_FUNCTIONS(FA_DECLARE)
  FA_CUDA_OPTIONAL_FUNCTIONS(FA_DECLARE)
#undef FA_DECLARE

  /// dlopens the driver; dies with exit 3 when there is none (or it lacks
  /// one of FA_CUDA_FUNCTIONS).
  void load();
};

extern Driver cuda;

/// Dies with exit 4 and the driver's message when `result` is an error.
void check(CUresult result, const char *what);

/// Device memory, freed on destruction; `bytes` may be 0.
struct DeviceBuffer {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n);
  /// Allocates and copies `n` bytes from the host.
  DeviceBuffer(const void *data, size_t n);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
};

} // namespace fa_runner

#endif // FA_RUNNER_DRIVER_H
