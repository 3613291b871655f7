"""Stand-ins for captured tensors in the CPU tracing tests (no torch):
FakeTensor (a numpy array), the ArrayAdapter that traces it, and helpers
that trace functions and evaluate the traced regions with region_eval."""

import numpy as np

from fa_mlir import tracing
from fa_mlir.tracing import CaptureType

import region_eval

_ELEMENT = {np.dtype(np.float32): ("f32", False),
            np.dtype(np.float16): ("f16", False),
            np.dtype(np.float64): ("f64", False),
            np.dtype(np.int8): ("i8", False), np.dtype(np.uint8): ("i8", True),
            np.dtype(np.int16): ("i16", False),
            np.dtype(np.int32): ("i32", False),
            np.dtype(np.int64): ("i64", False),
            np.dtype(np.bool_): ("i1", True)}


class FakeTensor:
    """A numpy array standing in for a captured torch tensor: indexing it
    while tracing captures it; outside, it indexes the data."""

    def __init__(self, data, element=None):
        self.data = np.asarray(data)
        self.element = element  # e.g. "bf16" for data kept as float32

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def shape(self):
        t = tracing.current_tracer()
        if t is not None:
            t.queried[id(self)] = self
        return self.data.shape

    def item(self):
        t = tracing.current_tracer()
        if t is not None:
            t.impure = True
        return self.data.item()

    def __getitem__(self, index):
        t = tracing.current_tracer()
        if t is not None:
            return t.extract(self, index)
        return self.data[index]


class FakeArrays(tracing.ArrayAdapter):
    def is_array(self, obj):
        return isinstance(obj, FakeTensor)

    def capture_type(self, array):
        if not isinstance(array, FakeTensor):
            raise TypeError("not a FakeTensor")
        if array.element:
            return CaptureType(array.element, array.ndim, False)
        if array.data.dtype not in _ELEMENT:
            raise TypeError(f"captured tensor of dtype {array.data.dtype} is "
                            f"not supported")
        element, unsigned = _ELEMENT[array.data.dtype]
        return CaptureType(element, array.ndim, unsigned)

    def array_key(self, array):
        return array.data.dtype.str, array.element, array.ndim

    def array_meta(self, array):
        return array.data.shape


ARRAYS = FakeArrays()


def traced(score_mod=None, mask_mod=None):
    return tracing.trace_mods(score_mod, mask_mod, ARRAYS)


def score_text(fn):
    return traced(score_mod=fn).score_mod


def mask_text(fn):
    return traced(mask_mod=fn).mask_mod


def body(region):
    return region.split("\n", 1)[1]


def run_score(text, score, b, h, q, kv, captures=()):
    return region_eval.evaluate(text, (score, b, h, q, kv),
                                [c.data for c in captures])


def run_mask(text, b, h, q, kv, captures=()):
    return region_eval.evaluate(text, (b, h, q, kv),
                                [c.data for c in captures])
