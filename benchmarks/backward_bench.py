"""Time fa-mlir's backward kernels against PyTorch's cuDNN and
FlashAttention-2 backward (SDPA backends) in one process.

The kernels come from `make_kernels.py --backward` (<dir>/bwd_<dtype>_d<D>_
<causal>.{0,1,2}.{cubin,json}); they are launched through fa_mlir's driver
on the same torch tensors SDPA differentiates. TFLOP/s count the backward as
2.5 times the forward's FLOPs (4 B H Nq Nk D, halved when causal), as
../shared/ANCHORS.md does. Each time is the median of --iters launches
after a warm-up, with CUDA events. Our gradients are also compared with
cuDNN's (max |difference|), as a sanity check; fa-runner is the checker.

    python3 benchmarks/backward_bench.py --kernels build/gpu-bwd/k
"""
import argparse
import json
import math
import os
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
from fa_mlir import _driver  # noqa: E402
from fa_mlir.compiler import CompiledKernel  # noqa: E402
from fa_mlir.torch import _tensor_maps  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}


def load_backward(prefix):
    """The three kernels at prefix.{0,1,2}, in launch order (delta,
    key_value, query; or delta, fused, dq_convert)."""
    kernels = []
    for i in range(3):
        with open(f"{prefix}.{i}.json") as f:
            metadata = json.load(f)
        with open(f"{prefix}.{i}.cubin", "rb") as f:
            cubin = f.read()
        kernels.append((_driver.LoadedKernel(CompiledKernel(
            metadata["kernel"], "", cubin, metadata)), metadata))
    return kernels


def memref(t):
    return [t.data_ptr(), t.data_ptr(), 0, *t.shape, *t.stride()]


