//===- Driver.cpp - The CUDA driver API, loaded at run time ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"
#include "Support.h"

#include <algorithm>
#include <dlfcn.h>
#include <string>

namespace fa_runner {

Driver cuda;

void Driver::load() {
  handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    die(kNoGpu, "no CUDA driver (libcuda.so.1 not loadable): this machine "
                "cannot run GPU kernels");
#define FA_LOAD(name, type)                                                    \
  name = reinterpret_cast<std::add_pointer_t<type>>(dlsym(handle, #name));     \
  if (!name)                                                                   \
    die(kNoGpu, "the CUDA driver lacks " #name);
  FA_CUDA_FUNCTIONS(FA_LOAD)
#undef FA_LOAD
#define FA_LOAD_OPTIONAL(name, type)                                           \
  name = reinterpret_cast<std::add_pointer_t<type>>(dlsym(handle, #name));
  FA_CUDA_OPTIONAL_FUNCTIONS(FA_LOAD_OPTIONAL)
#undef FA_LOAD_OPTIONAL
}

void check(CUresult result, const char *what) {
  if (result == 0)
    return;
  const char *message = "unknown error";
  if (cuda.cuGetErrorString)
    cuda.cuGetErrorString(result, &message);
  die(kCudaError, std::string(what) + " failed: " + message + " (" +
                      std::to_string(result) + ")");
}

DeviceBuffer::DeviceBuffer(size_t n) : bytes(n) {
  check(cuda.cuMemAlloc_v2(&ptr, std::max<size_t>(n, 16)), "cuMemAlloc");
}

DeviceBuffer::DeviceBuffer(const void *data, size_t n) : DeviceBuffer(n) {
  if (n)
    check(cuda.cuMemcpyHtoD_v2(ptr, data, n), "cuMemcpyHtoD");
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr)
    cuda.cuMemFree_v2(ptr);
}

} // namespace fa_runner
