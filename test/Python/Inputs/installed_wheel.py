"""Run by wheel.test with the virtual environment's python: fa_mlir comes
from the installed wheel (its own lib/libFAMLIRCAPI.so), not the source
tree."""
import importlib.util
import os
import sys

import fa_mlir

here = os.path.dirname(os.path.abspath(fa_mlir.__file__))
print("site-packages:", here.startswith(sys.prefix), "lib:",
      os.path.exists(os.path.join(here, "lib", "libFAMLIRCAPI.so")),
      "typed:", os.path.exists(os.path.join(here, "py.typed")))
print("version:", fa_mlir.version())
kernel = fa_mlir.compile_attention(
    fa_mlir.AttentionSpec(dtype="bf16", head_dim=64, causal="top_left"),
    format="ptx", strategy="hopper-ws")
print("kernel:", kernel.metadata["strategy"], "wgmma.mma_async" in kernel.ptx)
print("torch module:", importlib.util.find_spec("fa_mlir.torch") is not None)
try:
    fa_mlir.AttentionSpec(dtype="f32")
    print("no error")
except ValueError as e:
    print("bad spec is a ValueError:", isinstance(e, fa_mlir.FAError), e)