def grid(metadata, tensors):
    dims = []
    for g in metadata["grid"]:
        value = tensors[g["arg"]].shape[g["dim"]]
        if "ceildiv" in g:
            value = -(-value // g["ceildiv"])
        dims.append(value)
    return dims


def timed(fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, stop = (torch.cuda.Event(enable_timing=True),
                       torch.cuda.Event(enable_timing=True))
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def forward_lse(q, k, v, causal, scale):
    """O and the natural-log LSE in fp32, a head at a time."""
    b, h, n, d = q.shape
    group = h // k.shape[1]
    out = torch.empty_like(q)
    lse = torch.empty(b, h, n, device=q.device, dtype=torch.float32)
    for bi in range(b):
        for hi in range(h):
            s = (q[bi, hi].float() @ k[bi, hi // group].float().T) * scale
            if causal:
                s.masked_fill_(torch.ones_like(s, dtype=torch.bool).triu(
                    1 + k.shape[2] - n), float("-inf"))
            lse[bi, hi] = torch.logsumexp(s, -1)
            p = torch.exp(s - lse[bi, hi, :, None])
            out[bi, hi] = (p @ v[bi, hi // group].float()).to(q.dtype)
    return out, lse


def training_table(args):
    """Forward + backward through autograd: fa_mlir.torch.attention,
    SDPA's cuDNN and FlashAttention-2 backends and FlexAttention (compiled),
    on the same tensors; TFLOP/s count 3.5 times the forward's FLOPs."""
    from fa_mlir.torch import attention as fa_attention
    try:
        from torch.nn.attention.flex_attention import (create_block_mask,
                                                       flex_attention)
        flex = torch.compile(flex_attention)
    except ImportError:
        flex = None
    print("| dtype | D | causal | N | fa-mlir TFLOP/s | cuDNN | FA2 | Flex | "
          "vs cuDNN | vs FA2 | vs Flex |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dtype in args.dtypes.split(","):
        for d in map(int, args.head_dims.split(",")):
            for causal in args.causal.split(","):
                is_causal = causal != "none"
                for n in map(int, args.lengths.split(",")):
                    heads = 16
                    batch = max(1, args.tokens // n // heads)
                    shape = (batch, heads, n, d)
                    q, k, v, do = (torch.randn(shape, device="cuda",
                                               dtype=DTYPES[dtype])
                                   for _ in range(4))
                    flops = 3.5 * 4 * batch * heads * n * n * d
                    if is_causal:
                        flops /= 2
                    runs = {
                        "ours": lambda a, b, c: fa_attention(
                            a, b, c, is_causal=is_causal),
                    }
                    for name, backend in (("cudnn",
                                           SDPBackend.CUDNN_ATTENTION),
                                          ("fa2", SDPBackend.FLASH_ATTENTION)):
                        def run(a, b, c, backend=backend):
                            with sdpa_kernel(backend):
                                return F.scaled_dot_product_attention(
                                    a, b, c, is_causal=is_causal)
                        runs[name] = run
                    if flex is not None:
                        mask = None
                        if is_causal:
                            mask = create_block_mask(
                                lambda b, h, i, j: j <= i, None, None, n, n)
                        runs["flex"] = lambda a, b, c, mask=mask: flex(
                            a, b, c, block_mask=mask)
                    tflops = {}
                    for name, fn in runs.items():
                        qq, kk, vv = (x.detach().requires_grad_()
                                      for x in (q, k, v))

                        def step():
                            out = fn(qq, kk, vv)
                            torch.autograd.grad(out, (qq, kk, vv), do)
                        try:
                            ms = timed(step, args.iters)
                            tflops[name] = flops / ms / 1e9
                        except Exception as error:  # a backend may refuse
                            print(f"({name}: {error})", file=sys.stderr)
                    ours = tflops.get("ours")
                    row = [dtype, d, causal, n]
                    row += [f"{tflops[k]:.0f}" if k in tflops else "-"
                            for k in ("ours", "cudnn", "fa2", "flex")]
                    row += [f"{ours / tflops[k]:.2f}x"
                            if ours and k in tflops else "-"
                            for k in ("cudnn", "fa2", "flex")]
                    print("| " + " | ".join(map(str, row)) + " |",
                          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels",
                        help="the backward kernels' directory (not needed "
                             "with --training)")
    parser.add_argument("--suffix", default="",
                        help="of the kernels' names (make_kernels.py "
                             "--suffix), e.g. _stage for kernels compiled "
                             "with --backward-dq=stage")
    parser.add_argument("--dtypes", default="bf16")
    parser.add_argument("--head-dims", default="64,128")
    parser.add_argument("--causal", default="none,bottom_right")
    parser.add_argument("--lengths", default="4096,16384")
    parser.add_argument("--tokens", type=int, default=65536,
                        help="B * H * N per shape (16 heads)")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--training", action="store_true",
                        help="time forward + backward through autograd "
                             "(fa_mlir.torch, cuDNN, FA2, FlexAttention) "
                             "instead of the backward kernels")
    args = parser.parse_args()
    if args.training:
        torch.zeros(1, device="cuda")
        print(f"device: {torch.cuda.get_device_name()}, torch "
              f"{torch.__version__}")
        training_table(args)
        return
    torch.manual_seed(0)
    torch.zeros(1, device="cuda")  # a current CUDA context for the driver
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| dtype | D | causal | N | B x H | fa-mlir ms | TFLOP/s | "
          "cuDNN TFLOP/s | FA2 TFLOP/s | vs cuDNN | vs FA2 | "
          "max|dQ,dK,dV - cuDNN| | ms per kernel |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for dtype in args.dtypes.split(","):
        for d in map(int, args.head_dims.split(",")):
            for causal in args.causal.split(","):
                prefix = os.path.join(args.kernels,
                                      f"bwd_{dtype}_d{d}_{causal}{args.suffix}")
                if not os.path.exists(prefix + ".0.json"):
                    continue
                stages = load_backward(prefix)
                for n in map(int, args.lengths.split(",")):
                    heads = 16
                    batch = max(1, args.tokens // n // heads)
                    shape = (batch, heads, n, d)
                    t = DTYPES[dtype]
                    q, k, v, do = (torch.randn(shape, device="cuda", dtype=t)
                                   for _ in range(4))
                    scale = 1 / math.sqrt(d)
                    is_causal = causal != "none"
                    o, lse = forward_lse(q, k, v, is_causal, scale)
                    delta = torch.empty_like(lse)
                    dq, dk, dv = (torch.empty_like(x) for x in (q, k, v))
                    scratch = [delta]
                    if stages[1][1]["backward"]["stage"] == "fused":
                        scratch.append(torch.empty(q.shape, device="cuda",
                                                   dtype=torch.float32))
                    tensors = [q, k, v, o, do, lse, *scratch, dq, dk, dv]
                    flat = [x for tensor in tensors for x in memref(tensor)]
                    stream = torch.cuda.current_stream().cuda_stream
                    # The TMA maps a kernel takes (the hopper-ws fused
                    # kernel's of dq_accum), encoded once like the grids.
                    launches = [(kernel, grid(meta, tensors),
                                 _tensor_maps(kernel, tensors))
                                for kernel, meta in stages]

                    def ours():
                        for kernel, g, maps in launches:
                            kernel.launch(g, flat, stream, maps)
                    ms = timed(ours, args.iters)
                    stage_ms = []
                    for kernel, g, maps in launches:
                        stage_ms.append(timed(
                            lambda kernel=kernel, g=g, maps=maps:
                            kernel.launch(g, flat, stream, maps),
                            args.iters))
                    flops = 2.5 * 4 * batch * heads * n * n * d
                    if is_causal:
                        flops /= 2
                    row = [dtype, d, causal, n, f"{batch} x {heads}",
                           f"{ms:.3f}", f"{flops / ms / 1e9:.0f}"]
                    ref = {}
                    for name, backend in (("cudnn",
                                           SDPBackend.CUDNN_ATTENTION),
                                          ("fa2", SDPBackend.FLASH_ATTENTION)):
                        qq, kk, vv = (x.detach().requires_grad_()
                                      for x in (q, k, v))
                        try:
                            with sdpa_kernel(backend):
                                out = F.scaled_dot_product_attention(
                                    qq, kk, vv, is_causal=is_causal)

                                def grad():
                                    return torch.autograd.grad(
                                        out, (qq, kk, vv), do,
                                        retain_graph=True)
                                ref[name] = grad()
                                ref[name + "_ms"] = timed(grad, args.iters)
                        except RuntimeError as error:
                            ref[name + "_ms"] = None
                            print(f"({name} unavailable: {error})",
                                  file=sys.stderr)
                    for name in ("cudnn", "fa2"):
                        t_ms = ref.get(name + "_ms")
                        row.append(f"{flops / t_ms / 1e9:.0f}" if t_ms else "-")
                    for name in ("cudnn", "fa2"):
                        t_ms = ref.get(name + "_ms")
                        row.append(f"{t_ms / ms:.2f}x" if t_ms else "-")
                    ours()
                    torch.cuda.synchronize()
                    if "cudnn" in ref:
                        err = max((a.float() - b.float()).abs().max().item()
                                  for a, b in zip((dq, dk, dv), ref["cudnn"]))
                        row.append(f"{err:.2e}")
                    else:
                        row.append("-")
                    row.append(" / ".join(
                        f"{meta['backward']['stage']} {t:.3f}"
                        for (_, meta), t in zip(stages, stage_ms)))
                    print("| " + " | ".join(map(str, row)) + " |",
                          flush=True)
                    del q, k, v, do, o, lse, delta, dq, dk, dv, ref, scratch
                    del tensors


if __name__ == "__main__":
    main()
