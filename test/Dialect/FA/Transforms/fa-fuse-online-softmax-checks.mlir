// fa-fuse-online-softmax checks what it rewrites. Tiled IR of a small
// attention (fa-tile-attention block-m=16 block-n=16), edited by hand: an
// edit made in one of the three loops only, or to a body the fusion
// replaces, leaves the IR unfused with a warning that says why.
// RUN: fa-opt %s -split-input-file -verify-diagnostics "--fa-tile-attention=block-m=16 block-n=16" --fa-fuse-online-softmax | FileCheck %s
// With require-fused (the GPU compile pipeline, fa-compile), each is an
// error that says why, not a warning.
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=block-m=16 block-n=16" "--fa-fuse-online-softmax=require-fused=true" 2>&1 | FileCheck %s --check-prefix=REQUIRED
// REQUIRED: error: fa-fuse-online-softmax cannot fuse this tile, and GPU kernels are built from fused tiles: the three loops do not compute the same scores
// REQUIRED-NOT: warning:

// CHECK-LABEL: func.func @one_loop
// CHECK:         fa.softmax_stage = "row_max"
// CHECK-NOT:     fa.softmax_stage = "online"
func.func @one_loop(%arg0: tensor<1x2x?x16xf32>, %arg1: tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %arg0, %c0 : tensor<1x2x?x16xf32>
  %c1 = arith.constant 1 : index
  %dim_0 = tensor.dim %arg0, %c1 : tensor<1x2x?x16xf32>
  %c2 = arith.constant 2 : index
  %dim_1 = tensor.dim %arg0, %c2 : tensor<1x2x?x16xf32>
  %c1_2 = arith.constant 1 : index
  %dim_3 = tensor.dim %arg0, %c1_2 : tensor<1x2x?x16xf32>
  %c2_4 = arith.constant 2 : index
  %dim_5 = tensor.dim %arg0, %c2_4 : tensor<1x2x?x16xf32>
  %0 = arith.divui %dim_0, %dim_3 : index
  %c16 = arith.constant 16 : index
  %1 = arith.ceildivui %dim_1, %c16 : index
  %2 = scf.forall (%arg2, %arg3, %arg4) in (%dim, %dim_0, %1) shared_outs(%arg5 = %arg1) -> (tensor<1x2x?x16xf32>) {
    %3 = arith.divui %arg3, %0 : index
    %4 = arith.muli %arg4, %c16 : index
    %5 = arith.subi %dim_1, %4 : index
    %6 = arith.minsi %c16, %5 : index
    %extracted_slice = tensor.extract_slice %arg0[%arg2, %arg3, %4, 0] [1, 1, %6, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
    %7 = tensor.empty(%6) : tensor<?xf32>
    %c0_6 = arith.constant 0 : index
    %dim_7 = tensor.dim %7, %c0_6 : tensor<?xf32>
    %8 = tensor.empty(%dim_7) : tensor<?xf32>
    %cst = arith.constant 0xFF800000 : f32
    %9 = linalg.fill ins(%cst : f32) outs(%8 : tensor<?xf32>) -> tensor<?xf32>
    %c0_8 = arith.constant 0 : index
    %c16_9 = arith.constant 16 : index
    // expected-warning @+1 {{fa-fuse-online-softmax: left unfused: the three loops do not compute the same scores}}
    %10 = scf.for %arg6 = %c0_8 to %dim_5 step %c16_9 iter_args(%arg7 = %9) -> (tensor<?xf32>) {
      %19 = arith.subi %dim_5, %arg6 : index
      %20 = arith.minsi %c16_9, %19 : index
      %extracted_slice_18 = tensor.extract_slice %arg0[%arg2, %3, %arg6, 0] [1, 1, %20, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
      %21 = tensor.empty(%6, %20) : tensor<?x?xf32>
      %cst_19 = arith.constant 0.000000e+00 : f32
      %22 = linalg.fill ins(%cst_19 : f32) outs(%21 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %23 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_18 : tensor<?x16xf32>, tensor<?x16xf32>) outs(%22 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f32, %in_20: f32, %out: f32):
        %26 = arith.mulf %in, %in_20 : f32
        %27 = arith.addf %out, %26 : f32
        linalg.yield %27 : f32
      } -> tensor<?x?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%23 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %cst_20 = arith.constant 2.500000e-01 : f32
        %s = arith.mulf %out, %cst_20 : f32
        // Edited by hand in the row_max loop only.
        %26 = math.tanh %s : f32
        linalg.yield %26 : f32
      } -> tensor<?x?xf32>
      %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%24 : tensor<?x?xf32>) outs(%arg7 : tensor<?xf32>) attrs =  {fa.role = "row_max"} {
      ^bb0(%in: f32, %out: f32):
        %26 = arith.maximumf %out, %in : f32
        linalg.yield %26 : f32
      } -> tensor<?xf32>
      scf.yield %25 : tensor<?xf32>
    } {fa.softmax_stage = "row_max"}
    %c0_10 = arith.constant 0 : index
    %dim_11 = tensor.dim %7, %c0_10 : tensor<?xf32>
    %11 = tensor.empty(%dim_11) : tensor<?xf32>
    %cst_12 = arith.constant 0.000000e+00 : f32
    %12 = linalg.fill ins(%cst_12 : f32) outs(%11 : tensor<?xf32>) -> tensor<?xf32>
    %c0_13 = arith.constant 0 : index
    %c16_14 = arith.constant 16 : index
    %13 = scf.for %arg6 = %c0_13 to %dim_5 step %c16_14 iter_args(%arg7 = %12) -> (tensor<?xf32>) {
      %19 = arith.subi %dim_5, %arg6 : index
      %20 = arith.minsi %c16_14, %19 : index
      %extracted_slice_18 = tensor.extract_slice %arg0[%arg2, %3, %arg6, 0] [1, 1, %20, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
      %21 = tensor.empty(%6, %20) : tensor<?x?xf32>
      %cst_19 = arith.constant 0.000000e+00 : f32
      %22 = linalg.fill ins(%cst_19 : f32) outs(%21 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %23 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_18 : tensor<?x16xf32>, tensor<?x16xf32>) outs(%22 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f32, %in_24: f32, %out: f32):
        %28 = arith.mulf %in, %in_24 : f32
        %29 = arith.addf %out, %28 : f32
        linalg.yield %29 : f32
      } -> tensor<?x?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%23 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %cst_24 = arith.constant 2.500000e-01 : f32
        %28 = arith.mulf %out, %cst_24 : f32
        linalg.yield %28 : f32
      } -> tensor<?x?xf32>
      %c0_20 = arith.constant 0 : index
      %dim_21 = tensor.dim %24, %c0_20 : tensor<?x?xf32>
      %c1_22 = arith.constant 1 : index
      %dim_23 = tensor.dim %24, %c1_22 : tensor<?x?xf32>
      %25 = tensor.empty(%dim_21, %dim_23) : tensor<?x?xf32>
      %26 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%24, %10 : tensor<?x?xf32>, tensor<?xf32>) outs(%25 : tensor<?x?xf32>) attrs =  {fa.role = "exp"} {
      ^bb0(%in: f32, %in_24: f32, %out: f32):
        %cst_25 = arith.constant 0xFF800000 : f32
        %cst_26 = arith.constant 0.000000e+00 : f32
        %28 = arith.cmpf oeq, %in_24, %cst_25 : f32
        %29 = arith.select %28, %cst_26, %in_24 : f32
        %30 = arith.subf %in, %29 : f32
        %31 = math.exp %30 : f32
        linalg.yield %31 : f32
      } -> tensor<?x?xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%26 : tensor<?x?xf32>) outs(%arg7 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
      ^bb0(%in: f32, %out: f32):
        %28 = arith.addf %out, %in : f32
        linalg.yield %28 : f32
      } -> tensor<?xf32>
      scf.yield %27 : tensor<?xf32>
    } {fa.softmax_stage = "row_sum"}
    %14 = tensor.empty(%6) : tensor<?x16xf32>
    %cst_15 = arith.constant 0.000000e+00 : f32
    %15 = linalg.fill ins(%cst_15 : f32) outs(%14 : tensor<?x16xf32>) -> tensor<?x16xf32>
    %c0_16 = arith.constant 0 : index
    %c16_17 = arith.constant 16 : index
    %16 = scf.for %arg6 = %c0_16 to %dim_5 step %c16_17 iter_args(%arg7 = %15) -> (tensor<?x16xf32>) {
      %19 = arith.subi %dim_5, %arg6 : index
      %20 = arith.minsi %c16_17, %19 : index
      %extracted_slice_18 = tensor.extract_slice %arg0[%arg2, %3, %arg6, 0] [1, 1, %20, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
      %21 = tensor.empty(%6, %20) : tensor<?x?xf32>
      %cst_19 = arith.constant 0.000000e+00 : f32
      %22 = linalg.fill ins(%cst_19 : f32) outs(%21 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %23 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_18 : tensor<?x16xf32>, tensor<?x16xf32>) outs(%22 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f32, %in_25: f32, %out: f32):
        %28 = arith.mulf %in, %in_25 : f32
        %29 = arith.addf %out, %28 : f32
        linalg.yield %29 : f32
      } -> tensor<?x?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%23 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %cst_25 = arith.constant 2.500000e-01 : f32
        %28 = arith.mulf %out, %cst_25 : f32
        linalg.yield %28 : f32
      } -> tensor<?x?xf32>
      %c0_20 = arith.constant 0 : index
      %dim_21 = tensor.dim %24, %c0_20 : tensor<?x?xf32>
      %c1_22 = arith.constant 1 : index
      %dim_23 = tensor.dim %24, %c1_22 : tensor<?x?xf32>
      %25 = tensor.empty(%dim_21, %dim_23) : tensor<?x?xf32>
      %26 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%24, %10, %13 : tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>) outs(%25 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
      ^bb0(%in: f32, %in_25: f32, %in_26: f32, %out: f32):
        %cst_27 = arith.constant 0xFF800000 : f32
        %cst_28 = arith.constant 0.000000e+00 : f32
        %28 = arith.cmpf oeq, %in_25, %cst_27 : f32
        %29 = arith.select %28, %cst_28, %in_25 : f32
        %30 = arith.subf %in, %29 : f32
        %31 = math.exp %30 : f32
        %cst_29 = arith.constant 0.000000e+00 : f32
        %32 = arith.cmpf oeq, %in_26, %cst_29 : f32
        %33 = arith.divf %31, %in_26 : f32
        %34 = arith.select %32, %cst_29, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x?xf32>
      %extracted_slice_24 = tensor.extract_slice %arg0[%arg2, %3, %arg6, 0] [1, 1, %20, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%26, %extracted_slice_24 : tensor<?x?xf32>, tensor<?x16xf32>) outs(%arg7 : tensor<?x16xf32>) attrs =  {fa.role = "weighted_values"} {
      ^bb0(%in: f32, %in_25: f32, %out: f32):
        %28 = arith.mulf %in, %in_25 : f32
        %29 = arith.addf %out, %28 : f32
        linalg.yield %29 : f32
      } -> tensor<?x16xf32>
      scf.yield %27 : tensor<?x16xf32>
    } {fa.softmax_stage = "weighted_values"}
    %17 = tensor.empty(%6) : tensor<?x16xf32>
    %18 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%16 : tensor<?x16xf32>) outs(%17 : tensor<?x16xf32>) attrs =  {fa.role = "store"} {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<?x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %18 into %arg5[%arg2, %arg3, %4, 0] [1, 1, %6, 16] [1, 1, 1, 1] : tensor<?x16xf32> into tensor<1x2x?x16xf32>
    }
  } {fa.attention_tile = {block_m = 16 : i64, block_n = 16 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
  return %2 : tensor<1x2x?x16xf32>
}

// -----

// CHECK-LABEL: func.func @exp_body
// CHECK:         fa.softmax_stage = "row_max"
// CHECK-NOT:     fa.softmax_stage = "online"
func.func @exp_body(%arg0: tensor<1x2x?x16xf32>, %arg1: tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %c0 = arith.constant 0 : index
  %dim = tensor.dim %arg0, %c0 : tensor<1x2x?x16xf32>
  %c1 = arith.constant 1 : index
  %dim_0 = tensor.dim %arg0, %c1 : tensor<1x2x?x16xf32>
  %c2 = arith.constant 2 : index
  %dim_1 = tensor.dim %arg0, %c2 : tensor<1x2x?x16xf32>
  %c1_2 = arith.constant 1 : index
  %dim_3 = tensor.dim %arg0, %c1_2 : tensor<1x2x?x16xf32>
  %c2_4 = arith.constant 2 : index
  %dim_5 = tensor.dim %arg0, %c2_4 : tensor<1x2x?x16xf32>
  %0 = arith.divui %dim_0, %dim_3 : index
  %c16 = arith.constant 16 : index
  %1 = arith.ceildivui %dim_1, %c16 : index
  %2 = scf.forall (%arg2, %arg3, %arg4) in (%dim, %dim_0, %1) shared_outs(%arg5 = %arg1) -> (tensor<1x2x?x16xf32>) {
    %3 = arith.divui %arg3, %0 : index
    %4 = arith.muli %arg4, %c16 : index
    %5 = arith.subi %dim_1, %4 : index
    %6 = arith.minsi %c16, %5 : index
    %extracted_slice = tensor.extract_slice %arg0[%arg2, %arg3, %4, 0] [1, 1, %6, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
    %7 = tensor.empty(%6) : tensor<?xf32>
    %c0_6 = arith.constant 0 : index
    %dim_7 = tensor.dim %7, %c0_6 : tensor<?xf32>
    %8 = tensor.empty(%dim_7) : tensor<?xf32>
    %cst = arith.constant 0xFF800000 : f32
    %9 = linalg.fill ins(%cst : f32) outs(%8 : tensor<?xf32>) -> tensor<?xf32>
    %c0_8 = arith.constant 0 : index
    %c16_9 = arith.constant 16 : index
    // expected-warning @+1 {{fa-fuse-online-softmax: left unfused: the row_sum loop is not 'row_sum(exp(scores - max))'}}
    %10 = scf.for %arg6 = %c0_8 to %dim_5 step %c16_9 iter_args(%arg7 = %9) -> (tensor<?xf32>) {
      %19 = arith.subi %dim_5, %arg6 : index
      %20 = arith.minsi %c16_9, %19 : index
      %extracted_slice_18 = tensor.extract_slice %arg0[%arg2, %3, %arg6, 0] [1, 1, %20, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
      %21 = tensor.empty(%6, %20) : tensor<?x?xf32>
      %cst_19 = arith.constant 0.000000e+00 : f32
      %22 = linalg.fill ins(%cst_19 : f32) outs(%21 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %23 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_18 : tensor<?x16xf32>, tensor<?x16xf32>) outs(%22 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f32, %in_20: f32, %out: f32):
        %26 = arith.mulf %in, %in_20 : f32
        %27 = arith.addf %out, %26 : f32
        linalg.yield %27 : f32
      } -> tensor<?x?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%23 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %cst_20 = arith.constant 2.500000e-01 : f32
        %26 = arith.mulf %out, %cst_20 : f32
        linalg.yield %26 : f32
      } -> tensor<?x?xf32>
      %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%24 : tensor<?x?xf32>) outs(%arg7 : tensor<?xf32>) attrs =  {fa.role = "row_max"} {
      ^bb0(%in: f32, %out: f32):
        %26 = arith.maximumf %out, %in : f32
        linalg.yield %26 : f32
      } -> tensor<?xf32>
      scf.yield %25 : tensor<?xf32>
    } {fa.softmax_stage = "row_max"}
    %c0_10 = arith.constant 0 : index
    %dim_11 = tensor.dim %7, %c0_10 : tensor<?xf32>
    %11 = tensor.empty(%dim_11) : tensor<?xf32>
    %cst_12 = arith.constant 0.000000e+00 : f32
    %12 = linalg.fill ins(%cst_12 : f32) outs(%11 : tensor<?xf32>) -> tensor<?xf32>
    %c0_13 = arith.constant 0 : index
    %c16_14 = arith.constant 16 : index
    %13 = scf.for %arg6 = %c0_13 to %dim_5 step %c16_14 iter_args(%arg7 = %12) -> (tensor<?xf32>) {
      %19 = arith.subi %dim_5, %arg6 : index
      %20 = arith.minsi %c16_14, %19 : index
      %extracted_slice_18 = tensor.extract_slice %arg0[%arg2, %3, %arg6, 0] [1, 1, %20, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
      %21 = tensor.empty(%6, %20) : tensor<?x?xf32>
      %cst_19 = arith.constant 0.000000e+00 : f32
      %22 = linalg.fill ins(%cst_19 : f32) outs(%21 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %23 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_18 : tensor<?x16xf32>, tensor<?x16xf32>) outs(%22 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f32, %in_24: f32, %out: f32):
        %28 = arith.mulf %in, %in_24 : f32
        %29 = arith.addf %out, %28 : f32
        linalg.yield %29 : f32
      } -> tensor<?x?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%23 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %cst_24 = arith.constant 2.500000e-01 : f32
        %28 = arith.mulf %out, %cst_24 : f32
        linalg.yield %28 : f32
      } -> tensor<?x?xf32>
      %c0_20 = arith.constant 0 : index
      %dim_21 = tensor.dim %24, %c0_20 : tensor<?x?xf32>
      %c1_22 = arith.constant 1 : index
      %dim_23 = tensor.dim %24, %c1_22 : tensor<?x?xf32>
      %25 = tensor.empty(%dim_21, %dim_23) : tensor<?x?xf32>
      %26 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%24, %10 : tensor<?x?xf32>, tensor<?xf32>) outs(%25 : tensor<?x?xf32>) attrs =  {fa.role = "exp"} {
      ^bb0(%in: f32, %in_24: f32, %out: f32):
        %cst_25 = arith.constant 0xFF800000 : f32
        %cst_26 = arith.constant 0.000000e+00 : f32
        %28 = arith.cmpf oeq, %in_24, %cst_25 : f32
        %29 = arith.select %28, %cst_26, %in_24 : f32
        %30 = arith.subf %in, %29 : f32
        // Edited by hand: exp2 in the exact softmax's exp.
        %31 = math.exp2 %30 : f32
        linalg.yield %31 : f32
      } -> tensor<?x?xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%26 : tensor<?x?xf32>) outs(%arg7 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
      ^bb0(%in: f32, %out: f32):
        %28 = arith.addf %out, %in : f32
        linalg.yield %28 : f32
      } -> tensor<?xf32>
      scf.yield %27 : tensor<?xf32>
    } {fa.softmax_stage = "row_sum"}
    %14 = tensor.empty(%6) : tensor<?x16xf32>
    %cst_15 = arith.constant 0.000000e+00 : f32
    %15 = linalg.fill ins(%cst_15 : f32) outs(%14 : tensor<?x16xf32>) -> tensor<?x16xf32>
    %c0_16 = arith.constant 0 : index
    %c16_17 = arith.constant 16 : index
    %16 = scf.for %arg6 = %c0_16 to %dim_5 step %c16_17 iter_args(%arg7 = %15) -> (tensor<?x16xf32>) {
      %19 = arith.subi %dim_5, %arg6 : index
      %20 = arith.minsi %c16_17, %19 : index
      %extracted_slice_18 = tensor.extract_slice %arg0[%arg2, %3, %arg6, 0] [1, 1, %20, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
      %21 = tensor.empty(%6, %20) : tensor<?x?xf32>
      %cst_19 = arith.constant 0.000000e+00 : f32
      %22 = linalg.fill ins(%cst_19 : f32) outs(%21 : tensor<?x?xf32>) -> tensor<?x?xf32>
      %23 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_18 : tensor<?x16xf32>, tensor<?x16xf32>) outs(%22 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
      ^bb0(%in: f32, %in_25: f32, %out: f32):
        %28 = arith.mulf %in, %in_25 : f32
        %29 = arith.addf %out, %28 : f32
        linalg.yield %29 : f32
      } -> tensor<?x?xf32>
      %24 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%23 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
      ^bb0(%out: f32):
        %cst_25 = arith.constant 2.500000e-01 : f32
        %28 = arith.mulf %out, %cst_25 : f32
        linalg.yield %28 : f32
      } -> tensor<?x?xf32>
      %c0_20 = arith.constant 0 : index
      %dim_21 = tensor.dim %24, %c0_20 : tensor<?x?xf32>
      %c1_22 = arith.constant 1 : index
      %dim_23 = tensor.dim %24, %c1_22 : tensor<?x?xf32>
      %25 = tensor.empty(%dim_21, %dim_23) : tensor<?x?xf32>
      %26 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%24, %10, %13 : tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>) outs(%25 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
      ^bb0(%in: f32, %in_25: f32, %in_26: f32, %out: f32):
        %cst_27 = arith.constant 0xFF800000 : f32
        %cst_28 = arith.constant 0.000000e+00 : f32
        %28 = arith.cmpf oeq, %in_25, %cst_27 : f32
        %29 = arith.select %28, %cst_28, %in_25 : f32
        %30 = arith.subf %in, %29 : f32
        %31 = math.exp %30 : f32
        %cst_29 = arith.constant 0.000000e+00 : f32
        %32 = arith.cmpf oeq, %in_26, %cst_29 : f32
        %33 = arith.divf %31, %in_26 : f32
        %34 = arith.select %32, %cst_29, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x?xf32>
      %extracted_slice_24 = tensor.extract_slice %arg0[%arg2, %3, %arg6, 0] [1, 1, %20, 16] [1, 1, 1, 1] : tensor<1x2x?x16xf32> to tensor<?x16xf32>
      %27 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%26, %extracted_slice_24 : tensor<?x?xf32>, tensor<?x16xf32>) outs(%arg7 : tensor<?x16xf32>) attrs =  {fa.role = "weighted_values"} {
      ^bb0(%in: f32, %in_25: f32, %out: f32):
        %28 = arith.mulf %in, %in_25 : f32
        %29 = arith.addf %out, %28 : f32
        linalg.yield %29 : f32
      } -> tensor<?x16xf32>
      scf.yield %27 : tensor<?x16xf32>
    } {fa.softmax_stage = "weighted_values"}
    %17 = tensor.empty(%6) : tensor<?x16xf32>
    %18 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%16 : tensor<?x16xf32>) outs(%17 : tensor<?x16xf32>) attrs =  {fa.role = "store"} {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<?x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %18 into %arg5[%arg2, %arg3, %4, 0] [1, 1, %6, 16] [1, 1, 1, 1] : tensor<?x16xf32> into tensor<1x2x?x16xf32>
    }
  } {fa.attention_tile = {block_m = 16 : i64, block_n = 16 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
  return %2 : tensor<1x2x?x16xf32>
}

// -----

// A score_mod (a softcap) from the op: fused, with log2(e) applied after
// it, folded into its last factor (30 * log2(e) = 43.28085).
// CHECK-LABEL: func.func @softcap
// CHECK:         scf.for
// CHECK:           fa.role = "scores"
// CHECK:             math.tanh
// CHECK:             %[[C:.*]] = arith.constant 43.2808495 : f32
// CHECK:             arith.mulf %{{.*}}, %[[C]] : f32
// CHECK-NEXT:        linalg.yield
// CHECK:         } {fa.softmax_stage = "online"}
func.func @softcap(%q: tensor<1x2x?x16xf32>, %o: tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>) outs(%o : tensor<1x2x?x16xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %inv = arith.constant 0.0333333351 : f32
      %cap = arith.constant 30.0 : f32
      %x = arith.mulf %s, %inv : f32
      %t = math.tanh %x : f32
      %r = arith.mulf %t, %cap : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x16xf32>
  return %0 : tensor<1x2x?x16xf32>
}

// -----

// A score_mod whose result is not a constant multiplication (a bias, an
// addition): log2(e) is its own multiplication after it, before the
// causal select.
// CHECK-LABEL: func.func @bias
// CHECK:         scf.for
// CHECK:           fa.role = "scores"
// CHECK:             %[[R:.*]] = arith.addf
// CHECK:             %[[L:.*]] = arith.constant 1.44269502 : f32
// CHECK:             %[[S:.*]] = arith.mulf %[[R]], %[[L]] : f32
// CHECK:             arith.select %{{.*}}, %[[S]], %{{.*}} : f32
// CHECK:         } {fa.softmax_stage = "online"}
func.func @bias(%q: tensor<1x2x?x16xf32>, %o: tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>) outs(%o : tensor<1x2x?x16xf32>) causal = <top_left>
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %d = arith.subi %j, %i : index
      %di = arith.index_cast %d : index to i64
      %df = arith.sitofp %di : i64 to f32
      %r = arith.addf %s, %df : f32
      fa.yield %r : f32
    } -> tensor<1x2x?x16xf32>
  return %0 : tensor<1x2x?x16xf32>
}
