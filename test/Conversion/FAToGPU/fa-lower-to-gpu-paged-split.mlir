// A split-KV tile whose K and V blocks are read through a block table,
// made by hand from a split-kv=4 tile of fa-tile-attention (its slices
// replaced by fa.paged_rows, its key count by cache_seqlens[b]) with the
// parts' chunk computed once outside the forall from the table's width,
// where fa-tile-attention computes each sequence's own inside it: the
// kernel reads whichever the IR says. mma-sync builds the partial kernel
// (arguments q, k, v, partial_o, partial_lse, block_table, cache_seqlens)
// and the combine.
// RUN: fa-opt %s --fa-lower-to-gpu | FileCheck %s
// RUN: not fa-opt %s --fa-lower-to-gpu=strategy=hopper-ws 2>&1 | FileCheck %s --check-prefix=HOPPER

// CHECK:       gpu.launch_func @[[P:fa_attention_bf16_d128_bm64_bn64_w4_s2_lse_[0-9a-f]+_paged16_splitkv]]::@[[P]] blocks in
// CHECK-SAME:    memref<4x?x8x?x128xf32, {{.*}}>, %{{.*}} : memref<4x?x8x?xf32, {{.*}}>, %{{.*}} : memref<?x?xi32, {{.*}}>, %{{.*}} : memref<?xi32, {{.*}}>)
// CHECK:       gpu.launch_func @[[C:fa_attention_combine_bf16_d128_bm64_[0-9a-f]+]]::@[[C]]
// CHECK:       gpu.func @[[P]](
// CHECK-SAME:    %[[T:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[N:[a-z0-9]+]]: memref<?xi32, {{.*}}>)
// CHECK-SAME:    split_stage = "partial"
// Part x / tiles walks blocks [part * chunk, (part + 1) * chunk) with the
// IR's chunk, ceildiv(ceildiv(max_pages * 16, 64), 4), up to the
// sequence's length.
// CHECK:         %[[PART:.*]] = arith.divui %block_id_x, %{{.*}} : index
// CHECK:         %[[NK32:.*]] = memref.load %[[N]]
// CHECK:         %[[NK:.*]] = arith.index_cast %[[NK32]] : i32 to index
// CHECK:         %[[W:.*]] = memref.dim %[[T]], %c1
// CHECK:         %[[BOUND:.*]] = arith.muli %[[W]], %c16 : index
// CHECK:         %[[BLOCKS:.*]] = arith.ceildivui %[[BOUND]], %c64{{.*}} : index
// CHECK:         %[[CHUNK:.*]] = arith.ceildivui %[[BLOCKS]], %c4{{.*}} : index
// CHECK:         %[[FIRST:.*]] = arith.muli %[[PART]], %[[CHUNK]] : index
// CHECK:         %[[NEXT:.*]] = arith.addi %[[FIRST]], %[[CHUNK]] : index
// CHECK:         %[[END:.*]] = arith.muli %[[NEXT]], %c64{{.*}} : index
// CHECK:         arith.minsi %[[NK]], %[[END]] : index
// CHECK:         memref.load %[[T]]
// CHECK:         nvgpu.device_async_copy
// CHECK:       gpu.func @[[C]](
// CHECK-SAME:    split_stage = "combine"

// HOPPER: error: the hopper-ws strategy does not build split-KV tiles; use strategy=mma-sync or auto

