"""ctypes binding of libFAMLIRCAPI.so (include/fa-c/FA.h)."""

import ctypes
import json
import os
import threading

_lock = threading.Lock()
_lib = None


class FAError(RuntimeError):
    """A failure reported by the compiler (parse errors, verifier and pass
    diagnostics, bad options), with its message."""


class FAArgumentError(FAError, ValueError):
    """A bad argument (an AttentionSpec field, a capture type): a
    ValueError, as every bad argument of fa_mlir is, and an FAError, as
    these were before."""


def _candidates():
    env = os.environ.get("FA_MLIR_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "lib", "libFAMLIRCAPI.so")
    root = os.path.dirname(os.path.dirname(here))
    yield os.path.join(root, "build", "lib", "libFAMLIRCAPI.so")


def lib():
    """The loaded library (one copy per process)."""
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for path in _candidates():
            tried.append(path)
            if os.path.exists(path):
                _lib = _declare(ctypes.CDLL(path))
                return _lib
        raise FAError(
            "libFAMLIRCAPI.so not found (tried: %s). Build it with `make "
            "python` (or `ninja -C build FAMLIRCAPI`) or set FA_MLIR_LIB to "
            "its path." % ", ".join(tried))


def _declare(l):
    c_char_p, c_void_p, c_int = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int
    sigs = {
        "faGetVersion": (c_char_p, []),
        "faGetLastError": (c_char_p, []),
        "faGetTargetInfo": (c_char_p, []),
        "faContextCreate": (c_void_p, []),
        "faContextDestroy": (None, [c_void_p]),
        "faModuleParse": (c_void_p, [c_void_p, c_char_p]),
        "faModuleDestroy": (None, [c_void_p]),
        "faModulePrint": (c_char_p, [c_void_p, c_int]),
        "faModuleRunPipeline": (c_int, [c_void_p, c_char_p]),
        "faCompile": (c_void_p, [c_void_p, c_char_p, c_char_p]),
        "faCompiledDestroy": (None, [c_void_p]),
        "faCompiledGetNumKernels": (c_int, [c_void_p]),
        "faCompiledGetKernelName": (c_char_p, [c_void_p, c_int]),
        "faCompiledGetPTX": (c_char_p, [c_void_p, c_int]),
        "faCompiledGetCubin": (ctypes.POINTER(ctypes.c_char),
                               [c_void_p, c_int,
                                ctypes.POINTER(ctypes.c_size_t)]),
        "faCompiledGetMetadata": (c_char_p, [c_void_p, c_int]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(l, name)
        fn.restype, fn.argtypes = res, args
    return l


def _error(what):
    message = lib().faGetLastError().decode()
    return FAError(f"{what}: {message}" if message else what)


def version():
    """'fa-mlir <version> (MLIR <version>)'."""
    return lib().faGetVersion().decode()


_target_info = None


def target_info():
    """The compiler's own tables (faGetTargetInfo): "chips" (chip,
    capability, max_shared_memory_per_block, strategies), "head_dims" and
    "options" (each compile option's default and help)."""
    global _target_info
    if _target_info is None:
        _target_info = json.loads(lib().faGetTargetInfo().decode())
    return _target_info


def _text(what, value):
    """`value` (MLIR text, an option or pipeline string) as bytes for the
    C API, which reads a C string: a NUL would silently cut it short."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{what} holds a NUL character (at "
                         f"{value.index(chr(0))}), which would end it there")
    return value.encode()


class Context:
    """An MLIR context with every fa-mlir dialect, pass and pipeline."""

    def __init__(self):
        self._l = lib()
        self._ptr = self._l.faContextCreate()

    def __del__(self):
        if getattr(self, "_ptr", None):
            self._l.faContextDestroy(self._ptr)
            self._ptr = None

    def parse(self, source):
        """Parses and verifies MLIR text; raises FAError with the
        diagnostics on bad IR."""
        ptr = self._l.faModuleParse(self._ptr, _text("the source", source))
        if not ptr:
            raise _error("cannot parse the module")
        return Module(self, ptr)

    def compile(self, source, options=""):
        """Runs the fa-compile pipeline; returns [(name, ptx, cubin,
        metadata_json)] per kernel."""
        ptr = self._l.faCompile(self._ptr, _text("the source", source),
                                _text("the options", options))
        if not ptr:
            raise _error("fa-compile failed")
        try:
            out = []
            for i in range(self._l.faCompiledGetNumKernels(ptr)):
                size = ctypes.c_size_t()
                data = self._l.faCompiledGetCubin(ptr, i, ctypes.byref(size))
                out.append((self._l.faCompiledGetKernelName(ptr, i).decode(),
                            self._l.faCompiledGetPTX(ptr, i).decode(),
                            ctypes.string_at(data, size.value),
                            self._l.faCompiledGetMetadata(ptr, i).decode()))
            return out
        finally:
            self._l.faCompiledDestroy(ptr)


class Module:
    """A parsed module; passes run in place."""

    def __init__(self, context, ptr):
        if not isinstance(context, Context):
            raise TypeError(f"context must be a Context, got "
                            f"{type(context).__name__}")
        if not ptr:
            raise ValueError("a Module wraps a parsed module: use "
                             "Context.parse(source)")
        self._context, self._l, self._ptr = context, context._l, ptr

    def __del__(self):
        if getattr(self, "_ptr", None):
            self._l.faModuleDestroy(self._ptr)
            self._ptr = None

    def __str__(self):
        return self._l.faModulePrint(self._ptr, 0).decode()

    def print(self, generic: bool = False) -> str:
        if not isinstance(generic, bool):
            raise TypeError(f"generic must be a bool, got {generic!r}")
        return self._l.faModulePrint(self._ptr, int(generic)).decode()

    def run(self, pipeline):
        """Runs a textual pass pipeline, e.g.
        "func.func(fa-tile-attention{block-m=64}),fa-lower-to-gpu"."""
        if not self._l.faModuleRunPipeline(self._ptr,
                                           _text("the pipeline", pipeline)):
            raise _error(f"pipeline '{pipeline}' failed")
        return self
