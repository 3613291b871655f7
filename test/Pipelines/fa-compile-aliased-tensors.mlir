// A kernel's launch metadata names each argument by its role (q, k, v, o,
// ...), and a runtime binds its own tensor to each: it cannot say that two
// arguments are one tensor. fa-compile refuses a launch that passes one
// tensor twice: an op given K as its V, or a tile edited by hand to read
// V's rows from K (varlen here; plain, paged and split tiles alike). fa-opt's
// host code passes the buffer twice and keeps working.
// RUN: rm -rf %t && split-file %s %t
// RUN: not fa-compile %t/op.mlir -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=ALIAS
// RUN: not fa-compile %t/op.mlir -o %t/x --format=ptx --strategy=mma-sync 2>&1 | FileCheck %s --check-prefix=ALIAS
// RUN: fa-opt %t/op.mlir --fa-lower-to-nvgpu-pipeline | FileCheck %s --check-prefix=HOST
// The varlen op with distinct K and V compiles; its fused IR with V's
// slice edited to read K is refused.
// RUN: fa-compile %t/varlen.mlir -o %t/good --format=ptx
// RUN: fa-opt %t/varlen.mlir "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax -o %t/fused.mlir
// RUN: grep -c "tensor.extract_slice %arg2\[" %t/fused.mlir | FileCheck %s --check-prefix=ONE
// RUN: sed 's/tensor.extract_slice %%arg2\[/tensor.extract_slice %%arg1[/' %t/fused.mlir > %t/edited.mlir
// RUN: not fa-compile %t/edited.mlir -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=ALIAS

// ALIAS: error: the kernel takes one tensor as its arguments 1 and 2 (in an attention kernel Q, K, V and O are 0-3): its launch metadata binds each argument by its role and cannot say that two are one tensor; give each its own tensor (a runtime may pass the same buffer to both)
// ALIAS-NOT: error
// HOST: %[[K:.*]] = bufferization.to_buffer %arg1
// HOST: %[[V:.*]] = bufferization.to_buffer %arg1
// HOST: gpu.launch_func {{.*}} args(%{{[0-9]+}} : {{.*}}, %[[K]] : {{.*}}, %[[V]] :
// ONE: 1

//--- op.mlir
func.func @v_is_k(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x4x?x64xbf16>,
                  %o: tensor<1x4x?x64xbf16>) -> tensor<1x4x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>)
      outs(%o : tensor<1x4x?x64xbf16>) -> tensor<1x4x?x64xbf16>
  return %0 : tensor<1x4x?x64xbf16>
}

//--- varlen.mlir
func.func @varlen(%q: tensor<?x8x128xbf16>, %k: tensor<?x2x128xbf16>, %v: tensor<?x2x128xbf16>,
                  %o: tensor<?x8x128xbf16>, %lse: tensor<8x?xf32>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>, %m: index)
    -> (tensor<?x8x128xbf16>, tensor<8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x2x128xbf16>, tensor<?x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x128xbf16>, tensor<8x?xf32>)
      varlen(%cq, %ck : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %m
      causal = <bottom_right>
      -> tensor<?x8x128xbf16>, tensor<8x?xf32>
  return %r, %l : tensor<?x8x128xbf16>, tensor<8x?xf32>
}
