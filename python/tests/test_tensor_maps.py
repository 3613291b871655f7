"""TMA tensor maps (fa_mlir._tensormap, fa_mlir._driver) without a GPU:
the "tensor_maps" metadata entries and their checks, the arguments of
cuTensorMapEncodeTiled made of a tensor's pointer, sizes and strides, the
map cache, and how a launch lays the maps out after the descriptors."""

import copy
import ctypes

import pytest

from fa_mlir import FAError, _driver, _tensormap

ADDRESS = 0x7F00_0000_0000  # 16-byte aligned, like every CUDA allocation


def entry(operand, argument, box=(64, 128, 1, 1), **changes):
    e = {"operand": operand, "argument": argument, "element_type": "bf16",
         "rank": 4, "box": list(box), "swizzle": "128B", "interleave": "none",
         "l2_promotion": "256B", "oob_fill": "zeros"}
    e.update(changes)
    return e


def metadata(dtype="bf16"):
    arguments = [{"name": n, "element_type": dtype, "rank": 4,
                  "shape": [-1, -1, -1, 128]} for n in ("q", "k", "v", "o")]
    arguments.append({"name": "lse", "element_type": "f32", "rank": 3,
                      "shape": [-1, -1, -1]})
    return {"kernel": "fa_attention_tma", "arguments": arguments,
            "tensor_maps": [entry(n, i) for i, n in enumerate("qkv")]}


def spec(operand="q", argument=0, **changes):
    m = metadata()
    m["tensor_maps"] = [entry(operand, argument, **changes)]
    return _tensormap.parse_tensor_maps(m)[0]


def contiguous(sizes):
    strides, step = [], 1
    for size in reversed(sizes):
        strides.insert(0, step)
        step *= max(size, 1)
    return strides


# --- the metadata entries ---------------------------------------------------

def test_parse_enums():
    maps = _tensormap.parse_tensor_maps(metadata())
    assert [(m.operand, m.argument) for m in maps] == [("q", 0), ("k", 1),
                                                       ("v", 2)]
    q = maps[0]
    assert (q.data_type, q.element_bytes, q.rank, q.box) == (9, 2, 4,
                                                             (64, 128, 1, 1))
    assert (q.interleave, q.swizzle, q.l2_promotion, q.oob_fill) == (0, 3, 3,
                                                                     0)


def test_parse_other_enum_values():
    m = metadata("f16")
    m["tensor_maps"] = [entry("k", 1, box=(32, 64, 1, 1), element_type="f16",
                              swizzle="64B", l2_promotion="none",
                              oob_fill="nan")]
    (k,) = _tensormap.parse_tensor_maps(m)
    assert (k.data_type, k.swizzle, k.l2_promotion, k.oob_fill) == (6, 2, 0, 1)
    assert _tensormap.SWIZZLES == {"none": 0, "32B": 1, "64B": 2, "128B": 3}
    assert _tensormap.L2_PROMOTIONS == {"none": 0, "64B": 1, "128B": 2,
                                        "256B": 3}


def test_no_tensor_maps():
    m = metadata()
    del m["tensor_maps"]
    assert _tensormap.parse_tensor_maps(m) == ()


@pytest.mark.parametrize("change, message", [
    ({"swizzle": "256B"}, "\"tensor_maps\"[0]: unknown 'swizzle' value "
     "'256B' (expected none, 32B, 64B, 128B)"),
    ({"interleave": "16B"}, "unknown 'interleave' value '16B' (expected "
     "none)"),
    ({"l2_promotion": "512B"}, "unknown 'l2_promotion' value '512B'"),
    ({"oob_fill": "ones"}, "unknown 'oob_fill' value 'ones' (expected zeros, "
     "nan)"),
    ({"element_type": "f64"}, "unsupported tensor map element type 'f64' "
     "(bf16, f16 or f32)"),
    ({"rank": 6}, "'rank' is 6, not in 1..5"),
    ({"argument": "0"}, "'argument' must be an integer, got '0'"),
    ({"box": [64, 128, 1]}, "'box' has 3 entries, but 'rank' is 4"),
    ({"box": [64, 300, 1, 1]}, "box[1] = 300 is not in 1..256"),
    ({"box": [64, 128, 1, 0]}, "box[3] = 0 is not in 1..256"),
    ({"box": [60, 128, 1, 1]}, "box[0] = 60 elements is 120 bytes, not a "
     "multiple of 16 (TMA boxes need 16-byte rows)"),
    ({"box": [128, 64, 1, 1]}, "box[0] = 128 elements is 256 bytes, more "
     "than the 128 bytes a 128B swizzle spans"),
    ({"box": [64, 64, 1, 1], "swizzle": "64B"}, "box[0] = 64 elements is "
     "128 bytes, more than the 64 bytes a 64B swizzle spans"),
    ({"box": "64"}, "'box' must be a list of integers, got '64'"),
])
def test_bad_entry(change, message):
    text = _refusal(0, change)
    assert message in text
    assert text.startswith("kernel fa_attention_tma: ")


