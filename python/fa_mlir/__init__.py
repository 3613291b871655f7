"""fa-mlir from Python: build, compile and run FlashAttention kernels.

    import fa_mlir
    kernel = fa_mlir.compile_attention(fa_mlir.AttentionSpec(
        dtype="bf16", head_dim=128, causal="top_left"))
    kernel.ptx, kernel.cubin, kernel.metadata

    import fa_mlir.torch as fat
    out = fat.attention(q, k, v, is_causal=True)       # like SDPA, on CUDA

    from fa_mlir import mods                          # FlexAttention-style
    out = fat.attention(q, k, v, score_mod=mods.softcap(50.0),
                        mask_mod=mods.sliding_window(4096))

The compiler lives in libFAMLIRCAPI.so (include/fa-c/FA.h), loaded with
ctypes; set FA_MLIR_LIB to its path when it is not in build/lib or beside
this package. Nothing beyond the standard library is needed, except torch
for fa_mlir.torch. Modules: compiler (AttentionSpec, attention_source, the
kernel cache), tracing (score_mod/mask_mod functions -> fa.attention
regions, torch-free), mods (a library of modifications), torch (the
launcher), autotune.
"""

from ._capi import FAArgumentError, FAError, Context, Module, version
from .compiler import (AttentionSpec, CompiledKernel, KernelCache,
                       attention_source, compile_attention, compile_source)

__all__ = ["FAError", "FAArgumentError", "Context", "Module", "version", "AttentionSpec",
           "CompiledKernel", "KernelCache", "attention_source",
           "compile_attention", "compile_source"]
