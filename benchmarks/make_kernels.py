#!/usr/bin/env python3
"""Compile a family of fa.attention kernels with fa-compile.

Writes, for every (dtype, head dim, causal alignment, LSE) combination, an
`.mlir` file with dynamic B/H/N and the `.ptx`/`.cubin`/`.json` triple that
fa-runner loads. Used to prepare GPU runs on a machine without LLVM/MLIR:

    python3 benchmarks/make_kernels.py --out build/gpu-kernels

--varlen writes the variable-length form instead (packed [T, H, D]
operands, offsets cu_seqlens_q/k, max_seqlen_q; fa-runner --seqlens-q/k).
--paged PAGE_SIZE writes the paged-KV-cache form (docs/PagedKV.md: K/V
pools [num_pages, PAGE_SIZE, Hkv, D], block_table, cache_seqlens;
fa-runner --cache-seqlens). Both write packed queries against a paged
cache (varlen(%cu_q) without cu_seqlens_k, and paged(...); fa-runner
--seqlens-q --cache-seqlens).
"""
import argparse
import concurrent.futures
import itertools
import os
import subprocess
import sys

# The one generator of fa.attention sources (python/fa_mlir/_source.py,
# through fa_mlir.compiler);
# pure Python, it needs neither libFAMLIRCAPI.so nor torch.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa_mlir.compiler import (AttentionSpec, attention_backward_source,  # noqa: E402
                              attention_source)
import mod_library  # noqa: E402


def kernel_source(dtype, d, causal, lse, mod=None, backward=False,
                  heads=None, varlen=False, page_size=None):
    make = attention_backward_source if backward else attention_source
    extra = {"varlen": True} if varlen else {}
    if page_size:
        extra["paged"] = page_size
    return make(AttentionSpec(
        dtype=dtype, head_dim=d, causal=None if causal == "none" else causal,
        lse=lse, score_mod=mod.score_mod if mod else None,
        mask_mod=mod.mask_mod if mod else None,
        captures=mod.captures if mod else (), heads=heads, **extra))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--fa-compile", default="build/bin/fa-compile")
    parser.add_argument("--dtypes", default="bf16,f16")
    parser.add_argument("--head-dims", default="64,128")
    parser.add_argument("--causal", default="none,top_left,bottom_right")
    parser.add_argument("--lse", default="0,1")
    parser.add_argument("--extra", action="append", default=[],
                        help="extra fa-compile flags, e.g. '--block-n=128' "
                             "(repeatable)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="fa-compile processes at once")
    parser.add_argument("--suffix", default="")
    parser.add_argument("--mods", default="",
                        help="comma-separated modifications of "
                             "mod_library.py (window<W>, prefix<P> take a "
                             "size); kernels are named <...>_<mod>")
    parser.add_argument("--backward", action="store_true",
                        help="compile fa.attention_backward instead: three "
                             "kernels per name (<name>.0, .1, .2), --lse "
                             "ignored")
    parser.add_argument("--heads", default=None, metavar="HQ:HKV",
                        help="static head counts (e.g. 32:8, which "
                             "--pack-gqa needs); default dynamic")
    parser.add_argument("--varlen", action="store_true",
                        help="variable-length batches: packed [T, H, D] "
                             "operands and the offsets cu_seqlens_q/k "
                             "(fa.attention's varlen); kernels are named "
                             "<...>_varlen<suffix>; with --paged, packed "
                             "queries against a paged cache (offsets "
                             "cu_seqlens_q only)")
    parser.add_argument("--paged", type=int, default=None,
                        metavar="PAGE_SIZE",
                        help="a paged KV cache: K/V pools [num_pages, "
                             "PAGE_SIZE, Hkv, D], block_table and "
                             "cache_seqlens (fa.attention's paged); kernels "
                             "are named <...>_paged<PAGE_SIZE><suffix> "
                             "(<...>_varlen_paged<PAGE_SIZE><suffix> with "
                             "--varlen)")
    parser.add_argument("--sources-only", action="store_true",
                        help="write the .mlir sources, compile nothing")
    args = parser.parse_args()
    if args.varlen and args.backward:
        parser.error("--varlen takes forward kernels, not --backward")
    if args.paged is not None:
        if args.paged <= 0:
            parser.error("--paged takes a positive page size")
        if args.backward:
            parser.error("--paged takes forward kernels, not --backward")
    os.makedirs(args.out, exist_ok=True)
    names, commands = [], []
    mods = [mod_library.by_name(m) for m in args.mods.split(",") if m] \
        or [None]
    extra = [flag for e in args.extra for flag in e.split()]
    lses = ["0"] if args.backward else args.lse.split(",")
    heads = tuple(int(h) for h in args.heads.split(":")) if args.heads \
        else None
    for dtype, d, causal, lse, mod in itertools.product(
            args.dtypes.split(","), args.head_dims.split(","),
            args.causal.split(","), lses, mods):
        lse = lse == "1"
        paged = f"_paged{args.paged}" if args.paged else ""
        name = (f"{dtype}_d{d}_{causal}{'_lse' if lse else ''}"
                f"{'_varlen' if args.varlen else ''}{paged}{args.suffix}")
        if args.backward:
            name = "bwd_" + name
        if mod:
            name += "_" + mod.name
            # How fa-runner fills the captures (gpu_suite.py reads it).
            with open(os.path.join(args.out, name + ".mod"), "w") as f:
                f.write(mod.name + "\n")
        src = os.path.join(args.out, name + ".mlir")
        with open(src, "w") as f:
            f.write(kernel_source(dtype, int(d), causal, lse, mod,
                                  args.backward, heads, args.varlen,
                                  args.paged))
        names.append(name)
        commands.append((name, [args.fa_compile, src, "-o",
                                os.path.join(args.out, name)] + extra))
    if not args.sources_only:
        def compile_one(job):
            return job[0], subprocess.run(job[1], capture_output=True,
                                          text=True)
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for name, result in pool.map(compile_one, commands):
                if result.returncode != 0:
                    sys.stderr.write(result.stderr)
                    sys.exit(f"make_kernels: fa-compile failed for {name}")
    print(f"make_kernels: {len(names)} "
          f"{'sources' if args.sources_only else 'kernels'} in {args.out}")


if __name__ == "__main__":
    main()