def _refusal(index, change):
    """The FAError message for the metadata with tensor_maps[index] changed."""
    m = metadata()
    m["tensor_maps"][index].update(change)
    with pytest.raises(FAError) as e:
        _tensormap.parse_tensor_maps(m)
    return str(e.value)


def test_unswizzled_box_may_be_wide():
    assert spec(box=(256, 16, 1, 1), swizzle="none").box[0] == 256


@pytest.mark.parametrize("change, message", [
    ({"operand": "v"}, "\"tensor_maps\"[1] ('v'): argument 1 is 'k', not "
     "'v'"),
    ({"argument": 4}, "'argument' is 4; tensor maps describe q, k, v or o "
     "(arguments 0..3)"),
    ({"argument": -1}, "'argument' is -1"),
    ({"rank": 3, "box": [64, 128, 1]}, "'rank' is 3, but k has rank 4"),
    ({"element_type": "f16"}, "'element_type' is f16, but k is bf16"),
])
def test_entry_against_its_argument(change, message):
    assert message in _refusal(1, change)


def test_missing_key_and_bad_list():
    m = metadata()
    del m["tensor_maps"][2]["oob_fill"]
    with pytest.raises(FAError, match=r"\[2\]: lacks 'oob_fill'"):
        _tensormap.parse_tensor_maps(m)
    m["tensor_maps"] = {"q": 0}
    with pytest.raises(FAError, match="\"tensor_maps\" must be a list"):
        _tensormap.parse_tensor_maps(m)
    m["tensor_maps"] = ["q"]
    with pytest.raises(FAError, match=r"\[0\]: must be an object"):
        _tensormap.parse_tensor_maps(m)


# --- the backward's f32 dQ accumulator ---------------------------------------

def backward_metadata(stage="fused", dtype="bf16", box=(32, 16, 1, 1),
                      **changes):
    """A backward kernel's metadata (backward-dq=accumulate: dq_accum is
    argument 7) with the hopper-ws fused kernel's map of dq_accum."""
    arguments = [{"name": n, "element_type": dtype, "rank": 4,
                  "shape": [-1, -1, -1, 64]} for n in ("q", "k", "v", "o",
                                                       "do")]
    arguments += [{"name": n, "element_type": "f32", "rank": 3,
                   "shape": [-1, -1, -1]} for n in ("lse", "delta")]
    arguments.append({"name": "dq_accum", "element_type": "f32", "rank": 4,
                      "shape": [-1, -1, -1, 64]})
    arguments += [{"name": n, "element_type": dtype, "rank": 4,
                   "shape": [-1, -1, -1, 64]} for n in ("dq", "dk", "dv")]
    return {"kernel": "fa_attention_bwd_fused", "arguments": arguments,
            "backward": {"stage": stage},
            "tensor_maps": [entry("dq_accum", 7, box=box, element_type="f32",
                                  **changes)]}


def dq_accum_spec(**changes):
    return _tensormap.parse_tensor_maps(backward_metadata(**changes))[0]


