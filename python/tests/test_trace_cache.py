"""CPU tests of the trace cache (fa_mlir.trace_cache): a traced score_mod /
mask_mod is reused while everything its trace read is unchanged, and
traced again when anything it read changed (closure cells, globals,
attributes of modules, classes and functions, array types and the shapes
the trace read). Arrays are trace_fakes' numpy-backed FakeTensors."""

import enum
import math
import types

import numpy as np
import pytest

from fa_mlir import mods
from fa_mlir.trace_cache import TraceCache

from trace_fakes import ARRAYS, FakeTensor

def test_cache_traces_a_function_once():
    cache = TraceCache(ARRAYS)
    f = mods.softcap(30)
    first = cache.trace_mods(f)
    assert cache.trace_mods(f) == first and cache.traces == 1
    # Another closure of the same code with equal values: no new trace.
    assert cache.trace_mods(mods.softcap(30)) == first and cache.traces == 1
    assert cache.trace_mods(mods.softcap(31)) != first and cache.traces == 2


def test_cache_reads_new_tensors_from_the_closure():
    cache = TraceCache(ARRAYS)
    a = FakeTensor(np.float32([1, 2]))
    b = FakeTensor(np.float32([5, 6, 7]))
    m1 = cache.trace_mods(mods.alibi(a))
    m2 = cache.trace_mods(mods.alibi(b))   # same types: same trace
    assert cache.traces == 1
    assert m1.captures == (a,) and m2.captures == (b,)
    assert m1.score_mod == m2.score_mod
    c = FakeTensor(np.float16([1, 2]))     # another dtype: traced again
    m3 = cache.trace_mods(mods.alibi(c))
    assert cache.traces == 2 and "f16" in m3.score_mod


def test_cache_sees_rebound_closure_cells_and_globals():
    cache = TraceCache(ARRAYS)
    window = 16
    t = FakeTensor(np.float32([1]))

    def mask(b, h, q, kv):
        return q - kv < window

    def score(s, b, h, q, kv):
        return s * t[0]

    text16 = cache.trace_mods(mask_mod=mask).mask_mod
    assert "arith.constant 16 : index" in text16
    window = 32  # noqa: F841 (read by mask through its closure)
    text32 = cache.trace_mods(mask_mod=mask).mask_mod
    assert "arith.constant 32 : index" in text32 and cache.traces == 2
    assert cache.trace_mods(score).captures == (t,)
    t = FakeTensor(np.float32([2]))
    assert cache.trace_mods(score).captures == (t,)
    assert cache.traces == 3

    GLOBAL_STATE["scale"] = 2.0
    g = cache.trace_mods(score_global).score_mod
    GLOBAL_STATE["scale"] = 3.0
    h = cache.trace_mods(score_global).score_mod
    assert "2.0" in g and "3.0" in h


GLOBAL_STATE = {"scale": 2.0}


def score_global(s, b, h, q, kv):
    return s * GLOBAL_STATE["scale"]


SETTINGS = types.ModuleType("settings")
SETTINGS.cap = 2.0


class Settings:
    cap = 2.0


def _cap_of_module(s):
    return s * SETTINGS.cap


def score_module(s, b, h, q, kv):
    settings = SETTINGS  # noqa: F841 (found before the helper that reads it)
    return _cap_of_module(s)


def score_class(s, b, h, q, kv):
    return s * Settings.cap


def score_attribute(s, b, h, q, kv):
    return s * score_attribute.cap


score_attribute.cap = 2.0


def score_by_name(s, b, h, q, kv):
    return s * globals()["SCALE"]


SCALE = 2.0


def test_cache_sees_changed_attributes_of_modules_classes_functions():
    # A value read as an attribute (of a module, through a helper; of a
    # class; of the function itself), or by a computed name, changes the
    # trace when it changes: never a stale constant.
    global SCALE
    cache = TraceCache(ARRAYS)
    fns = (score_module, score_class, score_attribute, score_by_name)
    before = [cache.trace_mods(fn).score_mod for fn in fns]
    assert all("2.0" in text for text in before)
    assert [cache.trace_mods(fn).score_mod for fn in fns] == before
    SETTINGS.cap = Settings.cap = score_attribute.cap = SCALE = 3.0
    try:
        after = [cache.trace_mods(fn).score_mod for fn in fns]
    finally:
        SETTINGS.cap = Settings.cap = score_attribute.cap = SCALE = 2.0
    assert all("3.0" in text and "2.0" not in text for text in after)
    # Library modules stay constants: math.pi does not defeat the cache.
    def score_pi(s, b, h, q, kv):
        return s * math.pi

    traces = cache.traces
    cache.trace_mods(score_pi)
    cache.trace_mods(score_pi)
    assert cache.traces == traces + 1


def test_cache_checks_shapes_only_when_read():
    cache = TraceCache(ARRAYS)
    t = FakeTensor(np.int32([[0, 1, 2]]))

    def last(b, h, q, kv):       # reads the shape: it is in the source
        return kv < t.shape[1]

    text = cache.trace_mods(mask_mod=last).mask_mod
    assert "arith.constant 3 : index" in text
    cache.trace_mods(mask_mod=last)
    assert cache.traces == 1
    t = FakeTensor(np.int32([[0, 1, 2, 3, 4]]))
    assert "arith.constant 5 : index" in cache.trace_mods(mask_mod=last
                                                          ).mask_mod
    assert cache.traces == 2
    # document_mask never reads the shape: any N reuses the trace.
    cache.trace_mods(mask_mod=mods.document_mask(
        FakeTensor(np.zeros((2, 7), np.int32))))
    cache.trace_mods(mask_mod=mods.document_mask(
        FakeTensor(np.zeros((3, 9), np.int32))))
    assert cache.traces == 3


