"""The CUDA driver API through ctypes: load kernels, encode TMA tensor
maps, launch on a stream.

Used by fa_mlir.torch on the context torch already made current; nothing
here links CUDA at build time.
"""

from __future__ import annotations

import collections
import ctypes
import threading
from typing import List, Sequence

from . import _tensormap
from ._capi import FAError

_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16
_TENSOR_MAP_BYTES = 128
_TENSOR_MAP_ALIGNMENT = 64
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
                    "cuCtxSetCurrent": [p],
                    "cuDeviceGet": [ctypes.POINTER(i), i],
                    "cuDevicePrimaryCtxRetain": [ctypes.POINTER(p), i],
                    "cuDevicePrimaryCtxRelease": [i],
                    "cuModuleLoadData": [ctypes.POINTER(p), p],
                    "cuModuleGetFunction": [ctypes.POINTER(p), p,
                                            ctypes.c_char_p],
                    "cuFuncSetAttribute": [p, i, i],
                    "cuCtxGetDevice": [ctypes.POINTER(i)],
                    "cuDeviceGetAttribute": [ctypes.POINTER(i), i, i],
                    "cuOccupancyMaxActiveBlocksPerMultiprocessor": [
                        ctypes.POINTER(i), p, i, s],
                    "cuLaunchKernel": [p, u, u, u, u, u, u, u, p,
                                       ctypes.POINTER(p), p],
                    "cuGetErrorString": [i, ctypes.POINTER(ctypes.c_char_p)],
            }.items():
                fn = getattr(l, name)
                fn.restype, fn.argtypes = i, args
            # CUDA 12 and newer; older drivers run kernels without TMA.
            encode = getattr(l, "cuTensorMapEncodeTiled", None)
            if encode is not None:
                u64, u32 = (ctypes.POINTER(ctypes.c_uint64),
                            ctypes.POINTER(ctypes.c_uint32))
                encode.restype = i
                encode.argtypes = [p, i, u, p, u64, u64, u32, u32, i, i, i, i]
            check(l, l.cuInit(0), "cuInit")
            _cuda = l
        return _cuda


