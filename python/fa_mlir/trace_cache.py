"""The trace cache: a traced `score_mod` / `mask_mod` is reused while
everything its trace read is unchanged (the function's code, the plain
values and array types it can see), so a call with the same function, or
with new tensors of the same types, costs a walk of the function instead
of a trace (fa_mlir.tracing traces; fa_mlir.torch keeps one cache).
"""

import collections
import enum
import functools
import threading
import types

from .tracing import ArrayAdapter, TracedMods, combine, trace


class _Uncacheable(Exception):
    pass


_CODE_NAMES = {}


def _code_names(code):
    names = _CODE_NAMES.get(code)
    if names is None:
        found = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.update(_code_names(const))
        names = _CODE_NAMES[code] = tuple(sorted(found))
    return names


_PLAIN = (int, float, bool, str, bytes, complex, type(None))
_BUILTIN_TYPES = (types.BuiltinFunctionType, types.BuiltinMethodType,
                  types.MethodWrapperType, types.WrapperDescriptorType,
                  types.MethodDescriptorType, types.ClassMethodDescriptorType,
                  types.GetSetDescriptorType, types.MemberDescriptorType)


class _Walk:
    """Everything a function's trace may depend on, found by walking its
    code, closure cells, defaults and the globals it names (recursively
    through the functions, partials, tuples, lists and dicts found there):
    `key` holds plain values, library constants and array types; `arrays`
    the arrays in walk order. An object of any other kind (e.g. `self` of a
    bound method, a config object) makes the function uncacheable. Code
    objects and globals dicts enter the key by id and are kept alive by
    `keep` (so an id in a cached key is never reused)."""

    LIMIT = 2000

    def __init__(self, adapter):
        self.adapter = adapter
        self.key, self.arrays, self.keep = [], [], []
        self._seen = {}
        # Every name the walked functions' code uses (globals and attribute
        # names alike): the attributes of a module, class or function that
        # the trace may have read are among them.
        self._names = set()
        # [namespaces, names walked, depth] of each module, class and
        # function found, whose attributes finish() walks.
        self._namespaces = []

    def _attributes(self, namespaces, depth):
        """Records mappings (a module's dict, a class's MRO dicts, a
        function's __dict__) whose attributes the trace may have read."""
        self._namespaces.append([namespaces, set(), depth])

    def finish(self):
        """Walks, for every recorded namespace, the attributes named in the
        walked code (the first mapping holding each name), so that a
        changed value (cfg.cap = 3.0) changes the key; until no walk adds a
        name (a function found there may read more)."""
        changed = True
        while changed:
            changed = False
            for entry in list(self._namespaces):
                namespaces, walked, depth = entry
                for name in sorted(self._names - walked):
                    walked.add(name)
                    for namespace in namespaces:
                        if name in namespace:
                            changed = True
                            self.key.append(name)
                            self.walk(namespace[name], depth)
                            break

    def walk(self, obj, depth=0):
        key = self.key
        t = type(obj)
        if t in _PLAIN:
            key.append(repr(obj) if t is float else obj)
            key.append(t)
            return
        if len(key) > self.LIMIT or depth > 32:
            raise _Uncacheable
        i = self._seen.get(id(obj))
        if i is not None:
            key.append(("ref", i))
            return
        self._seen[id(obj)] = len(key)
        adapter = self.adapter
        depth += 1
        if t is types.FunctionType:
            code = obj.__code__
            info = _CODE_INFO.get(code)
            if info is None:
                if len(_CODE_INFO) > 4096:
                    _CODE_INFO.clear()
                    _CODE_NAMES.clear()
                info = _CODE_INFO[code] = (_code_names(code),
                                           _is_library(obj))
            if info[1]:
                key.append(("const", obj))
                return
            if _READS_NAMESPACES.intersection(info[0]):
                raise _Uncacheable  # globals()["x"], getattr(cfg, name)
            self._names.update(info[0])
            g = obj.__globals__
            key.append(("fn", id(code), id(g)))
            self.keep.append(code)
            self.keep.append(g)
            for cell in obj.__closure__ or ():
                try:
                    value = cell.cell_contents
                except ValueError:
                    key.append("empty-cell")
                    continue
                if type(value) in _PLAIN:
                    key.append(repr(value) if type(value) is float
                               else value)
                    key.append(type(value))
                else:
                    self.walk(value, depth)
            if obj.__defaults__ is not None:
                self.walk(obj.__defaults__, depth)
            if obj.__kwdefaults__ is not None:
                self.walk(obj.__kwdefaults__, depth)
            key.append("globals")
            for name in info[0]:
                if name in g:
                    key.append(name)
                    self.walk(g[name], depth)
            if obj.__dict__:
                self._attributes((obj.__dict__,), depth)  # fn.cap
        elif t in (tuple, list):
            key.append((t, len(obj)))
            for item in obj:
                self.walk(item, depth)
        elif adapter.is_array(obj):
            key.append(("array", adapter.array_key(obj)))
            self.arrays.append(obj)
        elif t is functools.partial:
            key.append("partial")
            self.walk(obj.func, depth)
            self.walk(obj.args, depth)
            self.walk(obj.keywords, depth)
        elif t is types.MethodType:
            key.append("method")
            self.walk(obj.__func__, depth)
            self.walk(obj.__self__, depth)
        elif t is dict:
            key.append((dict, len(obj)))
            for k, v in obj.items():
                if type(k) not in _PLAIN:
                    raise _Uncacheable
                key.append(k)
                self.walk(v, depth)
        elif t is types.ModuleType:
            key.append(("module", obj.__name__))
            if not _is_library_name(obj.__name__):
                self._attributes((vars(obj),), depth)  # cfg.cap
        elif isinstance(obj, type):
            key.append(("const", obj))
            user = [vars(c) for c in obj.__mro__
                    if not _is_library_name(c.__module__)]
            if user:
                self._attributes(user, depth)  # Cfg.cap, not object's
        elif t in (staticmethod, classmethod):
            key.append(t.__name__)
            self.walk(obj.__func__, depth)
        elif isinstance(obj, enum.Enum) or t in _BUILTIN_TYPES:
            key.append(("const", obj))  # enum members, builtins
        else:
            const = adapter.constant_key(obj)
            if const is None:
                raise _Uncacheable
            key.append(("const", const))


