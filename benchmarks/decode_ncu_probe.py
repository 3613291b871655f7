#!/usr/bin/env python3
"""One launch each of two split-KV decode kernels with the same K+V bytes
and blocks, for Nsight Compute: packed GQA 32:8 at Nk 65536 (S = 8) and MHA
32:32 at Nk 16384 (S = 2); B = 8, D = 128, bf16, one query row.

    ncu -k regex:splitkv --section SpeedOfLight --section WarpStateStats \\
        --section MemoryWorkloadAnalysis --section Occupancy \\
        --section LaunchStats python3 benchmarks/decode_ncu_probe.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import fa_mlir.torch as fat  # noqa: E402

b, d = 8, 128
for hq, hkv, nk, s in ((32, 8, 65536, 8), (32, 32, 16384, 2)):
    q = torch.randn(b, hq, 1, d, dtype=torch.bfloat16, device="cuda")
    k = torch.randn(b, hkv, nk, d, dtype=torch.bfloat16, device="cuda")
    v = torch.randn_like(k)
    spec = fat._spec(q, None, None, False, fat._NO_MODS)
    out = torch.empty_like(q)
    fat._run_split(spec, q, k, v, out, None, (), fat._chip(q.device), None,
                   kv_splits=s)
    torch.cuda.synchronize()
