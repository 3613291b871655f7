#!/usr/bin/env python3
"""Decode calls of fa_mlir.torch.attention_with_kvcache for Nsight Compute:
B = 8, Hq 32, Hkv 8, D = 128, bf16, one query per sequence, every sequence
Nk keys long, the cache in pages of each size in shuffled order (as
kvcache_bench.py lays them out), then the same cache as one page per
sequence ("contiguous"), two calls each. The partial kernels' names end in
"_splitkv", the paged ones hold "_paged<page size>".

    FA_PY=python ncu --clock-control none -k regex:splitkv \\
        --section SpeedOfLight --section MemoryWorkloadAnalysis \\
        --section WarpStateStats python3 benchmarks/paged_ncu_probe.py \\
        65536 16,64,256

(FA_PY: the directory holding the fa_mlir package; default python/ of
this checkout.) Arguments: the key count (default 65536) and the page
sizes (default 16,64,256).
"""
import os
import sys

import torch

sys.path.insert(0, os.environ.get("FA_PY", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "python")))
import fa_mlir.torch as fat  # noqa: E402
from kvcache_bench import paged_copy  # noqa: E402

b, hq, hkv, d = 8, 32, 8, 128
nk = int(sys.argv[1]) if len(sys.argv) > 1 else 65536
page_sizes = [int(x) for x in
              (sys.argv[2] if len(sys.argv) > 2 else "16,64,256").split(",")]
q = torch.randn(b, 1, hq, d, dtype=torch.bfloat16, device="cuda")
k = torch.randn(b, nk, hkv, d, dtype=torch.bfloat16, device="cuda")
v = torch.randn_like(k)
lengths = torch.full((b,), nk, dtype=torch.int32, device="cuda")
for page_size in page_sizes:
    kp, vp, table = paged_copy(k, v, page_size)
    for _ in range(2):
        fat.attention_with_kvcache(q, kp, vp, lengths, table, validate=False)
    torch.cuda.synchronize()
    del kp, vp
for _ in range(2):
    fat.attention_with_kvcache(q, k, v, nk)
torch.cuda.synchronize()