_CODE_INFO = {}  # code -> (global names it may read, library code?)


def _is_library(fn):
    """Functions of torch and numpy are constants, not walked."""
    module = getattr(fn, "__module__", None) or ""
    return module.split(".")[0] in ("torch", "numpy")


# Modules (and their classes) whose attributes a score_mod reads as
# constants: functions, dtypes, math constants, not settings a user changes.
_LIBRARIES = frozenset(("torch", "numpy", "math", "cmath", "operator",
                        "functools", "builtins", "fa_mlir", "enum", "types",
                        "typing", "collections", "itertools", "numbers"))

# Builtins that read a namespace by a computed name: what they read is not
# in the code's names, so a function calling them is traced on every call.
_READS_NAMESPACES = frozenset(("globals", "vars", "getattr", "eval", "exec",
                               "__import__", "importlib", "__dict__",
                               "attrgetter", "methodcaller"))


def _is_library_name(module):
    return (module or "").split(".")[0] in _LIBRARIES


class _Entry:
    __slots__ = ("region", "leaves", "checks", "keep")

    def __init__(self, region, leaves, checks, keep):
        self.region, self.leaves, self.checks, self.keep = (region, leaves,
                                                            checks, keep)


class TraceCache:
    """Traces of functions, reused while everything the trace read is
    unchanged. The key is what a _Walk of the function finds (its code,
    the plain values and array types in its closure, defaults and globals),
    plus the shapes of the arrays whose shape the trace read; the captured
    arrays themselves are re-read from the function on every call (a
    closure whose tensor was replaced by another of the same type reuses
    the trace with the new tensor). Functions whose trace read anything
    else (a value of a tensor, an object's attribute, a tensor computed
    inside the function) are traced on every call."""

    def __init__(self, adapter=None, size=512):
        if adapter is not None and not isinstance(adapter, ArrayAdapter):
            raise TypeError(f"adapter must be an ArrayAdapter, got "
                            f"{type(adapter).__name__}")
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"size must be an int, got {size!r}")
        if size < 0:
            raise ValueError(f"size must be at least 0, got {size}")
        self.adapter = adapter or ArrayAdapter()
        self.size = size
        self._entries = collections.OrderedDict()
        self._rendered = collections.OrderedDict()
        self._lock = threading.Lock()
        self.traces = 0  # functions traced (for tests)

    def trace(self, fn, kind):
        """(Region, captured arrays) of `fn`."""
        walk = _Walk(self.adapter)
        try:
            walk.walk(fn)
            walk.finish()
            key = (kind, tuple(walk.key))
            hash(key)
        except Exception:  # _Uncacheable, unhashable, odd objects
            key = None
        if key is not None:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
            if entry is not None and all(
                    self.adapter.array_meta(walk.arrays[i]) == meta
                    for i, meta in entry.checks):
                return entry.region, [walk.arrays[i] for i in entry.leaves]
        region, arrays, tracer = trace(fn, kind, self.adapter)
        with self._lock:
            self.traces += 1
        if key is None or tracer.impure:
            return region, arrays
        position = {}
        for i, a in enumerate(walk.arrays):
            position.setdefault(id(a), i)
        leaves = tuple(position.get(id(a)) for a in arrays)
        queried = tuple(position.get(i) for i in tracer.queried)
        if None in leaves or None in queried:
            return region, arrays  # an array the walk cannot find again
        checks = tuple((i, self.adapter.array_meta(walk.arrays[i]))
                       for i in queried)
        with self._lock:
            self._entries[key] = _Entry(region, leaves, checks, walk.keep)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return region, arrays

    def trace_mods(self, score_mod=None, mask_mod=None):
        """TracedMods of a score_mod and a mask_mod (either may be None)."""
        parts = []
        for fn, kind in ((score_mod, "score_mod"), (mask_mod, "mask_mod")):
            if fn is None:
                parts.append(None)
                continue
            region, arrays = self.trace(fn, kind)
            parts.append(None if region.identity else (region, arrays))
        if parts == [None, None]:
            return TracedMods(None, None, (), ())
        # Rendering depends on the regions and on which captures coincide.
        ids = [tuple(id(a) for a in p[1]) if p else () for p in parts]
        flat = ids[0] + ids[1]
        alias = tuple(flat.index(i) for i in flat)
        key = (parts[0] and parts[0][0], parts[1] and parts[1][0], alias)
        with self._lock:
            cached = self._rendered.get(key)
        if cached is not None:
            arrays = []
            seen = set()
            for p in parts:
                for a in p[1] if p else ():
                    if id(a) not in seen:
                        seen.add(id(a))
                        arrays.append(a)
            return cached._replace(captures=tuple(arrays))
        mods = combine(*parts)
        with self._lock:
            self._rendered[key] = mods._replace(captures=())
            while len(self._rendered) > self.size:
                self._rendered.popitem(last=False)
        return mods