def test_cache_retraces_functions_that_read_values():
    cache = TraceCache(ARRAYS)
    n = FakeTensor(np.int64(4))

    def mask(b, h, q, kv):
        return kv < n.item()     # the value goes into the source

    assert "arith.constant 4" in cache.trace_mods(mask_mod=mask).mask_mod
    n.data = np.int64(9)
    assert "arith.constant 9" in cache.trace_mods(mask_mod=mask).mask_mod
    assert cache.traces == 2


def test_cache_aliasing_of_captures_is_part_of_the_key():
    cache = TraceCache(ARRAYS)
    x = FakeTensor(np.int32([[0, 1]]))
    pair = [x, x]

    def mask(b, h, q, kv):
        return pair[0][b, q] == pair[1][b, kv]

    one = cache.trace_mods(mask_mod=mask)
    assert len(one.captures) == 1
    pair[1] = FakeTensor(np.int32([[1, 0]]))
    two = cache.trace_mods(mask_mod=mask)
    assert two.captures == (x, pair[1]) and cache.traces == 2


def test_cache_objects_it_cannot_see_through_are_traced_every_call():
    cache = TraceCache(ARRAYS)

    class Config:
        window = 8

    config = Config()

    def mask(b, h, q, kv):
        return q - kv < config.window

    assert "8" in cache.trace_mods(mask_mod=mask).mask_mod
    config.window = 4
    assert "4 : index" in cache.trace_mods(mask_mod=mask).mask_mod
    assert cache.traces == 2

    class Model:
        def __init__(self):
            self.slopes = FakeTensor(np.float32([1, 2]))

        def score_mod(self, s, b, h, q, kv):
            return s + self.slopes[h]

    model = Model()
    first = cache.trace_mods(model.score_mod)
    model.slopes = FakeTensor(np.float32([3, 4]))
    second = cache.trace_mods(model.score_mod)
    assert second.captures == (model.slopes,) != first.captures


def test_cache_arrays_computed_inside_are_not_reused():
    cache = TraceCache(ARRAYS)
    base = FakeTensor(np.float32([1, 2]))

    def score(s, b, h, q, kv):
        derived = FakeTensor(base.data * 2)   # a new array every call
        return s + derived[h]

    a = cache.trace_mods(score)
    b = cache.trace_mods(score)
    assert a.captures[0] is not b.captures[0] and cache.traces == 2


def test_cache_render_reuses_text_for_new_captures():
    cache = TraceCache(ARRAYS)
    s1, d1 = FakeTensor(np.float32([1])), FakeTensor(np.int32([[1]]))
    m1 = cache.trace_mods(mods.alibi(s1), mods.document_mask(d1))
    s2, d2 = FakeTensor(np.float32([2])), FakeTensor(np.int32([[2]]))
    m2 = cache.trace_mods(mods.alibi(s2), mods.document_mask(d2))
    assert m1._replace(captures=()) == m2._replace(captures=())
    assert m2.captures == (s2, d2)


class _Helpers:
    factor = 2.0

    @staticmethod
    def scale(s):
        return s * 3.0


class _Mode(enum.Enum):
    A = 2.0


def _score_dict(s, b, h, q, kv):
    return s * SETTINGS_BY_NAME.__dict__["cap"]


SETTINGS_BY_NAME = types.ModuleType("settings_by_name")
SETTINGS_BY_NAME.cap = 2.0


def test_cache_keeps_reading_by_name_fresh_and_constants_cached():
    cache = TraceCache(ARRAYS)
    # An attribute read through __dict__ (or attrgetter) is traced every
    # call: its name is not in the code.
    first = cache.trace_mods(_score_dict).score_mod
    SETTINGS_BY_NAME.cap = 3.0
    try:
        assert cache.trace_mods(_score_dict).score_mod != first
    finally:
        SETTINGS_BY_NAME.cap = 2.0
    # A static method and an enum member's value stay cached.
    for fn in (lambda s, b, h, q, kv: _Helpers.scale(s),
               lambda s, b, h, q, kv: s * _Mode.A.value):
        traces = cache.traces
        cache.trace_mods(fn)
        cache.trace_mods(fn)
        assert cache.traces == traces + 1


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(size=-1), ValueError, "size must be at least 0, got -1"),
    (dict(size=None), TypeError, "size must be an int, got None"),
    (dict(size=2.5), TypeError, "size must be an int"),
    (dict(adapter="x"), TypeError, "adapter must be an ArrayAdapter, got str"),
])
def test_trace_cache_checks_its_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        TraceCache(**kwargs)


def test_a_cache_of_size_zero_traces_every_call():
    cache = TraceCache(size=0)
    for _ in range(2):
        cache.trace(lambda s, b, h, q, kv: s * 2, "score_mod")
    assert cache.traces == 2
