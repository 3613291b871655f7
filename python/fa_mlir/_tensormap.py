"""TMA tensor maps from a kernel's launch metadata, without a GPU.

Kernels that load operands with TMA (cp.async.bulk.tensor: the hopper-ws
strategy) list one "tensor_maps" entry per such operand in their metadata:

    {"operand": "k", "argument": 1, "element_type": "bf16", "rank": 4,
     "box": [64, 128, 1, 1], "swizzle": "128B", "interleave": "none",
     "l2_promotion": "256B", "oob_fill": "zeros"}

Each becomes a 128-byte CUtensorMap, encoded on the host by the driver's
cuTensorMapEncodeTiled (fa_mlir._driver.tensor_map) and passed by value
after the memref descriptors of all arguments, in the order of the list.
"argument" indexes "arguments"; "box" is innermost first, as TMA counts
dimensions. A map describes q, k, v or o (arguments 0..3, bf16 or f16) or,
in a backward kernel (metadata "backward"), do (the output's gradient,
argument 4) or its f32 dQ accumulator:

    {"operand": "dq_accum", "argument": 7, "element_type": "f32", "rank": 4,
     "box": [32, 16, 1, 1], ...}

This module is the pure part: `parse_tensor_maps` checks the entries
(FAError: the metadata is wrong) and `encoding` turns one entry and a
tensor's data pointer, sizes and element strides into the arguments of
cuTensorMapEncodeTiled (ValueError: TMA cannot read that tensor).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from ._capi import FAError

# CUtensorMapDataType, and the element size, per metadata element type.
DATA_TYPES = {"bf16": 9, "f16": 6, "f32": 7}
ELEMENT_BYTES = {"bf16": 2, "f16": 2, "f32": 4}
INTERLEAVES = {"none": 0}
SWIZZLES = {"none": 0, "32B": 1, "64B": 2, "128B": 3}
L2_PROMOTIONS = {"none": 0, "64B": 1, "128B": 2, "256B": 3}
OOB_FILLS = {"zeros": 0, "nan": 1}
# The [B, H, N, D] operands a map may describe: q, k, v, o (arguments
# 0..3) and, in a backward kernel, the arguments named do (the output's
# gradient) and dq_accum (the f32 dQ accumulator of
# backward-dq=accumulate) wherever "arguments" lists them.
OPERANDS = ("q", "k", "v", "o")
OPERAND_ARGUMENTS = range(4)
BACKWARD_OPERANDS = ("do", "dq_accum")

MAX_RANK = 5
MAX_BOX = 256
MAX_DIM = 1 << 32  # elements, inclusive
STRIDE_LIMIT = 1 << 40  # bytes, exclusive


@dataclasses.dataclass(frozen=True)
class TensorMapSpec:
    """One "tensor_maps" entry, its strings as the driver's enum values."""

    operand: str
    argument: int
    element_type: str
    rank: int
    box: tuple[int, ...]  # innermost first
    data_type: int
    element_bytes: int
    interleave: int
    swizzle: int
    l2_promotion: int
    oob_fill: int


@dataclasses.dataclass(frozen=True)
class Encoding:
    """The arguments of cuTensorMapEncodeTiled (innermost dimension first;
    global_strides in bytes, of dimensions 1..rank-1)."""

    data_type: int
    rank: int
    global_address: int
    global_dim: tuple[int, ...]
    global_strides: tuple[int, ...]
    box_dim: tuple[int, ...]
    element_strides: tuple[int, ...]
    interleave: int
    swizzle: int
    l2_promotion: int
    oob_fill: int

    def describe(self) -> str:
        return (f"dims {list(self.global_dim)}, byte strides "
                f"{list(self.global_strides)}, box {list(self.box_dim)}")