def make_current(device_index: int) -> None:
    """Makes device `device_index`'s primary context (the one PyTorch uses)
    current on the calling thread if the thread has none: threads that
    have made no CUDA runtime call yet have none, such as the autograd
    engine's device threads that run backward functions."""
    l = cuda()
    ctx = ctypes.c_void_p()
    check(l, l.cuCtxGetCurrent(ctypes.byref(ctx)), "cuCtxGetCurrent")
    if ctx.value:
        return
    device = ctypes.c_int()
    check(l, l.cuDeviceGet(ctypes.byref(device), device_index), "cuDeviceGet")
    check(l, l.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), device),
          "cuDevicePrimaryCtxRetain")
    try:
        check(l, l.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    finally:
        # PyTorch's own reference keeps the context alive.
        check(l, l.cuDevicePrimaryCtxRelease(device),
              "cuDevicePrimaryCtxRelease")


def check(l, result, what):
    if result != 0:
        text = ctypes.c_char_p()
        l.cuGetErrorString(result, ctypes.byref(text))
        raise FAError(f"{what} failed: CUDA error {result} "
                      f"({(text.value or b'?').decode()})")


def encode_tensor_map(encoding: _tensormap.Encoding, operand: str) -> bytes:
    """The 128 bytes of the CUtensorMap cuTensorMapEncodeTiled makes of
    `encoding` (the map of tensor `operand`); FAError when the driver
    refuses."""
    l = cuda()
    encode = getattr(l, "cuTensorMapEncodeTiled", None)
    if encode is None:
        raise FAError("the CUDA driver is too old for TMA kernels (no "
                      "cuTensorMapEncodeTiled)")
    rank = encoding.rank
    u64, u32 = ctypes.c_uint64, ctypes.c_uint32
    storage = (ctypes.c_uint8 * (_TENSOR_MAP_BYTES + _TENSOR_MAP_ALIGNMENT))()
    at = _aligned(ctypes.addressof(storage))
    check(l, encode(at, encoding.data_type, rank, encoding.global_address,
                    (u64 * rank)(*encoding.global_dim),
                    (u64 * max(rank - 1, 1))(*encoding.global_strides),
                    (u32 * rank)(*encoding.box_dim),
                    (u32 * rank)(*encoding.element_strides),
                    encoding.interleave, encoding.swizzle,
                    encoding.l2_promotion, encoding.oob_fill),
          f"cuTensorMapEncodeTiled for tensor {operand!r} "
          f"({encoding.describe()})")
    return ctypes.string_at(at, _TENSOR_MAP_BYTES)


def _aligned(address: int) -> int:
    return address + -address % _TENSOR_MAP_ALIGNMENT


# Encoded maps by everything they are made of: benchmarks launch the same
# tensors again and again, and a map is a function of its key alone.
_MAP_CACHE_SIZE = 64
_maps: collections.OrderedDict[tuple, bytes] = collections.OrderedDict()
_maps_lock = threading.Lock()


def tensor_map(spec: _tensormap.TensorMapSpec, address: int,
               sizes: Sequence[int], strides: Sequence[int]) -> bytes:
    """The CUtensorMap of `spec` for the tensor whose data starts at
    `address`, with `sizes` and element `strides` outermost first; cached.
    ValueError when TMA cannot read the tensor (fa_mlir._tensormap)."""
    key = (spec, address, tuple(sizes), tuple(strides))
    with _maps_lock:
        blob = _maps.get(key)
        if blob is not None:
            _maps.move_to_end(key)
            return blob
    blob = encode_tensor_map(
        _tensormap.encoding(spec, address, sizes, strides), spec.operand)
    with _maps_lock:
        _maps[key] = blob
        while len(_maps) > _MAP_CACHE_SIZE:
            _maps.popitem(last=False)
    return blob


class LoadedKernel:
    """A kernel loaded into the current context, ready to launch."""

    def __init__(self, compiled):
        self.name = compiled.name
        self.metadata = compiled.metadata
        # The CUtensorMap parameters after the descriptors (TMA kernels).
        self.tensor_maps = _tensormap.parse_tensor_maps(compiled.metadata)
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
        # A persistent kernel (metadata "persistent") runs as many blocks
        # as stay resident on the device, each looping over the tiles.
        self._slots = None
        self.resident_blocks = None
        if "persistent" in compiled.metadata:
            self.resident_blocks = self.slots()

    def slots(self) -> int:
        """Blocks of this kernel the device runs at once: multiprocessors
        times cuOccupancyMaxActiveBlocksPerMultiprocessor."""
        if self._slots is None:
            l = cuda()
            device, count, per_sm = (ctypes.c_int(), ctypes.c_int(),
                                     ctypes.c_int())
            check(l, l.cuCtxGetDevice(ctypes.byref(device)), "cuCtxGetDevice")
            check(l, l.cuDeviceGetAttribute(
                ctypes.byref(count), _CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                device), "cuDeviceGetAttribute")
            check(l, l.cuOccupancyMaxActiveBlocksPerMultiprocessor(
                ctypes.byref(per_sm), self.function, self.threads,
                self.shared), "cuOccupancyMaxActiveBlocksPerMultiprocessor")
            self._slots = max(1, count.value * per_sm.value)
        return self._slots

    def grid(self, tiles: Sequence[int]) -> List[int]:
        """The launch grid for the grid of tiles the metadata describes:
        that grid, or for a persistent kernel min(tiles, resident blocks)
        blocks."""
        if self.resident_blocks is None:
            return list(tiles)
        count = 1
        for t in tiles:
            count *= t
        return [min(count, self.resident_blocks), 1, 1]

    def launch(self, grid, args, stream, tensor_maps: Sequence[bytes] = ()):
        """args: flat list of int64 (expanded memref descriptors);
        tensor_maps: one 128-byte CUtensorMap per entry of
        self.tensor_maps (tensor_map()), passed by value after them."""
        if len(tensor_maps) != len(self.tensor_maps):
            raise FAError(f"kernel {self.name} takes "
                          f"{len(self.tensor_maps)} tensor map(s), got "
                          f"{len(tensor_maps)}")
        l = cuda()
        values = (ctypes.c_int64 * len(args))(*args)
        base = ctypes.addressof(values)
        pointers = list(range(base, base + 8 * len(args), 8))
        # `values` and `maps` stay alive (locals) until cuLaunchKernel has
        # copied the parameters.
        maps = None
        if tensor_maps:
            maps = (ctypes.c_uint8 * (_TENSOR_MAP_BYTES * len(tensor_maps) +
                                      _TENSOR_MAP_ALIGNMENT))()
            base = _aligned(ctypes.addressof(maps))
            for i, blob in enumerate(tensor_maps):
                if len(blob) != _TENSOR_MAP_BYTES:
                    raise FAError(f"tensor map {i} of kernel {self.name} has "
                                  f"{len(blob)} bytes, not 128")
                at = base + _TENSOR_MAP_BYTES * i
                ctypes.memmove(at, blob, _TENSOR_MAP_BYTES)
                pointers.append(at)
        params = (ctypes.c_void_p * len(pointers))(*pointers)
        check(l, l.cuLaunchKernel(self.function, grid[0], grid[1], grid[2],
                                  self.threads, 1, 1, self.shared,
                                  ctypes.c_void_p(stream), params, None),
              "cuLaunchKernel")
