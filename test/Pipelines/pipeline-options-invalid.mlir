// The named pipelines check the options no pass checks in time: the chip
// and opt level nvvm-attach-target writes (LLVM would abort serializing
// for a chip without the kernel's instructions) and a CUDA toolkit path
// that was asked for (upstream's serializer reports a missing one and goes
// on with another, exit 0). Each is one error and a non-zero exit.
// RUN: not fa-opt %s "--fa-compile=format=cubin cuda-path=%t.missing" 2>&1 | FileCheck %s --check-prefix=CUDA
// RUN: env CUDA_HOME=%t.missing not fa-opt %s "--fa-compile=format=ptx" 2>&1 | FileCheck %s --check-prefix=CUDAHOME
// RUN: fa-opt %s --fa-lower-to-nvgpu-pipeline=chip=sm_80 > %t.nvgpu.mlir
// RUN: not fa-opt %t.nvgpu.mlir --fa-gpu-to-nvvm-pipeline=chip=sm_70 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not fa-opt %t.nvgpu.mlir --fa-gpu-to-nvvm-pipeline=chip=garbage 2>&1 | FileCheck %s --check-prefix=GARBAGE
// RUN: not fa-opt %t.nvgpu.mlir --fa-gpu-to-nvvm-pipeline=opt-level=7 2>&1 | FileCheck %s --check-prefix=OPT
// RUN: not fa-opt %s --fa-lower-to-nvgpu-pipeline=chip=sm_75 2>&1 | FileCheck %s --check-prefix=CHIP75
// RUN: fa-opt %t.nvgpu.mlir --fa-gpu-to-nvvm-pipeline=chip=sm_80 | FileCheck %s --check-prefix=OK
// The two halves of fa-compile refuse the options of the other half
// (they would change nothing there).
// RUN: not fa-opt %t.nvgpu.mlir --fa-gpu-to-nvvm-pipeline=block-m=7 2>&1 | FileCheck %s --check-prefix=UNUSED-NVVM
// RUN: not fa-opt %s "--fa-lower-to-nvgpu-pipeline=llvm-passes=default" 2>&1 | FileCheck %s --check-prefix=UNUSED-NVGPU

// CUDA: error: the CUDA toolkit path '{{.*}}.missing' (from --cuda-path) is not a directory; point it at a CUDA toolkit, or unset it to compile PTX without one
// CUDA-NOT: error
// CUDAHOME: error: the CUDA toolkit path '{{.*}}.missing' (from CUDA_HOME) is not a directory
// CHIP: error: unsupported chip 'sm_70': fa-mlir builds kernels for sm_80, sm_86, sm_87, sm_89, sm_90, sm_90a
// GARBAGE: error: unsupported chip 'garbage'
// OPT: error: opt-level must be 0, 1, 2 or 3, not 7
// CHIP75: error: unsupported chip 'sm_75'
// OK: #nvvm.target<O = 3, chip = "sm_80"
// UNUSED-NVVM: error: fa-gpu-to-nvvm-pipeline does not use the option block-m, which would change nothing; it reads chip, opt-level
// UNUSED-NVGPU: error: fa-lower-to-nvgpu-pipeline does not use the option llvm-passes, which would change nothing; it reads chip, strategy,

func.func @attention(%q: tensor<1x2x?x64xf16>, %k: tensor<1x2x?x64xf16>,
                     %v: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>)
    -> tensor<1x2x?x64xf16> {
  %out = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xf16>,
                          tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
      outs(%o : tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16>
  return %out : tensor<1x2x?x64xf16>
}
