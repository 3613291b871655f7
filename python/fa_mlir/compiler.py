"""Compile an attention (with a cache) and read the metadata.

The spec and its MLIR source live in _source.py, the kernel arguments in
_abi.py; their public names are re-exported here."""

import dataclasses
import hashlib
import json
import numbers
import os
import threading
from typing import List, Optional

from ._abi import (backward_kernel_arguments, check_kernel_arguments,
                   kernel_arguments, split_kernel_arguments)
from ._capi import Context, FAError, target_info, version
from ._source import (CAPTURE_ELEMENT_TYPES, CAUSAL, DTYPES, AttentionSpec,
                      attention_backward_source, attention_source,
                      capture_type, numpy_bool_types)

__all__ = ["AttentionSpec", "CompiledKernel", "KernelCache", "DTYPES",
           "CAUSAL", "CAPTURE_ELEMENT_TYPES", "attention_backward_source",
           "attention_source", "backward_kernel_arguments", "capture_type",
           "check_kernel_arguments", "compile_attention", "compile_source",
           "default_cache", "kernel_arguments", "options_string",
           "split_kernel_arguments"]


@dataclasses.dataclass
class CompiledKernel:
    name: str
    ptx: str
    cubin: bytes
    metadata: dict

    @property
    def block_m(self):
        return self.metadata["tile"]["block_m"]


_context = None
_context_lock = threading.Lock()


def _shared_context():
    global _context
    with _context_lock:
        if _context is None:
            _context = Context()
        return _context


def options_string(**options) -> str:
    """The fa-compile option string of `options` (chip, strategy, block_m,
    block_n, warps, stages, format, opt_level, cuda_path): every option
    spelled out, the compiler's defaults (faGetTargetInfo) for those not
    given or None, so that equal compiles have equal strings (the cache
    keys)."""
    known = target_info()["options"]
    given = {}
    for key, value in options.items():
        flag = key.replace("_", "-")
        if flag not in known:
            names = ", ".join(sorted(k.replace("-", "_") for k in known))
            raise TypeError(f"unknown compile option {key!r}; the options "
                            f"are {names}")
        if flag in given:
            raise TypeError(f"compile option {key!r} given twice")
        if value is not None:
            given[flag] = _option_value(key, value, known[flag])
    values = {flag: given.get(flag, option["default"])
              for flag, option in known.items()}
    return " ".join(f"{flag}={value}" for flag, value in sorted(values.items())
                    if value != "")


def _option_value(key, value, option):
    """`value` of the compile option `key` as the option string spells it;
    its type is the default's (a string option also takes an int, e.g.
    split_kv=3), within the range of its kind and, for an enum, one of its
    values (faGetTargetInfo's "kind" and "values"). Whitespace and
    separators are quoted; a value that would end or split the string is
    refused."""
    default = option["default"]
    kind = option.get("kind")
    if isinstance(default, bool):
        if isinstance(value, numpy_bool_types()):
            value = bool(value)
        if not isinstance(value, bool):
            raise TypeError(f"compile option {key} must be a bool, got "
                            f"{value!r}")
        return value
    integer = (isinstance(value, numbers.Integral) and
               not isinstance(value, (bool, numpy_bool_types())))
    if isinstance(default, int):
        if not integer:
            raise TypeError(f"compile option {key} must be an int, got "
                            f"{value!r}")
        low, high = (0, 2**32 - 1) if kind == "uint" else (-2**63, 2**63 - 1)
        if not low <= int(value) <= high:
            raise ValueError(f"compile option {key} must be in [{low}, "
                             f"{high}], got {int(value)}")
        return int(value)
    if kind == "enum" and value not in option.get("values", ()):
        raise ValueError(f"compile option {key} must be one of "
                         f"{', '.join(option['values'])}, got {value!r}")
    if integer:
        return str(int(value))
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"compile option {key} must be a string, got "
                        f"{value!r}")
    if not value and default:
        raise ValueError(f"compile option {key} is empty; leave it out (or "
                         f"None) for the default, {default!r}")
    if "\0" in value or '"' in value:
        raise ValueError(f"compile option {key} holds a NUL or a double "
                         f"quote: {value!r}")
    if any(c.isspace() or c in "{}=," for c in value):
        return f'"{value}"'
    return value


def compile_source(source: str, **options) -> List["CompiledKernel"]:
    """Compiles MLIR text with the fa-compile pipeline; one CompiledKernel
    per fa.attention."""
    kernels = _shared_context().compile(source, options_string(**options))
    return [CompiledKernel(n, p, c, json.loads(m)) for n, p, c, m in kernels]


