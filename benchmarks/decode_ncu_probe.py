#!/usr/bin/env python3
"""Three decode calls of fa_mlir.torch.attention for Nsight Compute: one
query row, B = 8, Hq 32, Hkv 8, D = 128, Nk = 65536, bf16, through the
public call (the split-KV pair with packed GQA tiles, S by the rule). The
partial kernels' names end in "_splitkv".

    FA_PY=python ncu --clock-control none -k regex:splitkv -c 4 \\
        --section SpeedOfLight --section MemoryWorkloadAnalysis \\
        --section WarpStateStats --section Occupancy --section LaunchStats \\
        --section SchedulerStats python3 benchmarks/decode_ncu_probe.py

(FA_PY: the directory holding the fa_mlir package; default python/ of
this checkout.)
"""
import os
import sys

import torch

sys.path.insert(0, os.environ.get("FA_PY", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "python")))
import fa_mlir.torch as fat  # noqa: E402

b, hq, hkv, nk, d = 8, 32, 8, 65536, 128
q = torch.randn(b, hq, 1, d, dtype=torch.bfloat16, device="cuda")
k = torch.randn(b, hkv, nk, d, dtype=torch.bfloat16, device="cuda")
v = torch.randn_like(k)
for _ in range(3):
    out = fat.attention(q, k, v, enable_gqa=True)
torch.cuda.synchronize()
