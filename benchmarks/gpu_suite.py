#!/usr/bin/env python3
"""Check and time fa-mlir kernels on a GPU with fa-runner.

    python3 benchmarks/gpu_suite.py --kernels build/gpu-kernels \\
        --runner build/bin/fa-runner [--check] [--bench] [--big] [--torch]

--check runs every kernel of --kernels on the shapes that break attention
kernels (docs/Measurement.md); --bench times its benchmark shapes (B*N = 32768,
H = 2048 / D) and, with --torch, SDPA's flash and cuDNN backends on the same
shapes and inputs in this process; --big runs one case past 2^31 elements.
Prints a table last and exits non-zero when any check fails.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mod_library  # noqa: E402

# (B, Hq, Hkv, Nq, Nk, mode, layout)
CHECK_CASES = [
    (1, 1, 1, 1, 1, "normal", "bhsd"),
    (2, 4, 1, 17, 17, "normal", "bhsd"),
    (1, 8, 2, 113, 203, "normal", "bhsd"),
    (1, 2, 2, 203, 113, "normal", "bshd"),
    (1, 4, 4, 1023, 1024, "dominant", "bhsd"),
    (1, 2, 1, 239, 1, "normal", "bhsd"),
    (1, 2, 2, 799, 3, "large", "bhsd"),
    (1, 8, 1, 1000, 1000, "large", "bshd"),
    (2, 2, 2, 128, 128, "dominant", "bshd"),
]


def capture_flags(prefix, b, hq, hkv, nq, nk):
    """fa-runner's --capture flags for a kernel of make_kernels.py --mods
    (its <prefix>.mod names the modification)."""
    try:
        with open(prefix + ".mod") as f:
            mod = mod_library.by_name(f.read().strip())
    except OSError:
        return []
    return mod.runner_flags(b, hq, hkv, nq, nk)


def run(runner, prefix, case, extra=()):
    b, hq, hkv, nq, nk, mode, layout = case
    cmd = [runner, prefix, "--batch", str(b), "--hq", str(hq), "--hkv",
           str(hkv), "--nq", str(nq), "--nk", str(nk), "--mode", mode,
           "--layout", layout, "--json",
           *capture_flags(prefix, b, hq, hkv, nq, nk), *extra]
    result = subprocess.run(cmd, capture_output=True, text=True)
    line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() \
        else ""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = {"verdict": "ERROR", "stderr": result.stderr.strip()}
    record["rc"] = result.returncode
    record["cmd"] = " ".join(cmd)
    return record


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--torch", action="store_true")
    ap.add_argument("--bench-kernels", default="*_none,*_top_left",
                    help="globs (no extension) of kernels to time")
    ap.add_argument("--log", default=None)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    log = open(args.log, "w") if args.log else None
    failures = 0

    def emit(record):
        if log:
            log.write(json.dumps(record) + "\n")
            log.flush()

    if args.check:
        prefixes = sorted(p[:-5] for p in glob.glob(
            os.path.join(args.kernels, "*.json")))
        jobs = [(p, c) for p in prefixes for c in CHECK_CASES]
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(
                lambda job: (job[0], run(args.runner, job[0], job[1])), jobs))
        passed = 0
        for prefix, r in results:
            emit(r)
            if r["verdict"] == "PASS" and r["rc"] == 0:
                passed += 1
            else:
                failures += 1
                print("FAIL", os.path.basename(prefix), r.get("cmd"),
                      {k: r.get(k) for k in ("verdict", "max_err",
                                              "baseline_err", "nan",
                                              "lse_err_over_tol", "stderr")})
        print(f"check: {passed} passed, {len(results) - passed} failed "
              f"({len(prefixes)} kernels x {len(CHECK_CASES)} shapes)")

    if args.big:
        prefix = os.path.join(args.kernels, "bf16_d128_none")
        # Q and O hold 64*64*4200*128 = 2.2e9 elements (> 2^31).
        r = run(args.runner, prefix, (64, 64, 1, 4200, 256, "normal", "bhsd"),
                ["--check-rows", "512"])
        emit(r)
        ok = r["verdict"] == "PASS" and r["rc"] == 0
        failures += not ok
        print("big (>2^31 elements):", r.get("verdict"), r.get("max_err"),
              r.get("baseline_err"), r.get("stderr", ""))

    if args.bench:
        rows = []
        patterns = args.bench_kernels.split(",")
        prefixes = sorted({p[:-5] for pat in patterns for p in glob.glob(
            os.path.join(args.kernels, pat + ".json"))})
        torch_bench = None
        if args.torch:
            try:
                torch_bench = make_torch_bench()
            except Exception as e:  # torch missing or no GPU
                print("torch unavailable:", e)
        for prefix in prefixes:
            meta = json.load(open(prefix + ".json"))
            d = meta["attention"]["head_dim"]
            for n in (1024, 4096, 16384):
                b, h = 32768 // n, 2048 // d
                r = run(args.runner, prefix, (b, h, h, n, n, "normal",
                                              "bhsd"),
                        ["--bench", "--no-check", "--iters", "30"])
                emit(r)
                row = {"kernel": os.path.basename(prefix),
                       "dtype": meta["attention"]["dtype"], "D": d,
                       "causal": meta["attention"]["causal"] != "none",
                       "N": n, "fa_mlir": r.get("tflops", 0.0)}
                if torch_bench:
                    row.update(torch_bench(row["dtype"], b, h, n, d,
                                           row["causal"]))
                rows.append(row)
                # Each row as it ends (stderr), so that a run cut short
                # still leaves its figures.
                print(f"# {row['kernel']} N={n} fa-mlir {row['fa_mlir']:.1f}"
                      f" flash {fmt(row.get('flash'))}"
                      f" cudnn {fmt(row.get('cudnn'))}", file=sys.stderr,
                      flush=True)
        print()
        print("| kernel | dtype | D | causal | N | fa-mlir TFLOP/s |"
              " SDPA flash | cuDNN | vs flash | vs cuDNN |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            fl, cu = r.get("flash"), r.get("cudnn")
            print(f"| {r['kernel']} | {r['dtype']} | {r['D']} | "
                  f"{'yes' if r['causal'] else 'no'} | {r['N']} | "
                  f"{r['fa_mlir']:.1f} | {fmt(fl)} | {fmt(cu)} | "
                  f"{ratio(r['fa_mlir'], fl)} | {ratio(r['fa_mlir'], cu)} |")
    if log:
        log.close()
    sys.exit(1 if failures else 0)


def fmt(x):
    return f"{x:.1f}" if x else "-"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def make_torch_bench():
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA")

    def bench(dtype, b, h, n, d, causal):
        t = torch.bfloat16 if dtype == "bf16" else torch.float16
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=t)
                   for _ in range(3))
        flops = 4 * b * h * n * n * d / (2 if causal else 1)
        out = {}
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    fn = lambda: F.scaled_dot_product_attention(
                        q, k, v, is_causal=causal)
                    for _ in range(5):
                        fn()
                    torch.cuda.synchronize()
                    times = []
                    for _ in range(30):
                        s = torch.cuda.Event(enable_timing=True)
                        e = torch.cuda.Event(enable_timing=True)
                        s.record()
                        fn()
                        e.record()
                        e.synchronize()
                        times.append(s.elapsed_time(e))
                times.sort()
                out[name] = flops / (times[len(times) // 2] * 1e-3) / 1e12
            except Exception:
                out[name] = None
        return out
    return bench


if __name__ == "__main__":
    main()
