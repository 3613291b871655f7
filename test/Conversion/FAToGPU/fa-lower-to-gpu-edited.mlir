// Kernels come from the fused IR they are given. Each case is the fused tile
// of a small attention (fa-tile-attention block-m=64 block-n=32,
// fa-fuse-online-softmax, canonicalize), some edited by hand as a user or an
// embedding compiler would: the kernel must follow the edit, or refuse it
// with a diagnostic; it never ignores it.
// RUN: fa-opt %s -split-input-file -verify-diagnostics --fa-lower-to-gpu | FileCheck %s
// The hopper-ws strategy reads the same IR through the same shared pieces.
// RUN: fa-opt %s -split-input-file -verify-diagnostics "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s --check-prefix=HOPPER

// Unedited: the scale * log2(e) of the scores body, no tanh, no mask.
// CHECK-LABEL: func.func @unedited
// CHECK:       gpu.func @fa_attention_f16_d64_bm64_bn32_w2_s2_{{[0-9a-f]+}}(
// CHECK-NOT:     math.tanh
// CHECK-NOT:     scf.while
// CHECK:         gpu.return
// HOPPER-LABEL: func.func @unedited
// HOPPER:       gpu.func @fa_attention_f16_d64_bm64_bn32_wg1_s2_wgmma_{{[0-9a-f]+}}(
// HOPPER-NOT:     math.tanh
// No search for key blocks (the only scf.while is the persistent consumers'
// loop over tiles).
// HOPPER-NOT:     scf.while {{.*}} : (index) ->
// HOPPER-NOT:     scf.while {{.*}} : (index, index) ->
// HOPPER:         gpu.return
func.func @unedited(%arg0: tensor<1x4x?x64xf16>, %arg1: tensor<1x2x?x64xf16>, %arg2: tensor<1x2x?x64xf16>, %arg3: tensor<1x4x?x64xf16>) -> tensor<1x4x?x64xf16> {
  %cst = arith.constant 0.180336878 : f32
  %cst_0 = arith.constant 0.000000e+00 : f32
  %c32 = arith.constant 32 : index
  %cst_1 = arith.constant 0xFF800000 : f32
  %c64 = arith.constant 64 : index
  %c2 = arith.constant 2 : index
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %arg0, %c2 : tensor<1x4x?x64xf16>
  %dim_2 = tensor.dim %arg1, %c2 : tensor<1x2x?x64xf16>
  %0 = arith.ceildivui %dim, %c64 : index
  %1 = scf.forall (%arg4, %arg5, %arg6) in (1, 4, %0) shared_outs(%arg7 = %arg3) -> (tensor<1x4x?x64xf16>) {
    %2 = arith.divui %arg5, %c2 : index
    %3 = arith.muli %arg6, %c64 : index
    %4 = arith.subi %dim, %3 : index
    %5 = arith.minsi %4, %c64 : index
    %extracted_slice = tensor.extract_slice %arg0[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<1x4x?x64xf16> to tensor<?x64xf16>
    %6 = tensor.empty(%5) : tensor<?xf32>
    %7 = linalg.fill ins(%cst_1 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %8 = linalg.fill ins(%cst_0 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %9 = tensor.empty(%5) : tensor<?x64xf32>
    %10 = linalg.fill ins(%cst_0 : f32) outs(%9 : tensor<?x64xf32>) -> tensor<?x64xf32>
    %11:3 = scf.for %arg8 = %c0 to %dim_2 step %c32 iter_args(%arg9 = %7, %arg10 = %8, %arg11 = %10) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>) {
      %16 = arith.subi %dim_2, %arg8 : index
      %17 = arith.minsi %16, %c32 : index
      %extracted_slice_4 = tensor.extract_slice %arg1[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %18 = tensor.empty(%5, %17) : tensor<?x?xf32>
      %19 = linalg.fill ins(%cst_0 : f32) outs(%18 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %20 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_4 : tensor<?x64xf16>, tensor<?x64xf16>) outs(%19 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f16, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.extf %in : f16 to f32
        %34 = arith.mulf %33, %32 : f32
        %35 = arith.addf %out, %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %21 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%20 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %32 = arith.mulf %out, %cst : f32
        linalg.yield %32 : f32
      } -> tensor<?x?xf32>
      %22 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%21 : tensor<?x?xf32>) outs(%arg9 : tensor<?xf32>) attrs =  {fa.role = "running_max"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.maximumf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_5 = tensor.dim %arg9, %c0 : tensor<?xf32>
      %23 = tensor.empty(%dim_5) : tensor<?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg9, %22 : tensor<?xf32>, tensor<?xf32>) outs(%23 : tensor<?xf32>) attrs =  {fa.role = "rescale"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?xf32>
      %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%21, %22 : tensor<?x?xf32>, tensor<?xf32>) outs(%18 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %dim_6 = tensor.dim %arg10, %c0 : tensor<?xf32>
      %26 = tensor.empty(%dim_6) : tensor<?xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg10, %24 : tensor<?xf32>, tensor<?xf32>) outs(%26 : tensor<?xf32>) attrs =  {fa.role = "rescale_sum"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %28 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%25 : tensor<?x?xf32>) outs(%27 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.addf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_7 = tensor.dim %arg11, %c0 : tensor<?x64xf32>
      %29 = tensor.empty(%dim_7) : tensor<?x64xf32>
      %30 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg11, %24 : tensor<?x64xf32>, tensor<?xf32>) outs(%29 : tensor<?x64xf32>) attrs =  {fa.role = "rescale_acc"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?x64xf32>
      %extracted_slice_8 = tensor.extract_slice %arg2[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %31 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%25, %extracted_slice_8 : tensor<?x?xf32>, tensor<?x64xf16>) outs(%30 : tensor<?x64xf32>) attrs =  {fa.role = "weighted_values"} {
      ^bb0(%in: f32, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.mulf %in, %32 : f32
        %34 = arith.addf %out, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x64xf32>
      scf.yield %22, %28, %31 : tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>
    } {fa.softmax_stage = "online"}
    %dim_3 = tensor.dim %11#2, %c0 : tensor<?x64xf32>
    %12 = tensor.empty(%dim_3) : tensor<?x64xf32>
    %13 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%11#2, %11#1 : tensor<?x64xf32>, tensor<?xf32>) outs(%12 : tensor<?x64xf32>) attrs =  {fa.role = "normalize"} {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %16 = arith.cmpf oeq, %in_4, %cst_0 : f32
      %17 = arith.divf %in, %in_4 : f32
      %18 = arith.select %16, %cst_0, %17 : f32
      linalg.yield %18 : f32
    } -> tensor<?x64xf32>
    %14 = tensor.empty(%5) : tensor<?x64xf16>
    %15 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%13 : tensor<?x64xf32>) outs(%14 : tensor<?x64xf16>) attrs =  {fa.role = "store"} {
    ^bb0(%in: f32, %out: f16):
      %16 = arith.truncf %in : f32 to f16
      linalg.yield %16 : f16
    } -> tensor<?x64xf16>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %15 into %arg7[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<?x64xf16> into tensor<1x4x?x64xf16>
    }
  } {fa.attention_tile = {block_m = 64 : i64, block_n = 32 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
  return %1 : tensor<1x4x?x64xf16>
}

// -----

// A softcap edited into the scores body: the kernel applies it to every
// score, in both the unmasked and the masked (padding) path.
// CHECK-LABEL: func.func @softcap
// CHECK:       gpu.func @fa_attention_f16_d64_bm64_bn32_w2_s2_{{[0-9a-f]+}}(
// CHECK:         scf.for
// CHECK:           math.tanh
// CHECK:         } else {
// CHECK:           math.tanh
// CHECK:         gpu.return
// HOPPER-LABEL: func.func @softcap
// HOPPER:       gpu.func @fa_attention_f16_d64_bm64_bn32_wg1_s2_wgmma_{{[0-9a-f]+}}(
// HOPPER:         scf.for
// HOPPER:           wgmma.mma_async
// HOPPER:           math.tanh
// HOPPER:         } else {
// HOPPER:           math.tanh
// HOPPER:         gpu.return
func.func @softcap(%arg0: tensor<1x4x?x64xf16>, %arg1: tensor<1x2x?x64xf16>, %arg2: tensor<1x2x?x64xf16>, %arg3: tensor<1x4x?x64xf16>) -> tensor<1x4x?x64xf16> {
  %cst = arith.constant 0.180336878 : f32
  %cst_0 = arith.constant 0.000000e+00 : f32
  %c32 = arith.constant 32 : index
  %cst_1 = arith.constant 0xFF800000 : f32
  %c64 = arith.constant 64 : index
  %c2 = arith.constant 2 : index
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %arg0, %c2 : tensor<1x4x?x64xf16>
  %dim_2 = tensor.dim %arg1, %c2 : tensor<1x2x?x64xf16>
  %0 = arith.ceildivui %dim, %c64 : index
  %1 = scf.forall (%arg4, %arg5, %arg6) in (1, 4, %0) shared_outs(%arg7 = %arg3) -> (tensor<1x4x?x64xf16>) {
    %2 = arith.divui %arg5, %c2 : index
    %3 = arith.muli %arg6, %c64 : index
    %4 = arith.subi %dim, %3 : index
    %5 = arith.minsi %4, %c64 : index
    %extracted_slice = tensor.extract_slice %arg0[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<1x4x?x64xf16> to tensor<?x64xf16>
    %6 = tensor.empty(%5) : tensor<?xf32>
    %7 = linalg.fill ins(%cst_1 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %8 = linalg.fill ins(%cst_0 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %9 = tensor.empty(%5) : tensor<?x64xf32>
    %10 = linalg.fill ins(%cst_0 : f32) outs(%9 : tensor<?x64xf32>) -> tensor<?x64xf32>
    %11:3 = scf.for %arg8 = %c0 to %dim_2 step %c32 iter_args(%arg9 = %7, %arg10 = %8, %arg11 = %10) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>) {
      %16 = arith.subi %dim_2, %arg8 : index
      %17 = arith.minsi %16, %c32 : index
      %extracted_slice_4 = tensor.extract_slice %arg1[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %18 = tensor.empty(%5, %17) : tensor<?x?xf32>
      %19 = linalg.fill ins(%cst_0 : f32) outs(%18 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %20 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_4 : tensor<?x64xf16>, tensor<?x64xf16>) outs(%19 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f16, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.extf %in : f16 to f32
        %34 = arith.mulf %33, %32 : f32
        %35 = arith.addf %out, %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %21 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%20 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        // Edited by hand: 30 * tanh(s / 30) on the (log2e-scaled) score.
        %inv = arith.constant 0.0333333351 : f32
        %cap = arith.constant 30.0 : f32
        %s = arith.mulf %out, %cst : f32
        %x = arith.mulf %s, %inv : f32
        %t = math.tanh %x : f32
        %32 = arith.mulf %t, %cap : f32
        linalg.yield %32 : f32
      } -> tensor<?x?xf32>
      %22 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%21 : tensor<?x?xf32>) outs(%arg9 : tensor<?xf32>) attrs =  {fa.role = "running_max"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.maximumf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_5 = tensor.dim %arg9, %c0 : tensor<?xf32>
      %23 = tensor.empty(%dim_5) : tensor<?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg9, %22 : tensor<?xf32>, tensor<?xf32>) outs(%23 : tensor<?xf32>) attrs =  {fa.role = "rescale"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?xf32>
      %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%21, %22 : tensor<?x?xf32>, tensor<?xf32>) outs(%18 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %dim_6 = tensor.dim %arg10, %c0 : tensor<?xf32>
      %26 = tensor.empty(%dim_6) : tensor<?xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg10, %24 : tensor<?xf32>, tensor<?xf32>) outs(%26 : tensor<?xf32>) attrs =  {fa.role = "rescale_sum"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %28 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%25 : tensor<?x?xf32>) outs(%27 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.addf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_7 = tensor.dim %arg11, %c0 : tensor<?x64xf32>
      %29 = tensor.empty(%dim_7) : tensor<?x64xf32>
      %30 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg11, %24 : tensor<?x64xf32>, tensor<?xf32>) outs(%29 : tensor<?x64xf32>) attrs =  {fa.role = "rescale_acc"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?x64xf32>
      %extracted_slice_8 = tensor.extract_slice %arg2[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %31 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%25, %extracted_slice_8 : tensor<?x?xf32>, tensor<?x64xf16>) outs(%30 : tensor<?x64xf32>) attrs =  {fa.role = "weighted_values"} {
      ^bb0(%in: f32, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.mulf %in, %32 : f32
        %34 = arith.addf %out, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x64xf32>
      scf.yield %22, %28, %31 : tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>
    } {fa.softmax_stage = "online"}
    %dim_3 = tensor.dim %11#2, %c0 : tensor<?x64xf32>
    %12 = tensor.empty(%dim_3) : tensor<?x64xf32>
    %13 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%11#2, %11#1 : tensor<?x64xf32>, tensor<?xf32>) outs(%12 : tensor<?x64xf32>) attrs =  {fa.role = "normalize"} {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %16 = arith.cmpf oeq, %in_4, %cst_0 : f32
      %17 = arith.divf %in, %in_4 : f32
      %18 = arith.select %16, %cst_0, %17 : f32
      linalg.yield %18 : f32
    } -> tensor<?x64xf32>
    %14 = tensor.empty(%5) : tensor<?x64xf16>
    %15 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%13 : tensor<?x64xf32>) outs(%14 : tensor<?x64xf16>) attrs =  {fa.role = "store"} {
    ^bb0(%in: f32, %out: f16):
      %16 = arith.truncf %in : f32 to f16
      linalg.yield %16 : f16
    } -> tensor<?x64xf16>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %15 into %arg7[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<?x64xf16> into tensor<1x4x?x64xf16>
    }
  } {fa.attention_tile = {block_m = 64 : i64, block_n = 32 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
  return %1 : tensor<1x4x?x64xf16>
}

// -----

// A sliding window edited into the scores body: the kernel classifies key
// blocks from it (binary searches over block ranges) and masks the partial
// ones per element.
// CHECK-LABEL: func.func @window
// CHECK:       gpu.func @fa_attention_f16_d64_bm64_bn32_w2_s2_{{[0-9a-f]+}}(
// CHECK:         gpu.grid_dim
// CHECK:         scf.while
// CHECK:         scf.for
// CHECK:         } else {
// CHECK:           arith.cmpi {{.*}} : i32
// CHECK:           arith.andi
// CHECK:         gpu.return
// HOPPER-LABEL: func.func @window
// HOPPER:       gpu.func @fa_attention_f16_d64_bm64_bn32_wg1_s2_wgmma_{{[0-9a-f]+}}(
// HOPPER:         gpu.grid_dim
// HOPPER:         scf.while
// HOPPER:         scf.for
// HOPPER:         } else {
// HOPPER:           arith.cmpi {{.*}} : i32
// HOPPER:           arith.andi
// HOPPER:         gpu.return
func.func @window(%arg0: tensor<1x4x?x64xf16>, %arg1: tensor<1x2x?x64xf16>, %arg2: tensor<1x2x?x64xf16>, %arg3: tensor<1x4x?x64xf16>) -> tensor<1x4x?x64xf16> {
  %cst = arith.constant 0.180336878 : f32
  %cst_0 = arith.constant 0.000000e+00 : f32
  %c32 = arith.constant 32 : index
  %cst_1 = arith.constant 0xFF800000 : f32
  %c64 = arith.constant 64 : index
  %c2 = arith.constant 2 : index
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %arg0, %c2 : tensor<1x4x?x64xf16>
  %dim_2 = tensor.dim %arg1, %c2 : tensor<1x2x?x64xf16>
  %0 = arith.ceildivui %dim, %c64 : index
  %1 = scf.forall (%arg4, %arg5, %arg6) in (1, 4, %0) shared_outs(%arg7 = %arg3) -> (tensor<1x4x?x64xf16>) {
    %2 = arith.divui %arg5, %c2 : index
    %3 = arith.muli %arg6, %c64 : index
    %4 = arith.subi %dim, %3 : index
    %5 = arith.minsi %4, %c64 : index
    %extracted_slice = tensor.extract_slice %arg0[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<1x4x?x64xf16> to tensor<?x64xf16>
    %6 = tensor.empty(%5) : tensor<?xf32>
    %7 = linalg.fill ins(%cst_1 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %8 = linalg.fill ins(%cst_0 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %9 = tensor.empty(%5) : tensor<?x64xf32>
    %10 = linalg.fill ins(%cst_0 : f32) outs(%9 : tensor<?x64xf32>) -> tensor<?x64xf32>
    %11:3 = scf.for %arg8 = %c0 to %dim_2 step %c32 iter_args(%arg9 = %7, %arg10 = %8, %arg11 = %10) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>) {
      %16 = arith.subi %dim_2, %arg8 : index
      %17 = arith.minsi %16, %c32 : index
      %extracted_slice_4 = tensor.extract_slice %arg1[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %18 = tensor.empty(%5, %17) : tensor<?x?xf32>
      %19 = linalg.fill ins(%cst_0 : f32) outs(%18 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %20 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_4 : tensor<?x64xf16>, tensor<?x64xf16>) outs(%19 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f16, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.extf %in : f16 to f32
        %34 = arith.mulf %33, %32 : f32
        %35 = arith.addf %out, %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %21 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%20 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        // Edited by hand: keys (q - 100, q] only.
        %s = arith.mulf %out, %cst : f32
        %i = linalg.index 0 : index
        %j = linalg.index 1 : index
        %row = arith.addi %3, %i : index
        %col = arith.addi %arg8, %j : index
        %w = arith.constant 100 : index
        %lo = arith.subi %row, %w : index
        %after = arith.cmpi sgt, %col, %lo : index
        %past = arith.cmpi sle, %col, %row : index
        %keep = arith.andi %after, %past : i1
        %ninf = arith.constant 0xFF800000 : f32
        %32 = arith.select %keep, %s, %ninf : f32
        linalg.yield %32 : f32
      } -> tensor<?x?xf32>
      %22 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%21 : tensor<?x?xf32>) outs(%arg9 : tensor<?xf32>) attrs =  {fa.role = "running_max"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.maximumf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_5 = tensor.dim %arg9, %c0 : tensor<?xf32>
      %23 = tensor.empty(%dim_5) : tensor<?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg9, %22 : tensor<?xf32>, tensor<?xf32>) outs(%23 : tensor<?xf32>) attrs =  {fa.role = "rescale"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?xf32>
      %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%21, %22 : tensor<?x?xf32>, tensor<?xf32>) outs(%18 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %dim_6 = tensor.dim %arg10, %c0 : tensor<?xf32>
      %26 = tensor.empty(%dim_6) : tensor<?xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg10, %24 : tensor<?xf32>, tensor<?xf32>) outs(%26 : tensor<?xf32>) attrs =  {fa.role = "rescale_sum"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %28 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%25 : tensor<?x?xf32>) outs(%27 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.addf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_7 = tensor.dim %arg11, %c0 : tensor<?x64xf32>
      %29 = tensor.empty(%dim_7) : tensor<?x64xf32>
      %30 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg11, %24 : tensor<?x64xf32>, tensor<?xf32>) outs(%29 : tensor<?x64xf32>) attrs =  {fa.role = "rescale_acc"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?x64xf32>
      %extracted_slice_8 = tensor.extract_slice %arg2[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %31 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%25, %extracted_slice_8 : tensor<?x?xf32>, tensor<?x64xf16>) outs(%30 : tensor<?x64xf32>) attrs =  {fa.role = "weighted_values"} {
      ^bb0(%in: f32, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.mulf %in, %32 : f32
        %34 = arith.addf %out, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x64xf32>
      scf.yield %22, %28, %31 : tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>
    } {fa.softmax_stage = "online"}
    %dim_3 = tensor.dim %11#2, %c0 : tensor<?x64xf32>
    %12 = tensor.empty(%dim_3) : tensor<?x64xf32>
    %13 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%11#2, %11#1 : tensor<?x64xf32>, tensor<?xf32>) outs(%12 : tensor<?x64xf32>) attrs =  {fa.role = "normalize"} {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %16 = arith.cmpf oeq, %in_4, %cst_0 : f32
      %17 = arith.divf %in, %in_4 : f32
      %18 = arith.select %16, %cst_0, %17 : f32
      linalg.yield %18 : f32
    } -> tensor<?x64xf32>
    %14 = tensor.empty(%5) : tensor<?x64xf16>
    %15 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%13 : tensor<?x64xf32>) outs(%14 : tensor<?x64xf16>) attrs =  {fa.role = "store"} {
    ^bb0(%in: f32, %out: f16):
      %16 = arith.truncf %in : f32 to f16
      linalg.yield %16 : f16
    } -> tensor<?x64xf16>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %15 into %arg7[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<?x64xf16> into tensor<1x4x?x64xf16>
    }
  } {fa.attention_tile = {block_m = 64 : i64, block_n = 32 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
  return %1 : tensor<1x4x?x64xf16>
}

// -----

// Another key/value head mapping: the kernel computes the IR's.
// CHECK-LABEL: func.func @heads
// CHECK:       gpu.func
// CHECK:         %[[H:.*]] = gpu.block_id  y
// CHECK:         arith.remui %[[H]], %c2
// HOPPER-LABEL: func.func @heads
// HOPPER:       gpu.func
// The persistent kernel's head is that of the tile it loops over.
// HOPPER:         scf.for %[[UNIT:[a-z0-9]+]] = {{.*}} : i32 {
// HOPPER:           %[[REST:.*]] = arith.divui %[[UNIT]],
// HOPPER:           %[[H32:.*]] = arith.remui %[[REST]], %c4_i32
// HOPPER:           %[[H:.*]] = arith.index_castui %[[H32]] : i32 to index
// HOPPER:           arith.remui %[[H]], %c2
func.func @heads(%arg0: tensor<1x4x?x64xf16>, %arg1: tensor<1x2x?x64xf16>, %arg2: tensor<1x2x?x64xf16>, %arg3: tensor<1x4x?x64xf16>) -> tensor<1x4x?x64xf16> {
  %cst = arith.constant 0.180336878 : f32
  %cst_0 = arith.constant 0.000000e+00 : f32
  %c32 = arith.constant 32 : index
  %cst_1 = arith.constant 0xFF800000 : f32
  %c64 = arith.constant 64 : index
  %c2 = arith.constant 2 : index
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %arg0, %c2 : tensor<1x4x?x64xf16>
  %dim_2 = tensor.dim %arg1, %c2 : tensor<1x2x?x64xf16>
  %0 = arith.ceildivui %dim, %c64 : index
  %1 = scf.forall (%arg4, %arg5, %arg6) in (1, 4, %0) shared_outs(%arg7 = %arg3) -> (tensor<1x4x?x64xf16>) {
    // Edited by hand: query head h reads key/value head h mod 2.
    %2 = arith.remui %arg5, %c2 : index
    %3 = arith.muli %arg6, %c64 : index
    %4 = arith.subi %dim, %3 : index
    %5 = arith.minsi %4, %c64 : index
    %extracted_slice = tensor.extract_slice %arg0[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<1x4x?x64xf16> to tensor<?x64xf16>
    %6 = tensor.empty(%5) : tensor<?xf32>
    %7 = linalg.fill ins(%cst_1 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %8 = linalg.fill ins(%cst_0 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %9 = tensor.empty(%5) : tensor<?x64xf32>
    %10 = linalg.fill ins(%cst_0 : f32) outs(%9 : tensor<?x64xf32>) -> tensor<?x64xf32>
    %11:3 = scf.for %arg8 = %c0 to %dim_2 step %c32 iter_args(%arg9 = %7, %arg10 = %8, %arg11 = %10) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>) {
      %16 = arith.subi %dim_2, %arg8 : index
      %17 = arith.minsi %16, %c32 : index
      %extracted_slice_4 = tensor.extract_slice %arg1[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %18 = tensor.empty(%5, %17) : tensor<?x?xf32>
      %19 = linalg.fill ins(%cst_0 : f32) outs(%18 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %20 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_4 : tensor<?x64xf16>, tensor<?x64xf16>) outs(%19 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f16, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.extf %in : f16 to f32
        %34 = arith.mulf %33, %32 : f32
        %35 = arith.addf %out, %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %21 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%20 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %32 = arith.mulf %out, %cst : f32
        linalg.yield %32 : f32
      } -> tensor<?x?xf32>
      %22 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%21 : tensor<?x?xf32>) outs(%arg9 : tensor<?xf32>) attrs =  {fa.role = "running_max"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.maximumf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_5 = tensor.dim %arg9, %c0 : tensor<?xf32>
      %23 = tensor.empty(%dim_5) : tensor<?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg9, %22 : tensor<?xf32>, tensor<?xf32>) outs(%23 : tensor<?xf32>) attrs =  {fa.role = "rescale"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?xf32>
      %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%21, %22 : tensor<?x?xf32>, tensor<?xf32>) outs(%18 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %dim_6 = tensor.dim %arg10, %c0 : tensor<?xf32>
      %26 = tensor.empty(%dim_6) : tensor<?xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg10, %24 : tensor<?xf32>, tensor<?xf32>) outs(%26 : tensor<?xf32>) attrs =  {fa.role = "rescale_sum"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %28 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%25 : tensor<?x?xf32>) outs(%27 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.addf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_7 = tensor.dim %arg11, %c0 : tensor<?x64xf32>
      %29 = tensor.empty(%dim_7) : tensor<?x64xf32>
      %30 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg11, %24 : tensor<?x64xf32>, tensor<?xf32>) outs(%29 : tensor<?x64xf32>) attrs =  {fa.role = "rescale_acc"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?x64xf32>
      %extracted_slice_8 = tensor.extract_slice %arg2[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %31 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%25, %extracted_slice_8 : tensor<?x?xf32>, tensor<?x64xf16>) outs(%30 : tensor<?x64xf32>) attrs =  {fa.role = "weighted_values"} {
      ^bb0(%in: f32, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.mulf %in, %32 : f32
        %34 = arith.addf %out, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x64xf32>
      scf.yield %22, %28, %31 : tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>
    } {fa.softmax_stage = "online"}
    %dim_3 = tensor.dim %11#2, %c0 : tensor<?x64xf32>
    %12 = tensor.empty(%dim_3) : tensor<?x64xf32>
    %13 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%11#2, %11#1 : tensor<?x64xf32>, tensor<?xf32>) outs(%12 : tensor<?x64xf32>) attrs =  {fa.role = "normalize"} {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %16 = arith.cmpf oeq, %in_4, %cst_0 : f32
      %17 = arith.divf %in, %in_4 : f32
      %18 = arith.select %16, %cst_0, %17 : f32
      linalg.yield %18 : f32
    } -> tensor<?x64xf32>
    %14 = tensor.empty(%5) : tensor<?x64xf16>
    %15 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%13 : tensor<?x64xf32>) outs(%14 : tensor<?x64xf16>) attrs =  {fa.role = "store"} {
    ^bb0(%in: f32, %out: f16):
      %16 = arith.truncf %in : f32 to f16
      linalg.yield %16 : f16
    } -> tensor<?x64xf16>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %15 into %arg7[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<?x64xf16> into tensor<1x4x?x64xf16>
    }
  } {fa.attention_tile = {block_m = 64 : i64, block_n = 32 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
  return %1 : tensor<1x4x?x64xf16>
}

// -----

// An edited softmax body is refused.
func.func @probabilities(%arg0: tensor<1x4x?x64xf16>, %arg1: tensor<1x2x?x64xf16>, %arg2: tensor<1x2x?x64xf16>, %arg3: tensor<1x4x?x64xf16>) -> tensor<1x4x?x64xf16> {
  %cst = arith.constant 0.180336878 : f32
  %cst_0 = arith.constant 0.000000e+00 : f32
  %c32 = arith.constant 32 : index
  %cst_1 = arith.constant 0xFF800000 : f32
  %c64 = arith.constant 64 : index
  %c2 = arith.constant 2 : index
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %arg0, %c2 : tensor<1x4x?x64xf16>
  %dim_2 = tensor.dim %arg1, %c2 : tensor<1x2x?x64xf16>
  %0 = arith.ceildivui %dim, %c64 : index
  %1 = scf.forall (%arg4, %arg5, %arg6) in (1, 4, %0) shared_outs(%arg7 = %arg3) -> (tensor<1x4x?x64xf16>) {
    %2 = arith.divui %arg5, %c2 : index
    %3 = arith.muli %arg6, %c64 : index
    %4 = arith.subi %dim, %3 : index
    %5 = arith.minsi %4, %c64 : index
    %extracted_slice = tensor.extract_slice %arg0[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<1x4x?x64xf16> to tensor<?x64xf16>
    %6 = tensor.empty(%5) : tensor<?xf32>
    %7 = linalg.fill ins(%cst_1 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %8 = linalg.fill ins(%cst_0 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %9 = tensor.empty(%5) : tensor<?x64xf32>
    %10 = linalg.fill ins(%cst_0 : f32) outs(%9 : tensor<?x64xf32>) -> tensor<?x64xf32>
    %11:3 = scf.for %arg8 = %c0 to %dim_2 step %c32 iter_args(%arg9 = %7, %arg10 = %8, %arg11 = %10) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>) {
      %16 = arith.subi %dim_2, %arg8 : index
      %17 = arith.minsi %16, %c32 : index
      %extracted_slice_4 = tensor.extract_slice %arg1[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %18 = tensor.empty(%5, %17) : tensor<?x?xf32>
      %19 = linalg.fill ins(%cst_0 : f32) outs(%18 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %20 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_4 : tensor<?x64xf16>, tensor<?x64xf16>) outs(%19 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f16, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.extf %in : f16 to f32
        %34 = arith.mulf %33, %32 : f32
        %35 = arith.addf %out, %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %21 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%20 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %32 = arith.mulf %out, %cst : f32
        linalg.yield %32 : f32
      } -> tensor<?x?xf32>
      %22 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%21 : tensor<?x?xf32>) outs(%arg9 : tensor<?xf32>) attrs =  {fa.role = "running_max"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.maximumf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_5 = tensor.dim %arg9, %c0 : tensor<?xf32>
      %23 = tensor.empty(%dim_5) : tensor<?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg9, %22 : tensor<?xf32>, tensor<?xf32>) outs(%23 : tensor<?xf32>) attrs =  {fa.role = "rescale"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?xf32>
      // expected-error @+1 {{not a fused attention tile a GPU strategy can implement: the body or maps of 'probabilities' are not the ones fa-fuse-online-softmax builds; only the 'scores' body may be edited}}
      %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%21, %22 : tensor<?x?xf32>, tensor<?xf32>) outs(%18 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        // Edited by hand: exp instead of exp2 (the kernel's softmax
        // cannot do that; it must refuse, not ignore it).
        %35 = math.exp %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %dim_6 = tensor.dim %arg10, %c0 : tensor<?xf32>
      %26 = tensor.empty(%dim_6) : tensor<?xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg10, %24 : tensor<?xf32>, tensor<?xf32>) outs(%26 : tensor<?xf32>) attrs =  {fa.role = "rescale_sum"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %28 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%25 : tensor<?x?xf32>) outs(%27 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.addf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_7 = tensor.dim %arg11, %c0 : tensor<?x64xf32>
      %29 = tensor.empty(%dim_7) : tensor<?x64xf32>
      %30 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg11, %24 : tensor<?x64xf32>, tensor<?xf32>) outs(%29 : tensor<?x64xf32>) attrs =  {fa.role = "rescale_acc"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?x64xf32>
      %extracted_slice_8 = tensor.extract_slice %arg2[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %31 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%25, %extracted_slice_8 : tensor<?x?xf32>, tensor<?x64xf16>) outs(%30 : tensor<?x64xf32>) attrs =  {fa.role = "weighted_values"} {
      ^bb0(%in: f32, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.mulf %in, %32 : f32
        %34 = arith.addf %out, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x64xf32>
      scf.yield %22, %28, %31 : tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>
    } {fa.softmax_stage = "online"}
    %dim_3 = tensor.dim %11#2, %c0 : tensor<?x64xf32>
    %12 = tensor.empty(%dim_3) : tensor<?x64xf32>
    %13 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%11#2, %11#1 : tensor<?x64xf32>, tensor<?xf32>) outs(%12 : tensor<?x64xf32>) attrs =  {fa.role = "normalize"} {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %16 = arith.cmpf oeq, %in_4, %cst_0 : f32
      %17 = arith.divf %in, %in_4 : f32
      %18 = arith.select %16, %cst_0, %17 : f32
      linalg.yield %18 : f32
    } -> tensor<?x64xf32>
    %14 = tensor.empty(%5) : tensor<?x64xf16>
    %15 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%13 : tensor<?x64xf32>) outs(%14 : tensor<?x64xf16>) attrs =  {fa.role = "store"} {
    ^bb0(%in: f32, %out: f16):
      %16 = arith.truncf %in : f32 to f16
      linalg.yield %16 : f16
    } -> tensor<?x64xf16>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %15 into %arg7[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<?x64xf16> into tensor<1x4x?x64xf16>
    }
  } {fa.attention_tile = {block_m = 64 : i64, block_n = 32 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
  return %1 : tensor<1x4x?x64xf16>
}

// -----

// A scores body that reads a tensor of the tile is refused.
func.func @reads_q(%arg0: tensor<1x4x?x64xf16>, %arg1: tensor<1x2x?x64xf16>, %arg2: tensor<1x2x?x64xf16>, %arg3: tensor<1x4x?x64xf16>) -> tensor<1x4x?x64xf16> {
  %cst = arith.constant 0.180336878 : f32
  %cst_0 = arith.constant 0.000000e+00 : f32
  %c32 = arith.constant 32 : index
  %cst_1 = arith.constant 0xFF800000 : f32
  %c64 = arith.constant 64 : index
  %c2 = arith.constant 2 : index
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %arg0, %c2 : tensor<1x4x?x64xf16>
  %dim_2 = tensor.dim %arg1, %c2 : tensor<1x2x?x64xf16>
  %0 = arith.ceildivui %dim, %c64 : index
  %1 = scf.forall (%arg4, %arg5, %arg6) in (1, 4, %0) shared_outs(%arg7 = %arg3) -> (tensor<1x4x?x64xf16>) {
    %2 = arith.divui %arg5, %c2 : index
    %3 = arith.muli %arg6, %c64 : index
    %4 = arith.subi %dim, %3 : index
    %5 = arith.minsi %4, %c64 : index
    %extracted_slice = tensor.extract_slice %arg0[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<1x4x?x64xf16> to tensor<?x64xf16>
    %6 = tensor.empty(%5) : tensor<?xf32>
    %7 = linalg.fill ins(%cst_1 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %8 = linalg.fill ins(%cst_0 : f32) outs(%6 : tensor<?xf32>) -> tensor<?xf32>
    %9 = tensor.empty(%5) : tensor<?x64xf32>
    %10 = linalg.fill ins(%cst_0 : f32) outs(%9 : tensor<?x64xf32>) -> tensor<?x64xf32>
    %11:3 = scf.for %arg8 = %c0 to %dim_2 step %c32 iter_args(%arg9 = %7, %arg10 = %8, %arg11 = %10) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>) {
      %16 = arith.subi %dim_2, %arg8 : index
      %17 = arith.minsi %16, %c32 : index
      %extracted_slice_4 = tensor.extract_slice %arg1[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %18 = tensor.empty(%5, %17) : tensor<?x?xf32>
      %19 = linalg.fill ins(%cst_0 : f32) outs(%18 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %20 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_4 : tensor<?x64xf16>, tensor<?x64xf16>) outs(%19 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f16, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.extf %in : f16 to f32
        %34 = arith.mulf %33, %32 : f32
        %35 = arith.addf %out, %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %21 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%20 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        // Edited by hand: reads the Q tile, a tensor made in the tile.
        %i = linalg.index 0 : index
        %c0_x = arith.constant 0 : index
        // expected-error @+1 {{not a fused attention tile a GPU strategy can implement: the 'scores' body may read only tensors defined outside the tile (captures)}}
        %qv = tensor.extract %extracted_slice[%i, %c0_x] : tensor<?x64xf16>
        %qf = arith.extf %qv : f16 to f32
        %s = arith.mulf %out, %cst : f32
        %32 = arith.addf %s, %qf : f32
        linalg.yield %32 : f32
      } -> tensor<?x?xf32>
      %22 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%21 : tensor<?x?xf32>) outs(%arg9 : tensor<?xf32>) attrs =  {fa.role = "running_max"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.maximumf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_5 = tensor.dim %arg9, %c0 : tensor<?xf32>
      %23 = tensor.empty(%dim_5) : tensor<?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg9, %22 : tensor<?xf32>, tensor<?xf32>) outs(%23 : tensor<?xf32>) attrs =  {fa.role = "rescale"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?xf32>
      %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%21, %22 : tensor<?x?xf32>, tensor<?xf32>) outs(%18 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.cmpf oeq, %in_9, %cst_1 : f32
        %33 = arith.select %32, %cst_0, %in_9 : f32
        %34 = arith.subf %in, %33 : f32
        %35 = math.exp2 %34 : f32
        linalg.yield %35 : f32
      } -> tensor<?x?xf32>
      %dim_6 = tensor.dim %arg10, %c0 : tensor<?xf32>
      %26 = tensor.empty(%dim_6) : tensor<?xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg10, %24 : tensor<?xf32>, tensor<?xf32>) outs(%26 : tensor<?xf32>) attrs =  {fa.role = "rescale_sum"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %28 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%25 : tensor<?x?xf32>) outs(%27 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
      ^bb0(%in: f32, %out: f32):
        %32 = arith.addf %out, %in : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %dim_7 = tensor.dim %arg11, %c0 : tensor<?x64xf32>
      %29 = tensor.empty(%dim_7) : tensor<?x64xf32>
      %30 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg11, %24 : tensor<?x64xf32>, tensor<?xf32>) outs(%29 : tensor<?x64xf32>) attrs =  {fa.role = "rescale_acc"} {
      ^bb0(%in: f32, %in_9: f32, %out: f32):
        %32 = arith.mulf %in, %in_9 : f32
        linalg.yield %32 : f32
      } -> tensor<?x64xf32>
      %extracted_slice_8 = tensor.extract_slice %arg2[0, %2, %arg8, 0] [1, 1, %17, 64] [1, 1, 1, 1] : tensor<1x2x?x64xf16> to tensor<?x64xf16>
      %31 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%25, %extracted_slice_8 : tensor<?x?xf32>, tensor<?x64xf16>) outs(%30 : tensor<?x64xf32>) attrs =  {fa.role = "weighted_values"} {
      ^bb0(%in: f32, %in_9: f16, %out: f32):
        %32 = arith.extf %in_9 : f16 to f32
        %33 = arith.mulf %in, %32 : f32
        %34 = arith.addf %out, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x64xf32>
      scf.yield %22, %28, %31 : tensor<?xf32>, tensor<?xf32>, tensor<?x64xf32>
    } {fa.softmax_stage = "online"}
    %dim_3 = tensor.dim %11#2, %c0 : tensor<?x64xf32>
    %12 = tensor.empty(%dim_3) : tensor<?x64xf32>
    %13 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%11#2, %11#1 : tensor<?x64xf32>, tensor<?xf32>) outs(%12 : tensor<?x64xf32>) attrs =  {fa.role = "normalize"} {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %16 = arith.cmpf oeq, %in_4, %cst_0 : f32
      %17 = arith.divf %in, %in_4 : f32
      %18 = arith.select %16, %cst_0, %17 : f32
      linalg.yield %18 : f32
    } -> tensor<?x64xf32>
    %14 = tensor.empty(%5) : tensor<?x64xf16>
    %15 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%13 : tensor<?x64xf32>) outs(%14 : tensor<?x64xf16>) attrs =  {fa.role = "store"} {
    ^bb0(%in: f32, %out: f16):
      %16 = arith.truncf %in : f32 to f16
      linalg.yield %16 : f16
    } -> tensor<?x64xf16>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %15 into %arg7[0, %arg5, %3, 0] [1, 1, %5, 64] [1, 1, 1, 1] : tensor<?x64xf16> into tensor<1x4x?x64xf16>
    }
  } {fa.attention_tile = {block_m = 64 : i64, block_n = 32 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
  return %1 : tensor<1x4x?x64xf16>
}
