"""An emulator of a programmable fa.attention kernel in torch: it evaluates
the score_mod / mask_mod region *text* of an AttentionSpec (as the compiler
receives it) over whole index grids, with the captures in kernel-argument
order, and computes attention with the op's semantics
(docs/ProgrammableAttention.md) in float32.

Used to check everything on the Python side of the launch (tracing, the
spec, the order and types of captures) against the independent reference
of mods_cases.py without a compiler or a GPU:

    out, lse = run(spec, q, k, v, captures)
"""

import math
import re

import torch

_HEADER = re.compile(r"\^bb0\((.*)\):")
_LINE = re.compile(r"(%\w+) = ([\w.]+) ?(.*)")
_F32_HEX = re.compile(r"0x[0-9A-Fa-f]{8}")


def _literal(text):
    if _F32_HEX.fullmatch(text):
        bits = torch.tensor([int(text, 16)], dtype=torch.int64).to(
            torch.int32)
        return bits.view(torch.float32)[0].item()
    return float(text)


def _cmp(pred, a, b):
    return {"slt": lambda: a < b, "sle": lambda: a <= b,
            "sgt": lambda: a > b, "sge": lambda: a >= b,
            "ult": lambda: a < b, "ule": lambda: a <= b,
            "ugt": lambda: a > b, "uge": lambda: a >= b,
            "eq": lambda: a == b, "ne": lambda: a != b,
            "olt": lambda: a < b, "ole": lambda: a <= b,
            "ogt": lambda: a > b, "oge": lambda: a >= b,
            "oeq": lambda: a == b, "une": lambda: ~(a == b)}[pred]()


_MATH = {"tanh": torch.tanh, "exp": torch.exp, "exp2": torch.exp2,
         "expm1": torch.expm1, "log": torch.log, "log2": torch.log2,
         "log10": torch.log10, "log1p": torch.log1p, "sqrt": torch.sqrt,
         "rsqrt": torch.rsqrt, "sin": torch.sin, "cos": torch.cos,
         "tan": torch.tan, "sinh": torch.sinh, "cosh": torch.cosh,
         "atan": torch.atan, "erf": torch.erf, "floor": torch.floor,
         "ceil": torch.ceil, "trunc": torch.trunc, "roundeven": torch.round,
         "absf": torch.abs}


def evaluate(region, args, captures):
    """The yielded tensor of `region` for block argument tensors `args`
    (broadcastable; score float32, indices int64) and capture tensors."""
    lines = [l.strip() for l in region.strip().split("\n")]
    names = [p.split(":")[0].strip()
             for p in _HEADER.fullmatch(lines[0]).group(1).split(",")]
    assert len(names) == len(args) + len(captures), (names, len(captures))
    env = dict(zip(names, list(args) + list(captures)))
    device = args[-1].device
    for line in lines[1:]:
        if line.startswith("fa.yield"):
            return env[line.split()[1]]
        result, op, rest = _LINE.fullmatch(line).groups()
        env[result] = _step(op, rest, env, device)
    raise AssertionError("no fa.yield")


