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
this checkout.) Arguments: the key count (default 65536), and "cudnn" to
add three calls of SDPA's cuDNN backend on the same inputs, e.g.

    ncu -k regex:"fa_attention|cudnn_generated|lean" -c 6 ... \\
        python3 benchmarks/decode_ncu_probe.py 8192 cudnn
"""
import os
import sys

import torch
from torch.nn.attention import SDPBackend

sys.path.insert(0, os.environ.get("FA_PY", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "python")))
import fa_mlir.torch as fat  # noqa: E402
from torch_bench import sdpa_gqa  # noqa: E402

b, hq, hkv, d = 8, 32, 8, 128
nk = int(sys.argv[1]) if len(sys.argv) > 1 else 65536
cudnn = len(sys.argv) > 2 and sys.argv[2] == "cudnn"
q = torch.randn(b, hq, 1, d, dtype=torch.bfloat16, device="cuda")
k = torch.randn(b, hkv, nk, d, dtype=torch.bfloat16, device="cuda")
v = torch.randn_like(k)
sdpa = sdpa_gqa(SDPBackend.CUDNN_ATTENTION, q, k, v)
for _ in range(3):
    out = fat.attention(q, k, v, enable_gqa=True)
    if cudnn:
        sdpa()
torch.cuda.synchronize()