#map = affine_map<(d0, d1, d2) -> (d0, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d1, d2)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map3 = affine_map<(d0, d1) -> (d0, d1)>
#map4 = affine_map<(d0, d1) -> (d0)>
#map5 = affine_map<(d0) -> (d0)>
#map6 = affine_map<(d0, d1, d2) -> (d2, d1)>
#map7 = affine_map<(d0, d1) -> (d1, d0)>
#map8 = affine_map<(d0, d1) -> (d1)>
#map9 = affine_map<(d0, d1, d2) -> (d2, d0)>
#map10 = affine_map<(d0, d1, d2) -> (d2, d0, d1)>
module {
  func.func @fixed(%arg0: tensor<?x8x?x128xbf16>, %arg1: tensor<?x16x2x128xbf16>, %arg2: tensor<?x16x2x128xbf16>, %arg3: tensor<?x8x?x128xbf16>, %tbl: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x8x?x128xbf16> {
    %c0 = arith.constant 0 : index
    %dim = tensor.dim %arg0, %c0 : tensor<?x8x?x128xbf16>
    %c2 = arith.constant 2 : index
    %dim_0 = tensor.dim %arg0, %c2 : tensor<?x8x?x128xbf16>
    %c2_1 = arith.constant 2 : index
    %c1y = arith.constant 1 : index
    %tw = tensor.dim %tbl, %c1y : tensor<?x?xi32>
    %c16x = arith.constant 16 : index
    %dim_2 = arith.muli %tw, %c16x : index
    %c1 = arith.constant 1 : index
    %dim_3 = tensor.dim %arg0, %c1 : tensor<?x8x?x128xbf16>
    %c1_4 = arith.constant 1 : index
    %dim_5 = tensor.dim %arg1, %c2_1 : tensor<?x16x2x128xbf16>
    %0 = arith.divui %dim_3, %dim_5 : index
    %c64 = arith.constant 64 : index
    %1 = arith.ceildivui %dim_0, %c64 : index
    %c64_6 = arith.constant 64 : index
    %2 = arith.ceildivui %dim_2, %c64_6 : index
    %c4 = arith.constant 4 : index
    %3 = arith.ceildivui %2, %c4 : index
    %c0_7 = arith.constant 0 : index
    %dim_8 = tensor.dim %arg0, %c0_7 : tensor<?x8x?x128xbf16>
    %c2_9 = arith.constant 2 : index
    %dim_10 = tensor.dim %arg0, %c2_9 : tensor<?x8x?x128xbf16>
    %4 = tensor.empty(%dim_8, %dim_10) : tensor<4x?x8x?x128xf32>
    %5 = tensor.empty(%dim_8, %dim_10) : tensor<4x?x8x?xf32>
    %6:2 = scf.forall (%arg4, %arg5, %arg6, %arg7) in (4, %dim, %dim_3, %1) shared_outs(%arg8 = %4, %arg9 = %5) -> (tensor<4x?x8x?x128xf32>, tensor<4x?x8x?xf32>) {
      %9 = arith.muli %arg7, %c64 : index
      %exk = tensor.extract %lens[%arg5] : tensor<?xi32>
      %kl = arith.index_cast %exk : i32 to index
      %10 = arith.subi %dim_0, %9 : index
      %11 = arith.minsi %c64, %10 : index
      %12 = arith.divui %arg6, %0 : index
      %c0_16 = arith.constant 0 : index
      %c64_17 = arith.constant 64 : index
      %13 = arith.muli %arg4, %3 : index
      %14 = arith.muli %13, %c64_17 : index
      %15 = arith.addi %13, %3 : index
      %16 = arith.muli %15, %c64_17 : index
      %17 = arith.minsi %kl, %16 : index
      %extracted_slice = tensor.extract_slice %arg0[%arg5, %arg6, %9, 0] [1, 1, %11, 128] [1, 1, 1, 1] : tensor<?x8x?x128xbf16> to tensor<?x128xbf16>
      %18 = tensor.empty(%11) : tensor<?xf32>
      %c0_18 = arith.constant 0 : index
      %dim_19 = tensor.dim %18, %c0_18 : tensor<?xf32>
      %19 = tensor.empty(%dim_19) : tensor<?xf32>
      %cst = arith.constant 0xFF800000 : f32
      %20 = linalg.fill ins(%cst : f32) outs(%19 : tensor<?xf32>) -> tensor<?xf32>
      %c64_20 = arith.constant 64 : index
      %c0_21 = arith.constant 0 : index
      %dim_22 = tensor.dim %18, %c0_21 : tensor<?xf32>
      %21 = tensor.empty(%dim_22) : tensor<?xf32>
      %cst_23 = arith.constant 0.000000e+00 : f32
      %22 = linalg.fill ins(%cst_23 : f32) outs(%21 : tensor<?xf32>) -> tensor<?xf32>
      %c64_24 = arith.constant 64 : index
      %23 = tensor.empty(%11) : tensor<?x128xf32>
      %cst_25 = arith.constant 0.000000e+00 : f32
      %24 = linalg.fill ins(%cst_25 : f32) outs(%23 : tensor<?x128xf32>) -> tensor<?x128xf32>
      %c64_26 = arith.constant 64 : index
      %25:3 = scf.for %arg10 = %14 to %17 step %c64_26 iter_args(%arg11 = %20, %arg12 = %22, %arg13 = %24) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x128xf32>) {
        %32 = arith.subi %kl, %arg10 : index
        %33 = arith.minsi %c64_26, %32 : index
        %extracted_slice_33 = fa.paged_rows %arg1[%arg5, %12] pages(%tbl) rows(%arg10, %33) : tensor<?x16x2x128xbf16>, tensor<?x?xi32> -> tensor<?x128xbf16>
        %34 = tensor.empty(%11, %33) : tensor<?x?xf32>
        %cst_34 = arith.constant 0.000000e+00 : f32
        %35 = linalg.fill ins(%cst_34 : f32) outs(%34 : tensor<?x?xf32>) -> tensor<?x?xf32>
        %36 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "reduction"]} ins(%extracted_slice, %extracted_slice_33 : tensor<?x128xbf16>, tensor<?x128xbf16>) outs(%35 : tensor<?x?xf32>) attrs =  {fa.role = "qk"} {
        ^bb0(%in: bf16, %in_50: bf16, %out: f32):
          %50 = arith.extf %in_50 : bf16 to f32
          %51 = arith.extf %in : bf16 to f32
          %52 = arith.mulf %51, %50 : f32
          %53 = arith.addf %out, %52 : f32
          linalg.yield %53 : f32
        } -> tensor<?x?xf32>
        %37 = linalg.generic {indexing_maps = [#map3], iterator_types = ["parallel", "parallel"]} outs(%36 : tensor<?x?xf32>) attrs =  {fa.role = "scores"} {
        ^bb0(%out: f32):
          %cst_50 = arith.constant 0.127517432 : f32
          %50 = arith.mulf %out, %cst_50 : f32
          linalg.yield %50 : f32
        } -> tensor<?x?xf32>
        %c0_35 = arith.constant 0 : index
        %dim_36 = tensor.dim %37, %c0_35 : tensor<?x?xf32>
        %c1_37 = arith.constant 1 : index
        %dim_38 = tensor.dim %37, %c1_37 : tensor<?x?xf32>
        %38 = tensor.empty(%dim_36, %dim_38) : tensor<?x?xf32>
        %39 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "reduction"]} ins(%37 : tensor<?x?xf32>) outs(%arg11 : tensor<?xf32>) attrs =  {fa.role = "running_max"} {
        ^bb0(%in: f32, %out: f32):
          %50 = arith.maximumf %out, %in : f32
          linalg.yield %50 : f32
        } -> tensor<?xf32>
        %c0_39 = arith.constant 0 : index
        %dim_40 = tensor.dim %arg11, %c0_39 : tensor<?xf32>
        %40 = tensor.empty(%dim_40) : tensor<?xf32>
        %41 = linalg.generic {indexing_maps = [#map5, #map5, #map5], iterator_types = ["parallel"]} ins(%arg11, %39 : tensor<?xf32>, tensor<?xf32>) outs(%40 : tensor<?xf32>) attrs =  {fa.role = "rescale"} {
        ^bb0(%in: f32, %in_50: f32, %out: f32):
          %cst_51 = arith.constant 0xFF800000 : f32
          %cst_52 = arith.constant 0.000000e+00 : f32
          %50 = arith.cmpf oeq, %in_50, %cst_51 : f32
          %51 = arith.select %50, %cst_52, %in_50 : f32
          %52 = arith.subf %in, %51 : f32
          %53 = math.exp2 %52 : f32
          linalg.yield %53 : f32
        } -> tensor<?xf32>
        %c0_41 = arith.constant 0 : index
        %dim_42 = tensor.dim %37, %c0_41 : tensor<?x?xf32>
        %c1_43 = arith.constant 1 : index
        %dim_44 = tensor.dim %37, %c1_43 : tensor<?x?xf32>
        %42 = tensor.empty(%dim_42, %dim_44) : tensor<?x?xf32>
        %43 = linalg.generic {indexing_maps = [#map3, #map4, #map3], iterator_types = ["parallel", "parallel"]} ins(%37, %39 : tensor<?x?xf32>, tensor<?xf32>) outs(%42 : tensor<?x?xf32>) attrs =  {fa.role = "probabilities"} {
        ^bb0(%in: f32, %in_50: f32, %out: f32):
          %cst_51 = arith.constant 0xFF800000 : f32
          %cst_52 = arith.constant 0.000000e+00 : f32
          %50 = arith.cmpf oeq, %in_50, %cst_51 : f32
          %51 = arith.select %50, %cst_52, %in_50 : f32
          %52 = arith.subf %in, %51 : f32
          %53 = math.exp2 %52 : f32
          linalg.yield %53 : f32
        } -> tensor<?x?xf32>
        %c0_45 = arith.constant 0 : index
        %dim_46 = tensor.dim %arg12, %c0_45 : tensor<?xf32>
        %44 = tensor.empty(%dim_46) : tensor<?xf32>
        %45 = linalg.generic {indexing_maps = [#map5, #map5, #map5], iterator_types = ["parallel"]} ins(%arg12, %41 : tensor<?xf32>, tensor<?xf32>) outs(%44 : tensor<?xf32>) attrs =  {fa.role = "rescale_sum"} {
        ^bb0(%in: f32, %in_50: f32, %out: f32):
          %50 = arith.mulf %in, %in_50 : f32
          linalg.yield %50 : f32
        } -> tensor<?xf32>
        %46 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "reduction"]} ins(%43 : tensor<?x?xf32>) outs(%45 : tensor<?xf32>) attrs =  {fa.role = "row_sum"} {
        ^bb0(%in: f32, %out: f32):
          %50 = arith.addf %out, %in : f32
          linalg.yield %50 : f32
        } -> tensor<?xf32>
        %c0_47 = arith.constant 0 : index
        %dim_48 = tensor.dim %arg13, %c0_47 : tensor<?x128xf32>
        %47 = tensor.empty(%dim_48) : tensor<?x128xf32>
        %48 = linalg.generic {indexing_maps = [#map3, #map4, #map3], iterator_types = ["parallel", "parallel"]} ins(%arg13, %41 : tensor<?x128xf32>, tensor<?xf32>) outs(%47 : tensor<?x128xf32>) attrs =  {fa.role = "rescale_acc"} {
        ^bb0(%in: f32, %in_50: f32, %out: f32):
          %50 = arith.mulf %in, %in_50 : f32
          linalg.yield %50 : f32
        } -> tensor<?x128xf32>
        %extracted_slice_49 = fa.paged_rows %arg2[%arg5, %12] pages(%tbl) rows(%arg10, %33) : tensor<?x16x2x128xbf16>, tensor<?x?xi32> -> tensor<?x128xbf16>
        %49 = linalg.generic {indexing_maps = [#map, #map6, #map2], iterator_types = ["parallel", "parallel", "reduction"]} ins(%43, %extracted_slice_49 : tensor<?x?xf32>, tensor<?x128xbf16>) outs(%48 : tensor<?x128xf32>) attrs =  {fa.role = "weighted_values"} {
        ^bb0(%in: f32, %in_50: bf16, %out: f32):
          %50 = arith.extf %in_50 : bf16 to f32
          %51 = arith.mulf %in, %50 : f32
          %52 = arith.addf %out, %51 : f32
          linalg.yield %52 : f32
        } -> tensor<?x128xf32>
        scf.yield %39, %46, %49 : tensor<?xf32>, tensor<?xf32>, tensor<?x128xf32>
      } {fa.softmax_stage = "online"}
      %c0_27 = arith.constant 0 : index
      %dim_28 = tensor.dim %25#0, %c0_27 : tensor<?xf32>
      %26 = tensor.empty(%dim_28) : tensor<?xf32>
      %27 = linalg.generic {indexing_maps = [#map5, #map5], iterator_types = ["parallel"]} ins(%25#0 : tensor<?xf32>) outs(%26 : tensor<?xf32>) attrs =  {fa.role = "max_natural_log"} {
      ^bb0(%in: f32, %out: f32):
        %cst_33 = arith.constant 0.693147182 : f32
        %32 = arith.mulf %in, %cst_33 : f32
        linalg.yield %32 : f32
      } -> tensor<?xf32>
      %c0_29 = arith.constant 0 : index
      %dim_30 = tensor.dim %25#2, %c0_29 : tensor<?x128xf32>
      %28 = tensor.empty(%dim_30) : tensor<?x128xf32>
      %29 = linalg.generic {indexing_maps = [#map3, #map4, #map3], iterator_types = ["parallel", "parallel"]} ins(%25#2, %25#1 : tensor<?x128xf32>, tensor<?xf32>) outs(%28 : tensor<?x128xf32>) attrs =  {fa.role = "normalize"} {
      ^bb0(%in: f32, %in_33: f32, %out: f32):
        %cst_34 = arith.constant 0.000000e+00 : f32
        %32 = arith.cmpf oeq, %in_33, %cst_34 : f32
        %33 = arith.divf %in, %in_33 : f32
        %34 = arith.select %32, %cst_34, %33 : f32
        linalg.yield %34 : f32
      } -> tensor<?x128xf32>
      %c0_31 = arith.constant 0 : index
      %dim_32 = tensor.dim %27, %c0_31 : tensor<?xf32>
      %30 = tensor.empty(%dim_32) : tensor<?xf32>
      %31 = linalg.generic {indexing_maps = [#map5, #map5, #map5], iterator_types = ["parallel"]} ins(%27, %25#1 : tensor<?xf32>, tensor<?xf32>) outs(%30 : tensor<?xf32>) attrs =  {fa.role = "lse"} {
      ^bb0(%in: f32, %in_33: f32, %out: f32):
        %32 = math.log %in_33 : f32
        %33 = arith.addf %in, %32 : f32
        linalg.yield %33 : f32
      } -> tensor<?xf32>
      scf.forall.in_parallel {
        tensor.parallel_insert_slice %29 into %arg8[%arg4, %arg5, %arg6, %9, 0] [1, 1, 1, %11, 128] [1, 1, 1, 1, 1] : tensor<?x128xf32> into tensor<4x?x8x?x128xf32>
        tensor.parallel_insert_slice %31 into %arg9[%arg4, %arg5, %arg6, %9] [1, 1, 1, %11] [1, 1, 1, 1] : tensor<?xf32> into tensor<4x?x8x?xf32>
      }
    } {fa.attention_tile = {block_m = 64 : i64, block_n = 64 : i64, split_kv}, mapping = [#gpu.block<linear_dim_3>, #gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
    %c64_11 = arith.constant 64 : index
    %c2_12 = arith.constant 2 : index
    %dim_13 = tensor.dim %arg3, %c2_12 : tensor<?x8x?x128xbf16>
    %7 = arith.ceildivui %dim_13, %c64_11 : index
    %c0_14 = arith.constant 0 : index
    %dim_15 = tensor.dim %arg3, %c0_14 : tensor<?x8x?x128xbf16>
    %8 = scf.forall (%arg4, %arg5, %arg6) in (%dim_15, 8, %7) shared_outs(%arg7 = %arg3) -> (tensor<?x8x?x128xbf16>) {
      %9 = arith.muli %arg6, %c64_11 : index
      %10 = arith.subi %dim_13, %9 : index
      %11 = arith.minsi %c64_11, %10 : index
      %extracted_slice = tensor.extract_slice %6#1[0, %arg4, %arg5, %9] [4, 1, 1, %11] [1, 1, 1, 1] : tensor<4x?x8x?xf32> to tensor<4x?xf32>
      %extracted_slice_16 = tensor.extract_slice %6#0[0, %arg4, %arg5, %9, 0] [4, 1, 1, %11, 128] [1, 1, 1, 1, 1] : tensor<4x?x8x?x128xf32> to tensor<4x?x128xf32>
      %12 = tensor.empty(%11) : tensor<?xf32>
      %c0_17 = arith.constant 0 : index
      %dim_18 = tensor.dim %12, %c0_17 : tensor<?xf32>
      %13 = tensor.empty(%dim_18) : tensor<?xf32>
      %cst = arith.constant 0xFF800000 : f32
      %14 = linalg.fill ins(%cst : f32) outs(%13 : tensor<?xf32>) -> tensor<?xf32>
      %15 = linalg.generic {indexing_maps = [#map7, #map4], iterator_types = ["parallel", "reduction"]} ins(%extracted_slice : tensor<4x?xf32>) outs(%14 : tensor<?xf32>) attrs =  {fa.role = "combine_max"} {
      ^bb0(%in: f32, %out: f32):
        %28 = arith.maximumf %out, %in : f32
        linalg.yield %28 : f32
      } -> tensor<?xf32>
      %c1_19 = arith.constant 1 : index
      %dim_20 = tensor.dim %extracted_slice, %c1_19 : tensor<4x?xf32>
      %16 = tensor.empty(%dim_20) : tensor<4x?xf32>
      %17 = linalg.generic {indexing_maps = [#map3, #map8, #map3], iterator_types = ["parallel", "parallel"]} ins(%extracted_slice, %15 : tensor<4x?xf32>, tensor<?xf32>) outs(%16 : tensor<4x?xf32>) attrs =  {fa.role = "combine_weights"} {
      ^bb0(%in: f32, %in_27: f32, %out: f32):
        %cst_28 = arith.constant 0xFF800000 : f32
        %cst_29 = arith.constant 0.000000e+00 : f32
        %28 = arith.cmpf oeq, %in_27, %cst_28 : f32
        %29 = arith.select %28, %cst_29, %in_27 : f32
        %30 = arith.subf %in, %29 : f32
        %31 = math.exp %30 : f32
        linalg.yield %31 : f32
      } -> tensor<4x?xf32>
      %c0_21 = arith.constant 0 : index
      %dim_22 = tensor.dim %12, %c0_21 : tensor<?xf32>
      %18 = tensor.empty(%dim_22) : tensor<?xf32>
      %cst_23 = arith.constant 0.000000e+00 : f32
      %19 = linalg.fill ins(%cst_23 : f32) outs(%18 : tensor<?xf32>) -> tensor<?xf32>
      %20 = linalg.generic {indexing_maps = [#map7, #map4], iterator_types = ["parallel", "reduction"]} ins(%17 : tensor<4x?xf32>) outs(%19 : tensor<?xf32>) attrs =  {fa.role = "combine_sum"} {
      ^bb0(%in: f32, %out: f32):
        %28 = arith.addf %out, %in : f32
        linalg.yield %28 : f32
      } -> tensor<?xf32>
      %21 = tensor.empty(%11) : tensor<?x128xf32>
      %cst_24 = arith.constant 0.000000e+00 : f32
      %22 = linalg.fill ins(%cst_24 : f32) outs(%21 : tensor<?x128xf32>) -> tensor<?x128xf32>
      %23 = linalg.generic {indexing_maps = [#map9, #map10, #map2], iterator_types = ["parallel", "parallel", "reduction"]} ins(%17, %extracted_slice_16 : tensor<4x?xf32>, tensor<4x?x128xf32>) outs(%22 : tensor<?x128xf32>) attrs =  {fa.role = "combine_acc"} {
      ^bb0(%in: f32, %in_27: f32, %out: f32):
        %28 = arith.mulf %in, %in_27 : f32
        %29 = arith.addf %out, %28 : f32
        linalg.yield %29 : f32
      } -> tensor<?x128xf32>
      %c0_25 = arith.constant 0 : index
      %dim_26 = tensor.dim %23, %c0_25 : tensor<?x128xf32>
      %24 = tensor.empty(%dim_26) : tensor<?x128xf32>
      %25 = linalg.generic {indexing_maps = [#map3, #map4, #map3], iterator_types = ["parallel", "parallel"]} ins(%23, %20 : tensor<?x128xf32>, tensor<?xf32>) outs(%24 : tensor<?x128xf32>) attrs =  {fa.role = "normalize"} {
      ^bb0(%in: f32, %in_27: f32, %out: f32):
        %cst_28 = arith.constant 0.000000e+00 : f32
        %28 = arith.cmpf oeq, %in_27, %cst_28 : f32
        %29 = arith.divf %in, %in_27 : f32
        %30 = arith.select %28, %cst_28, %29 : f32
        linalg.yield %30 : f32
      } -> tensor<?x128xf32>
      %26 = tensor.empty(%11) : tensor<?x128xbf16>
      %27 = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel"]} ins(%25 : tensor<?x128xf32>) outs(%26 : tensor<?x128xbf16>) attrs =  {fa.role = "store"} {
      ^bb0(%in: f32, %out: bf16):
        %28 = arith.truncf %in : f32 to bf16
        linalg.yield %28 : bf16
      } -> tensor<?x128xbf16>
      scf.forall.in_parallel {
        tensor.parallel_insert_slice %27 into %arg7[%arg4, %arg5, %9, 0] [1, 1, %11, 128] [1, 1, 1, 1] : tensor<?x128xbf16> into tensor<?x8x?x128xbf16>
      }
    } {fa.split_combine = {block_m = 64 : i64}, mapping = [#gpu.block<z>, #gpu.block<y>, #gpu.block<x>]}
    return %8 : tensor<?x8x?x128xbf16>
  }
}

