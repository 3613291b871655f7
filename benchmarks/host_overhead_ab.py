#!/usr/bin/env python3
"""Host time of one eager decode call: the launcher against its 2026-12-02 predecessor.

    python3 benchmarks/host_overhead_ab.py

fa_mlir.torch.attention for B 8, Hq 32, Hkv 8, Nq 1, Nk 8192, D 128, bf16
(the split-KV path), 400 calls without synchronizing, in 6 rounds that
alternate the current code ("new") and the previous one ("old"): specs
built and checked on every call (AttentionSpec, dataclasses.replace for
the packed heads) and a launcher that took the address of each kernel
argument separately, restated here. Prints each one's median host
microseconds per call, and checks that both give the same output.
"""
import ctypes
import dataclasses
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import fa_mlir.torch as fat  # noqa: E402
from fa_mlir import _driver  # noqa: E402
from fa_mlir.compiler import AttentionSpec  # noqa: E402


def old_spec(q, causal, scale, return_lse, mods):
    return AttentionSpec(dtype=fat._DTYPES[q.dtype], head_dim=q.shape[3],
                         causal=causal, lse=return_lse, scale=scale,
                         score_mod=mods.score_mod, mask_mod=mods.mask_mod,
                         captures=tuple(mods.capture_types))


def old_launch(self, grid, args, stream, tensor_maps=()):
    l = _driver.cuda()
    values = (ctypes.c_int64 * len(args))(*args)
    pointers = [ctypes.addressof(values) + 8 * i for i in range(len(args))]
    params = (ctypes.c_void_p * len(pointers))(*pointers)
    _driver.check(l, l.cuLaunchKernel(
        self.function, grid[0], grid[1], grid[2], self.threads, 1, 1,
        self.shared, ctypes.c_void_p(stream), params, None), "cuLaunchKernel")


def main():
    if not torch.cuda.is_available():
        sys.exit("host_overhead_ab: no CUDA device")
    b, hq, hkv, nk, d = 8, 32, 8, 8192, 128
    q = torch.randn(b, hq, 1, d, dtype=torch.bfloat16, device="cuda")
    k = torch.randn(b, hkv, nk, d, dtype=torch.bfloat16, device="cuda")
    v = torch.randn_like(k)
    versions = {
        "new": (fat._spec, fat._with_heads, _driver.LoadedKernel.launch),
        "old": (old_spec, lambda s, h: dataclasses.replace(s, heads=h),
                old_launch),
    }

    def use(name):
        (fat._spec, fat._with_heads,
         _driver.LoadedKernel.launch) = versions[name]

    def host_us(calls):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            fat.attention(q, k, v, enable_gqa=True)
        host = (time.perf_counter() - start) / calls
        torch.cuda.synchronize()
        return host * 1e6

    outputs, times = {}, {name: [] for name in versions}
    for r in range(6):
        for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
            use(name)
            outputs[name] = fat.attention(q, k, v, enable_gqa=True)
            host_us(50)
            times[name].append(host_us(400))
    use("new")
    if not torch.equal(outputs["old"], outputs["new"]):
        sys.exit("host_overhead_ab: the two launchers disagree")
    for name, xs in times.items():
        xs.sort()
        print(f"{name}: host {xs[len(xs) // 2]:.1f} us a call (median of "
              f"{len(xs)} rounds: {', '.join(f'{x:.1f}' for x in xs)})")


if __name__ == "__main__":
    main()