def test_parse_dq_accum():
    dq_accum = dq_accum_spec()
    assert (dq_accum.operand, dq_accum.argument, dq_accum.element_type) == (
        "dq_accum", 7, "f32")
    assert (dq_accum.data_type, dq_accum.element_bytes, dq_accum.rank,
            dq_accum.box) == (7, 4, 4, (32, 16, 1, 1))
    assert (dq_accum.interleave, dq_accum.swizzle, dq_accum.l2_promotion,
            dq_accum.oob_fill) == (0, 3, 3, 0)
    # The delta and dq_convert kernels take no maps.
    for stage in ("delta", "dq_convert"):
        m = backward_metadata(stage)
        del m["tensor_maps"]
        assert _tensormap.parse_tensor_maps(m) == ()


def test_contiguous_f32_dq_accum():
    sizes = [2, 3, 100, 64]
    enc = _tensormap.encoding(dq_accum_spec(), ADDRESS, sizes,
                              contiguous(sizes))
    assert enc.data_type == 7 and enc.rank == 4
    assert enc.global_address == ADDRESS
    assert enc.global_dim == (64, 100, 3, 2)
    # 4-byte elements: a row of 64 is 256 bytes.
    assert enc.global_strides == (256, 100 * 256, 3 * 100 * 256)
    assert enc.box_dim == (32, 16, 1, 1)
    assert enc.element_strides == (1, 1, 1, 1)
    assert (enc.interleave, enc.swizzle, enc.l2_promotion, enc.oob_fill) == (
        0, 3, 3, 0)
    assert enc.describe() == ("dims [64, 100, 3, 2], byte strides [256, "
                              "25600, 76800], box [32, 16, 1, 1]")
    # Unused strides (B = H = 1) are the extent of 4-byte rows too.
    enc = _tensormap.encoding(dq_accum_spec(), ADDRESS, [1, 1, 100, 64],
                              [7, 3, 64, 1])
    assert enc.global_strides == (256, 25600, 25600)


def test_f32_strides_are_bytes():
    # D = 2 f32 is an 8-byte row: not a multiple of 16 (as bf16 D = 4).
    with pytest.raises(ValueError, match="tensor 'dq_accum': the stride of "
                       "dimension 2 is 8 bytes, not a multiple of 16"):
        _tensormap.encoding(dq_accum_spec(box=(4, 16, 1, 1)), ADDRESS,
                            [2, 3, 100, 2], contiguous([2, 3, 100, 2]))


@pytest.mark.parametrize("change, message", [
    ({"element_type": "bf16", "box": [64, 16, 1, 1]},
     "\"tensor_maps\"[0] ('dq_accum'): 'element_type' is bf16, but dq_accum "
     "is f32"),
    ({"operand": "dq"}, "\"tensor_maps\"[0] ('dq'): argument 7 is "
     "'dq_accum', not 'dq'"),
    ({"argument": 8}, "'argument' is 8; tensor maps describe q, k, v, o, do "
     "or dq_accum (arguments 0..3, 4, 7)"),
    ({"argument": 5, "operand": "lse"}, "'argument' is 5; tensor maps "
     "describe q, k, v, o, do or dq_accum (arguments 0..3, 4, 7)"),
    ({"argument": 4, "operand": "do"}, "\"tensor_maps\"[0] ('do'): "
     "'element_type' is f32, but do is bf16"),
    ({"box": [64, 16, 1, 1]}, "box[0] = 64 elements is 256 bytes, more than "
     "the 128 bytes a 128B swizzle spans"),
    ({"box": [2, 16, 1, 1]}, "box[0] = 2 elements is 8 bytes, not a "
     "multiple of 16 (TMA boxes need 16-byte rows)"),
    ({"rank": 3, "box": [32, 16, 1]}, "'rank' is 3, but dq_accum has rank "
     "4"),
])
def test_bad_dq_accum_entry(change, message):
    m = backward_metadata()
    m["tensor_maps"][0].update(change)
    with pytest.raises(FAError) as e:
        _tensormap.parse_tensor_maps(m)
    assert message in str(e.value)
    assert str(e.value).startswith("kernel fa_attention_bwd_fused: ")