def _step(op, rest, env, device):
    body, _, type_ = rest.rpartition(" : ")
    if op == "arith.constant":
        if rest in ("true", "false"):
            return torch.tensor(rest == "true", device=device)
        literal, _, t = rest.partition(" : ")
        if t.startswith("f"):
            return torch.tensor(_literal(literal), dtype=torch.float32,
                                device=device)
        return torch.tensor(int(literal), dtype=torch.int64, device=device)
    if op == "tensor.extract":
        cap, idx = re.fullmatch(r"(%\w+)\[(.*)\]", body).groups()
        index = tuple(env[i.strip()] for i in idx.split(",") if i.strip())
        array = env[cap]
        if not index:
            return array.reshape(())
        for i, n in zip(index, array.shape):
            assert bool(((i >= 0) & (i < n)).all()), "out of bounds"
        return array[index]
    if op == "tensor.dim":
        cap, d = [s.strip() for s in body.split(",")]
        return torch.tensor(env[cap].shape[int(env[d])], device=device)
    ops = [env[n] for n in re.findall(r"%\w+", body)]
    if op in ("arith.cmpi", "arith.cmpf"):
        return _cmp(body.split(",")[0], *ops)
    if op == "arith.select":
        return torch.where(*ops)
    if op in ("arith.index_cast", "arith.index_castui"):
        return ops[0].long()  # uint8 data stays unsigned, i1 is 0/1
    if op in ("arith.sitofp", "arith.uitofp", "arith.extf", "arith.truncf"):
        return ops[0].float()
    if op == "arith.fptosi":
        return ops[0].trunc().long()
    if op == "arith.negf":
        return -ops[0]
    if op.startswith("math."):
        name = op[5:]
        if name == "powf":
            return torch.pow(*ops)
        if name == "atan2":
            return torch.atan2(*ops)
        if name == "copysign":
            return torch.copysign(*ops)
        return _MATH[name](ops[0])
    a, b = ops
    return {"arith.addf": torch.add, "arith.subf": torch.sub,
            "arith.mulf": torch.mul, "arith.divf": torch.div,
            "arith.remf": torch.fmod, "arith.maximumf": torch.maximum,
            "arith.minimumf": torch.minimum, "arith.maxnumf": torch.fmax,
            "arith.minnumf": torch.fmin, "arith.addi": torch.add,
            "arith.subi": torch.sub, "arith.muli": torch.mul,
            "arith.floordivsi": lambda x, y: torch.div(
                x, y, rounding_mode="floor"),
            "arith.divsi": lambda x, y: torch.div(x, y, rounding_mode="trunc"),
            "arith.maxsi": torch.maximum, "arith.minsi": torch.minimum,
            "arith.andi": torch.bitwise_and, "arith.ori": torch.bitwise_or,
            "arith.xori": torch.bitwise_xor,
            "arith.shli": torch.bitwise_left_shift,
            "arith.shrsi": torch.bitwise_right_shift}[op](a, b)


def run(spec, q, k, v, captures=()):
    """(out, lse) of the kernel `spec` describes; captures in kernel
    argument order (as fa_mlir.torch passes them)."""
    assert len(captures) == len(spec.captures)
    for c, t in zip(captures, spec.captures):
        element = {torch.float32: "f32", torch.float16: "f16",
                   torch.bfloat16: "bf16", torch.float64: "f64",
                   torch.int8: "i8", torch.uint8: "i8", torch.int16: "i16",
                   torch.int32: "i32", torch.int64: "i64",
                   torch.bool: "i1"}[c.dtype]
        assert t == "tensor<" + "?x" * c.dim() + element + ">", (t, c.dtype)
    b, hq, nq, d = q.shape
    group = hq // k.shape[1]
    k = k.repeat_interleave(group, dim=1).float()
    v = v.repeat_interleave(group, dim=1).float()
    nk = k.shape[2]
    scale = spec.scale if spec.scale is not None else 1 / math.sqrt(d)
    s = torch.matmul(q.float(), k.transpose(-1, -2)) * scale
    dev = q.device
    grid = (torch.arange(b, device=dev)[:, None, None, None],
            torch.arange(hq, device=dev)[None, :, None, None],
            torch.arange(nq, device=dev)[None, None, :, None],
            torch.arange(nk, device=dev)[None, None, None, :])
    if spec.score_mod is not None:
        s = evaluate(spec.score_mod, (s,) + grid, captures).float()
        s = s.expand(b, hq, nq, nk)
    keep = torch.ones((b, hq, nq, nk), dtype=torch.bool, device=dev)
    if spec.mask_mod is not None:
        keep = keep & evaluate(spec.mask_mod, grid, captures)
    if spec.causal:
        shift = 0 if spec.causal == "top_left" else nk - nq
        keep = keep & (grid[3] <= grid[2] + shift)
    s = s.masked_fill(~keep, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    empty = torch.isneginf(lse)
    p = torch.softmax(s.masked_fill(empty[..., None], 0.0), dim=-1)
    out = (p @ v).masked_fill(empty[..., None], 0.0).to(q.dtype)
    return out, (lse if spec.lse else None)
