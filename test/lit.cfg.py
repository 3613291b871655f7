# -*- Python -*-
# lit configuration of the fa-mlir test suite.

import os
import subprocess
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "FA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "consumer", "gen_attention_check.py", "check_printed_attention.py", "fuzz_fa_opt.py", "check_ptxas.py"]

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.fa_obj_root, "test")

# Variables named in FileCheck patterns are local to a CHECK-LABEL block.
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"

llvm_config.use_default_substitutions()

python = config.python_executable or sys.executable
config.substitutions.append(("%python", python))
# Building and installing the wheel offline: setuptools, wheel, pip and venv
# (ensurepip) under the test python.
if subprocess.run([python, "-c", "import setuptools, wheel, pip, ensurepip"],
                  capture_output=True).returncode == 0:
    config.available_features.add("wheel")
config.substitutions.append(("%fa_opt_path", os.path.join(config.fa_tools_dir, "fa-opt")))
config.substitutions.append(("%fa_src_root", config.fa_src_root))
config.substitutions.append(("%fa_obj_root", config.fa_obj_root))
config.substitutions.append(("%mlir_dir", config.mlir_dir))
config.substitutions.append(("%cmake_generator", config.cmake_generator))
config.substitutions.append(("%cmake", config.cmake_command))
config.substitutions.append(("%cxx", config.cxx_compiler))

tool_dirs = [config.fa_tools_dir, config.llvm_tools_dir]
tools = ["fa-opt", "fa-compile", "fa-runner", "count", "not", "split-file"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# CPU execution (numerics checks of the tiled and fused forms): fa-opt's
# fa-lower-to-cpu pipeline (README "Run on the CPU"), then mlir-runner.
# %cpu_run runs the IR as the RUN line made it (fuse=false: tiled IR stays
# the exact three-loop form); %mlir_runner is the runner alone.
llvm_lib_dir = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")
runner_libs = [os.path.join(llvm_lib_dir, name) for name in
               ("libmlir_c_runner_utils.so", "libmlir_runner_utils.so")]
if all(os.path.exists(lib) for lib in runner_libs):
    config.available_features.add("mlir-runner")
mlir_runner = "%s -e main -entry-point-result=void -shared-libs=%s" % (
    os.path.join(config.llvm_tools_dir, "mlir-runner"), ",".join(runner_libs))
config.substitutions.append(("%mlir_runner", mlir_runner))
config.substitutions.append((
    "%cpu_run", "%s --fa-lower-to-cpu=fuse=false | %s" % (
        os.path.join(config.fa_tools_dir, "fa-opt"), mlir_runner)))
config.substitutions.append((
    "%gen_check", "%s %s" % (python, os.path.join(config.fa_src_root, "test",
                                                   "Numerics",
                                                   "gen_attention_check.py"))))
config.substitutions.append((
    "%gen_varlen", "%s %s" % (python, os.path.join(config.fa_src_root, "test",
                                                    "Numerics",
                                                    "gen_varlen_check.py"))))
config.substitutions.append((
    "%gen_paged", "%s %s" % (python, os.path.join(config.fa_src_root, "test",
                                                   "Numerics",
                                                   "gen_paged_check.py"))))
config.substitutions.append((
    "%gen_backward", "%s %s" % (python, os.path.join(config.fa_src_root,
                                                      "test", "Numerics",
                                                      "gen_backward_check.py"))))

# ptxas from the CUDA toolkit: gpu-module-to-binary needs it for cubins, and
# the register/spill checks run it directly.
cuda_root = os.environ.get("CUDA_HOME", "/usr/local/cuda")
ptxas = os.path.join(cuda_root, "bin", "ptxas")
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
make_kernels = "%s %s --fa-compile %s" % (
    python, os.path.join(config.fa_src_root, "benchmarks", "make_kernels.py"),
    os.path.join(config.fa_tools_dir, "fa-compile"))
config.substitutions.append(("%make_kernels", make_kernels))
# Kernels for the GPU tests: cubins where ptxas is here, else PTX that the
# driver compiles at load time (a machine with only a driver can run them).
# The mma-sync strategy's (fa-compile's default, auto, builds wgmma kernels
# on sm_90a; the hopper-ws tests compile those with --strategy=hopper-ws).
config.substitutions.append((
    "%gpu_kernels", make_kernels + " --extra=--strategy=mma-sync" +
    ("" if os.path.exists(ptxas) else " --extra=--format=ptx")))

# compute-sanitizer for the memory-safety tests of the GPU suite.
import shutil
sanitizer = shutil.which("compute-sanitizer") or os.path.join(
    cuda_root, "bin", "compute-sanitizer")
if os.path.exists(sanitizer):
    config.available_features.add("compute-sanitizer")
    config.substitutions.append(("%compute_sanitizer", sanitizer))

# pytest for the Python package's tests (Debian's python3-pytest).
import subprocess
if subprocess.call([python, "-c", "import pytest"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
    config.available_features.add("pytest")

# A CUDA driver on this machine (GPU tests run; the no-driver test does not).
import ctypes
try:
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