def test_dq_accum_only_in_backward_kernels():
    # A forward kernel's maps describe q, k, v or o only.
    m = backward_metadata()
    del m["backward"]
    with pytest.raises(FAError, match=r"'argument' is 7; tensor maps "
                       r"describe q, k, v or o \(arguments 0\.\.3\)"):
        _tensormap.parse_tensor_maps(m)
    # A backward kernel without dq_accum (backward-dq=stage).
    m = backward_metadata()
    m["arguments"][7]["name"] = "dq"
    with pytest.raises(FAError, match=r"'argument' is 7; tensor maps "
                       r"describe q, k, v, o or do \(arguments 0\.\.3, 4\)"):
        _tensormap.parse_tensor_maps(m)


def test_fused_backward_maps():
    # The hopper-ws fused kernel loads Q and dO (a block of 64 queries), K
    # and V (its tile of 128 keys) with TMA, then adds dQ to dq_accum.
    m = backward_metadata()
    m["tensor_maps"] = [entry(n, a, box=[64, rows, 1, 1])
                        for n, a, rows in (("q", 0, 64), ("k", 1, 128),
                                           ("v", 2, 128), ("do", 4, 64))
                        ] + m["tensor_maps"]
    maps = _tensormap.parse_tensor_maps(m)
    assert [(t.operand, t.argument, t.element_type, t.box) for t in maps] == [
        ("q", 0, "bf16", (64, 64, 1, 1)), ("k", 1, "bf16", (64, 128, 1, 1)),
        ("v", 2, "bf16", (64, 128, 1, 1)), ("do", 4, "bf16", (64, 64, 1, 1)),
        ("dq_accum", 7, "f32", (32, 16, 1, 1))]
    # do is a backward kernel's only.
    del m["backward"]
    with pytest.raises(FAError, match=r"\[3\] \('do'\): 'argument' is 4; "
                       r"tensor maps describe q, k, v or o"):
        _tensormap.parse_tensor_maps(m)


def test_dq_accum_tensor_map(fake_encoder):
    sizes = (2, 3, 100, 64)
    _driver.tensor_map(dq_accum_spec(), ADDRESS, sizes, contiguous(sizes))
    ((enc, operand),) = fake_encoder
    assert operand == "dq_accum"
    assert (enc.data_type, enc.global_strides) == (7, (256, 25600, 76800))


# --- tensors -> cuTensorMapEncodeTiled's arguments ----------------------------

def test_contiguous_bf16():
    sizes = [2, 3, 100, 128]
    enc = _tensormap.encoding(spec(), ADDRESS, sizes, contiguous(sizes))
    assert enc.data_type == 9 and enc.rank == 4
    assert enc.global_address == ADDRESS
    assert enc.global_dim == (128, 100, 3, 2)
    assert enc.global_strides == (256, 100 * 256, 3 * 100 * 256)
    assert enc.box_dim == (64, 128, 1, 1)
    assert enc.element_strides == (1, 1, 1, 1)
    assert (enc.interleave, enc.swizzle, enc.l2_promotion, enc.oob_fill) == (
        0, 3, 3, 0)
    assert enc.describe() == ("dims [128, 100, 3, 2], byte strides [256, "
                              "25600, 76800], box [64, 128, 1, 1]")


def test_gqa_k():
    # Two key/value heads for eight query heads: K is [2, 2, 100, 128].
    sizes = [2, 2, 100, 128]
    enc = _tensormap.encoding(spec("k", 1), ADDRESS, sizes, contiguous(sizes))
    assert enc.global_dim == (128, 100, 2, 2)
    assert enc.global_strides == (256, 25600, 51200)
    # K as a view of a packed [B, N, 2 (k/v), Hkv, D] tensor: strides not in
    # the order of the dimensions.
    packed = contiguous([2, 100, 2, 2, 128])
    strides = [packed[0], packed[3], packed[1], packed[4]]
    enc = _tensormap.encoding(spec("k", 1), ADDRESS + 2 * 128 * 2, sizes,
                              strides)
    assert enc.global_strides == (2 * 2 * 128 * 2, 128 * 2,
                                  100 * 2 * 2 * 128 * 2)


