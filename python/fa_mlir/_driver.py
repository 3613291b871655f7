"""The CUDA driver API through ctypes: load kernels, launch on a stream.

Used by fa_mlir.torch on the context torch already made current; nothing
here links CUDA at build time.
"""

import ctypes
import threading

from ._capi import FAError

_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
_lock = threading.Lock()
_cuda = None


def cuda():
    global _cuda
    with _lock:
        if _cuda is None:
            try:
                l = ctypes.CDLL("libcuda.so.1")
            except OSError:
                raise FAError("no CUDA driver (libcuda.so.1 not loadable): "
                              "fa_mlir kernels need an NVIDIA GPU") from None
            p, i, u, s = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint,
                          ctypes.c_size_t)
            for name, args in {
                    "cuInit": [u],
                    "cuCtxGetCurrent": [ctypes.POINTER(p)],
                    "cuModuleLoadData": [ctypes.POINTER(p), p],
                    "cuModuleGetFunction": [ctypes.POINTER(p), p,
                                            ctypes.c_char_p],
                    "cuFuncSetAttribute": [p, i, i],
                    "cuLaunchKernel": [p, u, u, u, u, u, u, u, p,
                                       ctypes.POINTER(p), p],
                    "cuGetErrorString": [i, ctypes.POINTER(ctypes.c_char_p)],
            }.items():
                fn = getattr(l, name)
                fn.restype, fn.argtypes = i, args
            check(l, l.cuInit(0), "cuInit")
            _cuda = l
        return _cuda


def check(l, result, what):
    if result != 0:
        text = ctypes.c_char_p()
        l.cuGetErrorString(result, ctypes.byref(text))
        raise FAError(f"{what} failed: CUDA error {result} "
                      f"({(text.value or b'?').decode()})")


class LoadedKernel:
    """A kernel loaded into the current context, ready to launch."""

    def __init__(self, compiled):
        l = cuda()
        ctx = ctypes.c_void_p()
        check(l, l.cuCtxGetCurrent(ctypes.byref(ctx)), "cuCtxGetCurrent")
        if not ctx.value:
            raise FAError("no current CUDA context (initialize CUDA, e.g. "
                          "with torch.cuda.init(), first)")
        image = compiled.cubin or compiled.ptx.encode() + b"\0"
        self._image = ctypes.create_string_buffer(image, len(image))
        self.module = ctypes.c_void_p()
        check(l, l.cuModuleLoadData(ctypes.byref(self.module), self._image),
              f"loading {compiled.name}")
        self.function = ctypes.c_void_p()
        check(l, l.cuModuleGetFunction(ctypes.byref(self.function),
                                       self.module, compiled.name.encode()),
              "cuModuleGetFunction")
        self.shared = compiled.metadata["dynamic_shared_memory"]
        self.threads = compiled.metadata["block"][0]
        check(l, l.cuFuncSetAttribute(
            self.function, _CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            self.shared), "cuFuncSetAttribute (dynamic shared memory)")

    def launch(self, grid, args, stream):
        """args: flat list of int64 (expanded memref descriptors)."""
        l = cuda()
        values = (ctypes.c_int64 * len(args))(*args)
        params = (ctypes.c_void_p * len(args))(*[
            ctypes.addressof(values) + 8 * i for i in range(len(args))])
        check(l, l.cuLaunchKernel(self.function, grid[0], grid[1], grid[2],
                                  self.threads, 1, 1, self.shared,
                                  ctypes.c_void_p(stream), params, None),
              "cuLaunchKernel")