def _field(entry: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in entry:
        raise FAError(f"{where}: lacks {key!r}")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FAError(f"{where}: {key!r} must be "
                      f"{'a string' if kind is str else 'an integer'}, got "
                      f"{value!r}")
    return value


def _enum(entry: Mapping[str, Any], key: str, values: Mapping[str, int],
          where: str) -> int:
    text = _field(entry, key, str, where)
    if text not in values:
        raise FAError(f"{where}: unknown {key!r} value {text!r} (expected "
                      f"{', '.join(values)})")
    return values[text]


def _operand_arguments(arguments: Sequence[Mapping[str, Any]],
                       backward: bool) -> dict[str, int]:
    """The operands a tensor map may describe, by name, and their argument
    indexes: q, k, v, o, and do and dq_accum of a backward kernel that
    takes them."""
    operands = dict(zip(OPERANDS, OPERAND_ARGUMENTS))
    if backward:
        for i, described in enumerate(arguments):
            name = (described.get("name") if isinstance(described, Mapping)
                    else None)
            if name in BACKWARD_OPERANDS:
                operands.setdefault(name, i)
    return operands


def _or_list(items: Sequence[str]) -> str:
    return (", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1
            else "".join(items))


def parse_tensor_map(entry: Any, arguments: Sequence[Mapping[str, Any]],
                     index: int = 0, kernel: str = "?",
                     backward: bool = False) -> TensorMapSpec:
    """Checks "tensor_maps"[index] of `kernel` against its "arguments"
    (`backward`: of a backward kernel, whose map may describe do and
    dq_accum too); FAError says what is wrong."""
    where = f"kernel {kernel}: \"tensor_maps\"[{index}]"
    if not isinstance(entry, Mapping):
        raise FAError(f"{where}: must be an object, got {entry!r}")
    operand = _field(entry, "operand", str, where)
    argument = _field(entry, "argument", int, where)
    element_type = _field(entry, "element_type", str, where)
    rank = _field(entry, "rank", int, where)
    if element_type not in DATA_TYPES:
        raise FAError(f"{where}: unsupported tensor map element type "
                      f"{element_type!r} ({_or_list(list(DATA_TYPES))})")
    element_bytes = ELEMENT_BYTES[element_type]
    if not 1 <= rank <= MAX_RANK:
        raise FAError(f"{where}: 'rank' is {rank}, not in 1..{MAX_RANK}")
    interleave = _enum(entry, "interleave", INTERLEAVES, where)
    swizzle = _enum(entry, "swizzle", SWIZZLES, where)
    l2_promotion = _enum(entry, "l2_promotion", L2_PROMOTIONS, where)
    oob_fill = _enum(entry, "oob_fill", OOB_FILLS, where)

    box = entry.get("box")
    if not isinstance(box, (list, tuple)) or not all(
            isinstance(b, int) and not isinstance(b, bool) for b in box):
        raise FAError(f"{where}: 'box' must be a list of integers, got "
                      f"{box!r}")
    if len(box) != rank:
        raise FAError(f"{where}: 'box' has {len(box)} entries, but 'rank' "
                      f"is {rank}")
    for i, b in enumerate(box):
        if not 1 <= b <= MAX_BOX:
            raise FAError(f"{where}: box[{i}] = {b} is not in 1..{MAX_BOX}")
    row = box[0] * element_bytes
    if row % 16:
        raise FAError(f"{where}: box[0] = {box[0]} elements is {row} bytes, "
                      f"not a multiple of 16 (TMA boxes need 16-byte rows)")
    span = 16 << swizzle if swizzle else 0
    if span and row > span:
        raise FAError(f"{where}: box[0] = {box[0]} elements is {row} bytes, "
                      f"more than the {span} bytes a {span}B swizzle spans")

    where += f" ({operand!r})"
    operands = _operand_arguments(arguments, backward)
    if argument not in operands.values() or argument >= len(arguments):
        extra = [str(i) for i in operands.values()
                 if i not in OPERAND_ARGUMENTS]
        raise FAError(f"{where}: 'argument' is {argument}; tensor maps "
                      f"describe {_or_list(list(operands))} (arguments "
                      f"{', '.join(['0..3'] + extra)})")
    described = arguments[argument]
    name = described.get("name")
    if name != operand:
        raise FAError(f"{where}: argument {argument} is {name!r}, not "
                      f"{operand!r}")
    if described.get("rank") != rank:
        raise FAError(f"{where}: 'rank' is {rank}, but {name} has rank "
                      f"{described.get('rank')}")
    if described.get("element_type") != element_type:
        raise FAError(f"{where}: 'element_type' is {element_type}, but "
                      f"{name} is {described.get('element_type')}")
    return TensorMapSpec(operand, argument, element_type, rank, tuple(box),
                         DATA_TYPES[element_type], element_bytes, interleave,
                         swizzle, l2_promotion, oob_fill)


def parse_tensor_maps(metadata: Mapping[str, Any]) -> tuple[TensorMapSpec,
                                                             ...]:
    """The checked "tensor_maps" of a kernel's metadata (none when the key
    is absent: kernels without TMA loads)."""
    entries = metadata.get("tensor_maps")
    if entries is None:
        return ()
    kernel = metadata.get("kernel", "?")
    if not isinstance(entries, list):
        raise FAError(f"kernel {kernel}: \"tensor_maps\" must be a list, got "
                      f"{entries!r}")
    arguments = metadata.get("arguments", [])
    backward = "backward" in metadata
    return tuple(parse_tensor_map(e, arguments, i, kernel, backward)
                 for i, e in enumerate(entries))


def encoding(spec: TensorMapSpec, address: int, sizes: Sequence[int],
             strides: Sequence[int]) -> Encoding:
    """The cuTensorMapEncodeTiled arguments for the tensor of `spec` whose
    data starts at `address`, with `sizes` and element `strides` outermost
    first (as torch and memref descriptors give them). A size of 0 is
    encoded as 1, and strides that are never used (of a dimension of size
    1; all of them when a size is 0: the kernel never loads from an empty
    tensor) are replaced by valid ones. ValueError when TMA cannot read the
    tensor."""
    tensor = f"tensor {spec.operand!r}"
    rank = spec.rank
    if len(sizes) != rank or len(strides) != rank:
        raise ValueError(f"{tensor}: it has rank {len(sizes)}, but its "
                         f"tensor map has rank {rank}")
    if address % 16:
        raise ValueError(f"{tensor}: its data pointer {address:#x} is not "
                         f"16-byte aligned (TMA tensor maps need 16-byte "
                         f"aligned addresses)")
    for d, size in enumerate(sizes):
        if size < 0:
            raise ValueError(f"{tensor}: dimension {d} has size {size}")
        if size > MAX_DIM:
            raise ValueError(f"{tensor}: dimension {d} has {size} elements, "
                             f"more than a TMA tensor map takes (2^32)")
    empty = 0 in sizes
    if not empty and sizes[-1] > 1 and strides[-1] != 1:
        raise ValueError(f"{tensor}: the innermost dimension has stride "
                         f"{strides[-1]}, not 1 (TMA tensor maps need "
                         f"contiguous rows)")

    element = spec.element_bytes
    global_dim = tuple(max(size, 1) for size in reversed(sizes))
    global_strides: list[int] = []
    for i in range(rank - 1):
        d = rank - 2 - i  # the tensor's dimension of TMA dimension i + 1
        if empty or sizes[d] <= 1:
            # Never used: the next-inner dimension's extent, rounded up.
            inner = global_strides[i - 1] if i else element
            extent = -(-global_dim[i] * inner // 16) * 16
            global_strides.append(extent if extent < STRIDE_LIMIT else 16)
            continue
        which = f"{tensor}: the stride of dimension {d}"
        stride = strides[d] * element
        if stride < 0:
            raise ValueError(f"{which} is {strides[d]} elements (TMA tensor "
                             f"maps need non-negative strides)")
        if stride >= STRIDE_LIMIT:
            raise ValueError(f"{which} is {stride} bytes, not below 2^40 (the "
                             f"most a TMA tensor map takes)")
        if stride % 16:
            raise ValueError(f"{which} is {stride} bytes, not a multiple of "
                             f"16 (TMA tensor maps need 16-byte strides)")
        global_strides.append(stride)
    return Encoding(spec.data_type, rank, address, global_dim,
                    tuple(global_strides), spec.box, (1,) * rank,
                    spec.interleave, spec.swizzle, spec.l2_promotion,
                    spec.oob_fill)