def test_zero_sizes_are_one():
    # Empty K (no keys): every stride unused, even torch's zero strides.
    sizes = [2, 3, 0, 128]
    for strides in ([0, 0, 128, 1], contiguous(sizes)):
        enc = _tensormap.encoding(spec("k", 1), 0, sizes, strides)
        assert enc.global_dim == (128, 1, 3, 2)
        assert enc.global_strides == (256, 256, 768)
    enc = _tensormap.encoding(spec(), ADDRESS, [0, 0, 0, 0], [0, 0, 0, 0])
    assert enc.global_dim == (1, 1, 1, 1)
    assert all(s % 16 == 0 and s > 0 for s in enc.global_strides)


def test_size_one_dims_with_odd_strides():
    # B = 1 and H = 1: their strides are never used, whatever they are.
    enc = _tensormap.encoding(spec(), ADDRESS, [1, 1, 100, 128],
                              [7, 3, 128, 1])
    assert enc.global_dim == (128, 100, 1, 1)
    assert enc.global_strides == (256, 25600, 25600)
    # N = 1 as well, and a single element row (D = 8, 16 bytes).
    enc = _tensormap.encoding(spec(box=(8, 1, 1, 1)), ADDRESS, [1, 1, 1, 8],
                              [5, 5, 5, 1])
    assert enc.global_strides == (16, 16, 16)


@pytest.mark.parametrize("operand, address, sizes, strides, message", [
    ("q", ADDRESS + 8, [2, 3, 100, 128], None,
     "tensor 'q': its data pointer 0x7f0000000008 is not 16-byte aligned "
     "(TMA tensor maps need 16-byte aligned addresses)"),
    ("k", ADDRESS, [2, 3, 100, 100], None,
     "tensor 'k': the stride of dimension 2 is 200 bytes, not a multiple of "
     "16 (TMA tensor maps need 16-byte strides)"),
    ("k", ADDRESS, [2, 3, 100, 128], [38400, 12800, 130, 1],
     "tensor 'k': the stride of dimension 2 is 260 bytes, not a multiple"),
    ("v", ADDRESS, [2, 3, 100, 128], [-38400, 12800, 128, 1],
     "tensor 'v': the stride of dimension 0 is -38400 elements (TMA tensor "
     "maps need non-negative strides)"),
    ("v", ADDRESS, [2, 3, 100, 128], [1 << 40, 12800, 128, 1],
     "tensor 'v': the stride of dimension 0 is 2199023255552 bytes, not "
     "below 2^40"),
    ("q", ADDRESS, [2, 3, 100, 128], [38400, 12800, 256, 2],
     "tensor 'q': the innermost dimension has stride 2, not 1 (TMA tensor "
     "maps need contiguous rows)"),
    ("q", ADDRESS, [1, 1, (1 << 32) + 1, 128], None,
     "tensor 'q': dimension 2 has 4294967297 elements, more than a TMA "
     "tensor map takes (2^32)"),
    ("q", ADDRESS, [3, 100, 128], [12800, 128, 1],
     "tensor 'q': it has rank 3, but its tensor map has rank 4"),
])
def test_bad_tensor(operand, address, sizes, strides, message):
    s = spec(operand, "qkv".index(operand))
    with pytest.raises(ValueError) as e:
        _tensormap.encoding(s, address, sizes, strides or contiguous(sizes))
    assert str(e.value).startswith(message)


def test_broadcast_strides():
    # An expanded K (stride 0 across heads): TMA reads the same rows again.
    enc = _tensormap.encoding(spec("k", 1), ADDRESS, [2, 8, 100, 128],
                              [12800, 0, 128, 1])
    assert enc.global_strides == (256, 0, 25600)


def test_largest_dim_is_fine():
    enc = _tensormap.encoding(spec(), ADDRESS, [1, 1, 1 << 32, 128],
                              contiguous([1, 1, 1 << 32, 128]))
    assert enc.global_dim[1] == 1 << 32


# --- the map cache and the launch ------------------------------------------

@pytest.fixture
def fake_encoder(monkeypatch):
    calls = []

    def encode(encoding, operand):
        calls.append((encoding, operand))
        return bytes([len(calls) % 256]) * 128

    monkeypatch.setattr(_driver, "encode_tensor_map", encode)
    monkeypatch.setattr(_driver, "_maps", type(_driver._maps)())
    return calls