class KernelCache:
    """Compiled kernels in memory and on disk, keyed by everything that
    changes the kernel: compiler version, chip, tile options and the source
    (dtype, head dim, mask, LSE, scale, score_mod/mask_mod regions and the
    capture types; not capture values or shapes). The second request for a
    key compiles nothing; a later process reads the disk copy.

    Directory: $FA_MLIR_CACHE_DIR, else ~/.cache/fa_mlir.
    """

    def __init__(self, directory=None):
        if directory is not None and not isinstance(directory,
                                                    (str, os.PathLike)):
            raise TypeError(f"directory must be a path, got "
                            f"{type(directory).__name__}")
        if isinstance(directory, os.PathLike):
            directory = os.fspath(directory)
        if isinstance(directory, bytes):
            raise TypeError("directory must be a str path, got bytes")
        self.directory = directory or os.environ.get(
            "FA_MLIR_CACHE_DIR",
            os.path.join(os.path.expanduser("~"), ".cache", "fa_mlir"))
        self._memory = {}
        self._lock = threading.Lock()
        self.compilations = 0  # compilations this cache ran (for tests)

    @staticmethod
    def key(spec, **options):
        text = json.dumps({"compiler": version(),
                           "source": attention_source(spec),
                           "options": options_string(**options)},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get(self, spec, **options):
        key = self.key(spec, **options)
        split = options.get("split_kv")
        if split not in (None, "none"):
            raise ValueError(f"split_kv={split!r} asks for a split-KV "
                             f"attention, which compiles to two kernels: use "
                             f"get_split (split_kv is 'none', 'auto' or a "
                             f"count)")
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            kernel = self._load(key)
            if kernel is None:
                (kernel,) = compile_source(attention_source(spec), **options)
                self.compilations += 1
                self._store(key, kernel)
            self._memory[key] = kernel
            return kernel

    def get_split(self, spec, **options):
        """The two kernels of a split-KV attention (options split_kv="auto"
        or a count), partial then combine, compiled once per key."""
        key = self.key(spec, **options)
        if options.get("split_kv") in (None, "none"):
            raise ValueError("get_split needs split_kv='auto' or a count")
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            kernels = [self._load(f"{key}.{i}") for i in range(2)]
            if any(k is None for k in kernels):
                kernels = compile_source(attention_source(spec), **options)
                stages = [k.metadata.get("split_kv", {}).get("stage")
                          for k in kernels]
                if stages != ["partial", "combine"]:
                    raise FAError(f"a split-KV attention compiled to kernels "
                                  f"of stages {stages}, not partial, combine")
                for kernel, stage in zip(kernels, stages):
                    check_kernel_arguments(kernel.metadata, spec,
                                           split_stage=stage)
                self.compilations += 1
                for i, kernel in enumerate(kernels):
                    self._store(f"{key}.{i}", kernel)
            self._memory[key] = kernels
            return kernels

    @staticmethod
    def backward_key(spec, **options):
        text = json.dumps({"compiler": version(),
                           "source": attention_backward_source(spec),
                           "options": options_string(**options)},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get_backward(self, spec, **options):
        """The three kernels of the backward of `spec` in the order they run
        (delta, key_value, query; or delta, fused, dq_convert with
        backward_dq="accumulate"), compiled once per key."""
        key = self.backward_key(spec, **options)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            kernels = [self._load(f"{key}.{i}") for i in range(3)]
            if any(k is None for k in kernels):
                kernels = compile_source(attention_backward_source(spec),
                                         **options)
                stages = [k.metadata.get("backward", {}).get("stage")
                          for k in kernels]
                if stages not in (["delta", "key_value", "query"],
                                  ["delta", "fused", "dq_convert"]):
                    raise FAError(f"the backward compiled to kernels of "
                                  f"stages {stages}, not delta, key_value, "
                                  f"query or delta, fused, dq_convert")
                self.compilations += 1
                for i, kernel in enumerate(kernels):
                    self._store(f"{key}.{i}", kernel)
            self._memory[key] = kernels
            return kernels

    def _paths(self, key):
        base = os.path.join(self.directory, key)
        return base + ".json", base + ".ptx", base + ".cubin"

    def _load(self, key):
        meta, ptx, cubin = self._paths(key)
        try:
            with open(meta) as f:
                metadata = json.load(f)
            with open(ptx) as f:
                ptx_text = f.read()
            cubin_bytes = b""
            if os.path.exists(cubin):
                with open(cubin, "rb") as f:
                    cubin_bytes = f.read()
        except (OSError, ValueError):
            return None
        # A damaged or foreign entry is a miss: compiled again, overwritten.
        if not (isinstance(metadata, dict) and
                isinstance(metadata.get("kernel"), str) and
                metadata["kernel"] and
                f".entry {metadata['kernel']}(" in ptx_text):
            return None
        return CompiledKernel(metadata["kernel"], ptx_text, cubin_bytes,
                              metadata)

    def _store(self, key, kernel):
        try:
            os.makedirs(self.directory, exist_ok=True)
            meta, ptx, cubin = self._paths(key)
            # Data first, metadata last (atomically): a reader that sees the
            # metadata sees complete files.
            with open(ptx, "w") as f:
                f.write(kernel.ptx)
            if kernel.cubin:
                with open(cubin, "wb") as f:
                    f.write(kernel.cubin)
            tmp = meta + f".{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(kernel.metadata, f)
            os.replace(tmp, meta)
        except OSError:
            pass  # a read-only cache directory only costs recompilation


_default_cache = None


def default_cache():
    global _default_cache
    if _default_cache is None:
        _default_cache = KernelCache()
    return _default_cache


def compile_attention(spec: AttentionSpec,
                      cache: Optional["KernelCache"] = None,
                      **options) -> "CompiledKernel":
    """The kernel for `spec` (from `cache`, default: the process-wide one)."""
    return (cache or default_cache()).get(spec, **options)
