// fa-compile's assembly step with stand-in toolkits (no CUDA needed): a
// kernel's ptxas starts as soon as its PTX exists and runs while the LLVM
// backend works on the next kernel, several at once; each binary must still
// land in its own kernel's file, a failing ptxas must be one error and a
// non-zero exit, and no temporary file may be left behind, also when the
// other kernels' ptxas are still running at the failure.
// RUN: rm -rf %t && mkdir -p %t/ok/bin %t/fail/bin %t/tmp %t/tmp2
// A ptxas whose "cubin" is the name of the kernel it was given.
// RUN: printf '#!/bin/sh\nwhile [ $# -gt 1 ]; do case "$1" in -o) out=$2;; -arch) ;; *) in=$1;; esac; shift; done\ngrep -o "entry [a-z_0-9]*" "$in" > "$out"\n' > %t/ok/bin/ptxas
// A ptxas that fails after a while, saying why.
// RUN: printf '#!/bin/sh\nsleep 0.2\necho "ptxas fatal : stand-in failure" >&2\nexit 3\n' > %t/fail/bin/ptxas
// RUN: chmod +x %t/ok/bin/ptxas %t/fail/bin/ptxas
// RUN: env TMPDIR=%t/tmp fa-compile %s -o %t/k --cuda-path=%t/ok | FileCheck %s --check-prefix=TOOL
// RUN: FileCheck %s --check-prefix=BIN0 < %t/k.0.cubin
// RUN: FileCheck %s --check-prefix=BIN1 < %t/k.1.cubin
// RUN: FileCheck %s --check-prefix=BIN2 < %t/k.2.cubin
// RUN: FileCheck %s --check-prefix=BIN3 < %t/k.3.cubin
// RUN: ls %t/tmp | count 0
// RUN: env TMPDIR=%t/tmp2 not fa-compile %s -o %t/bad --cuda-path=%t/fail 2>&1 | FileCheck %s --check-prefix=FAIL
// RUN: ls %t/tmp2 | count 0
// RUN: not ls %t/bad.0.cubin
// The bundled backward example (make bench-compile times it): three kernels.
// RUN: fa-compile %fa_src_root/examples/attention-backward.mlir -o %t/ex --cuda-path=%t/ok | FileCheck %s --check-prefix=EXAMPLE
// RUN: FileCheck %s --check-prefix=BIN2 < %t/ex.1.cubin
// --benchmark: the ptxas span and the part of it the compile waited for.
// RUN: fa-compile %s --benchmark=1 --cuda-path=%t/ok | FileCheck %s --check-prefix=BENCH

// TOOL: fa_attention_f16_d64_{{.*}} -> {{.*}}k.0.{ptx,cubin,json}
// TOOL: fa_attention_backward_delta_{{.*}} -> {{.*}}k.1.{ptx,cubin,json}
// TOOL: fa_attention_backward_fused_{{.*}} -> {{.*}}k.2.{ptx,cubin,json}
// TOOL: fa_attention_backward_dq_convert_{{.*}} -> {{.*}}k.3.{ptx,cubin,json}
// BIN0: entry fa_attention_f16_d64_
// BIN1: entry fa_attention_backward_delta_
// BIN2: entry fa_attention_backward_fused_
// BIN3: entry fa_attention_backward_dq_convert_
// EXAMPLE: fa_attention_backward_delta_bf16_d128_{{.*}} -> {{.*}}ex.0.{ptx,cubin,json}
// EXAMPLE: fa_attention_backward_fused_bf16_d128_{{.*}} -> {{.*}}ex.1.{ptx,cubin,json}
// EXAMPLE: fa_attention_backward_dq_convert_bf16_d128_{{.*}} -> {{.*}}ex.2.{ptx,cubin,json}
// FAIL: error: ptxas failed with exit status 3
// FAIL-NEXT: ptxas fatal : stand-in failure
// FAIL-NOT: error
// BENCH: fa-compile: split (medians): {{.*}} ptxas {{[0-9.]+}} s (waited for: {{[0-9.]+}} s)

func.func @attention(%q: tensor<1x2x?x64xf16>, %k: tensor<1x2x?x64xf16>,
                     %v: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>)
    -> tensor<1x2x?x64xf16> {
  %out = fa.attention ins(%q, %k, %v : tensor<1x2x?x64xf16>,
                          tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
      outs(%o : tensor<1x2x?x64xf16>) -> tensor<1x2x?x64xf16>
  return %out : tensor<1x2x?x64xf16>
}

func.func @backward(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>,
                    %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>,
                    %do: tensor<?x?x?x64xf16>, %lse: tensor<?x?x?xf32>,
                    %dq0: tensor<?x?x?x64xf16>, %dk0: tensor<?x?x?x64xf16>,
                    %dv0: tensor<?x?x?x64xf16>)
    -> (tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>) {
  %0:3 = fa.attention_backward
      ins(%q, %k, %v, %o, %do, %lse : tensor<?x?x?x64xf16>,
          tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>,
          tensor<?x?x?x64xf16>, tensor<?x?x?xf32>)
      outs(%dq0, %dk0, %dv0 : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>,
           tensor<?x?x?x64xf16>)
      -> tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>
  return %0#0, %0#1, %0#2
      : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>
}