def test_tensor_map_cache(fake_encoder):
    q = spec()
    sizes = (2, 3, 100, 128)
    strides = tuple(contiguous(sizes))
    first = _driver.tensor_map(q, ADDRESS, sizes, strides)
    assert _driver.tensor_map(q, ADDRESS, sizes, list(strides)) is first
    assert len(fake_encoder) == 1
    assert fake_encoder[0][1] == "q"
    assert fake_encoder[0][0].global_dim == (128, 100, 3, 2)
    # Another pointer, shape, stride or entry is another map.
    _driver.tensor_map(q, ADDRESS + 256, sizes, strides)
    _driver.tensor_map(q, ADDRESS, (2, 3, 99, 128), strides)
    _driver.tensor_map(spec(box=(64, 64, 1, 1)), ADDRESS, sizes, strides)
    assert len(fake_encoder) == 4
    # Bounded: the least recently used maps go first.
    for i in range(100):
        _driver.tensor_map(q, ADDRESS + 1024 * (i + 1), sizes, strides)
    assert len(_driver._maps) == _driver._MAP_CACHE_SIZE
    _driver.tensor_map(q, ADDRESS, sizes, strides)
    assert len(fake_encoder) == 105
    # Bad tensors are not cached (and raise every time).
    for _ in range(2):
        with pytest.raises(ValueError, match="not 16-byte aligned"):
            _driver.tensor_map(q, ADDRESS + 2, sizes, strides)


class _FakeDriver:
    """cuLaunchKernel that reads back the parameters it is given."""

    def __init__(self, n_args, n_maps):
        self.n_args, self.n_maps = n_args, n_maps
        self.values, self.maps = None, None

    def cuLaunchKernel(self, function, gx, gy, gz, bx, by, bz, shared,
                       stream, params, extra):
        pointers = [params[i] for i in range(self.n_args + self.n_maps)]
        self.values = [ctypes.c_int64.from_address(p).value
                       for p in pointers[:self.n_args]]
        self.maps = [(p, ctypes.string_at(p, 128))
                     for p in pointers[self.n_args:]]
        return 0


def _kernel(n_maps):
    kernel = object.__new__(_driver.LoadedKernel)
    kernel.name, kernel.function, kernel.threads, kernel.shared = (
        "fa_attention_tma", None, 384, 0)
    kernel.tensor_maps = (spec(),) * n_maps
    return kernel


@pytest.mark.parametrize("n_maps", [0, 3])
def test_launch_lays_out_maps(monkeypatch, n_maps):
    args = [ADDRESS, ADDRESS, 0, 2, 3, 100, 128, 38400, 12800, 128, 1, -5]
    driver = _FakeDriver(len(args), n_maps)
    monkeypatch.setattr(_driver, "cuda", lambda: driver)
    blobs = [bytes(range(i, i + 128)) for i in range(n_maps)]
    _kernel(n_maps).launch((1, 3, 2), args, 0, blobs)
    assert driver.values == args
    assert [blob for _, blob in driver.maps] == blobs
    assert all(p % 64 == 0 for p, _ in driver.maps)


def test_launch_checks_maps(monkeypatch):
    monkeypatch.setattr(_driver, "cuda", lambda: _FakeDriver(1, 0))
    with pytest.raises(FAError, match="takes 3 tensor map"):
        _kernel(3).launch((1, 1, 1), [0], 0)
    with pytest.raises(FAError, match="has 127 bytes, not 128"):
        _kernel(1).launch((1, 1, 1), [0], 0, [bytes(127)])


def test_metadata_is_not_modified():
    m = metadata()
    before = copy.deepcopy(m)
    _tensormap.parse_tensor_maps(m)
    assert m == before


@pytest.mark.parametrize("resident, tiles, expected", [
    (None, (8, 16, 2), [8, 16, 2]),     # one block per tile
    (132, (8, 16, 2), [132, 1, 1]),     # a persistent kernel: resident blocks
    (132, (3, 2, 1), [6, 1, 1]),        # never more blocks than tiles
])
def test_persistent_grid(resident, tiles, expected):
    kernel = _kernel(3)
    kernel.resident_blocks = resident
    assert kernel.grid(tiles) == expected
