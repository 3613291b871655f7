#!/usr/bin/env python3
"""Host and GPU time of one training step (forward + backward) at N = 4096.

    python3 benchmarks/training_host.py [--rounds 3]

fa_mlir.torch.attention (eager: its autograd.Function), the same call
through the custom op torch.ops.fa_mlir.attention (what torch.compile
sees; its dispatch is the difference) and SDPA's cuDNN backend, bf16,
B 1, 16 heads, D 64/128, no mask and bottom-right causal. Per contender:
the median over 40 steps of the host time to issue a step (from before
the forward to after autograd.grad returns, no synchronization inside)
and of the GPU time between events recorded around it; contenders
alternate within each round. When the host time nears the GPU time the
GPU waits for the host.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import fa_mlir.torch as fat


def measure(fn, q, k, v, do, steps=40):
    qq, kk, vv = (x.detach().requires_grad_() for x in (q, k, v))

    def step():
        torch.autograd.grad(fn(qq, kk, vv), (qq, kk, vv), do)
    for _ in range(5):
        step()
    host, gpu = [], []
    for _ in range(steps):
        torch.cuda.synchronize()
        start, stop = (torch.cuda.Event(enable_timing=True),
                       torch.cuda.Event(enable_timing=True))
        t0 = time.perf_counter()
        start.record()
        step()
        stop.record()
        t1 = time.perf_counter()
        stop.synchronize()
        host.append((t1 - t0) * 1e3)
        gpu.append(start.elapsed_time(stop))
    return statistics.median(host), statistics.median(gpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| D | causal | round | eager host / GPU ms | op host / GPU ms "
          "| cuDNN host / GPU ms |")
    print("|---|---|---|---|---|---|")
    for d in (128, 64):
        for causal in (None, "bottom_right"):
            shape = (1, 16, 4096, d)
            q, k, v, do = (torch.randn(shape, device="cuda",
                                       dtype=torch.bfloat16)
                           for _ in range(4))

            def cudnn(a, b, c):
                with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                    return F.scaled_dot_product_attention(
                        a, b, c, is_causal=causal is not None)
            runs = {
                "eager": lambda a, b, c: fat.attention(
                    a, b, c, is_causal=causal is not None,
                    causal_alignment=causal or "top_left"),
                "op": lambda a, b, c: torch.ops.fa_mlir.attention(
                    a, b, c, [], causal, None, True, None, False, None)[0],
                "cudnn": cudnn,
            }
            for r in range(args.rounds):
                cells = [f"{h:.3f} / {g:.3f}" for h, g in
                         (measure(fn, q, k, v, do) for fn in runs.values())]
                print(f"| {d} | {causal or 'none'} | {r + 1} | "
                      + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
