// RUN: fa-opt %s "--fa-tile-attention=split-kv=auto block-m=16 block-n=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=chip=sm_90a" | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention=split-kv=3 block-m=16 block-n=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=chip=sm_80" | FileCheck %s --check-prefix=FIXED
// Canonicalization between the passes (it folds the partials' first
// dimension to the split count) changes nothing the kernels read.
// RUN: fa-opt %s "--fa-tile-attention=split-kv=auto block-m=16 block-n=64" --fa-fuse-online-softmax --canonicalize --cse "--fa-lower-to-gpu=chip=sm_90a" | FileCheck %s --check-prefix=CANON
// Without key-split warps: one warp for the 16 rows.
// RUN: fa-opt %s "--fa-tile-attention=split-kv=auto block-m=16 block-n=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=chip=sm_90a key-warps=1" | FileCheck %s --check-prefix=KW1
// The ring: 3 slots for a key-split tile where they fit (100 KB here), 2
// on sm_86 (99 KB); stages= overrides.
// RUN: fa-opt %s "--fa-tile-attention=split-kv=auto block-m=16 block-n=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=chip=sm_86" | FileCheck %s --check-prefix=SM86
// RUN: fa-opt %s "--fa-tile-attention=split-kv=auto block-m=16 block-n=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=chip=sm_90a stages=4" | FileCheck %s --check-prefix=STAGES4
// RUN: not fa-opt %s "--fa-tile-attention=split-kv=auto block-m=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=chip=sm_90a strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=HOPPER

// A split-KV tile and its combine: two kernels, launched in that order.
// The partial kernel's grid is (tiles * S, Hq, B) with S the partial
// LSE's first dimension; the combine's (tiles, Hq, B), 128 threads. The
// 16-row tile takes 4 warps that split each 64-key block (kw4).
// CHECK-LABEL: func.func @decode
// CHECK:         %[[S:.*]] = fa.split_count
// CHECK:         %[[PO:.*]] = bufferization.to_buffer %{{.*}} : tensor<?x?x8x?x128xf32> to memref<?x?x8x?x128xf32, strided<[?, ?, ?, ?, 1], offset: ?>>
// CHECK:         %[[PL:.*]] = bufferization.to_buffer %{{.*}} : tensor<?x?x8x?xf32> to memref<?x?x8x?xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK:         %[[TILES:.*]] = arith.ceildivui
// CHECK:         %[[SPLITS:.*]] = tensor.dim %{{.*}}, %c0
// CHECK:         %[[X:.*]] = arith.muli %[[TILES]], %[[SPLITS]] : index
// CHECK:         gpu.launch_func {{ *}}@[[PARTIAL:fa_attention_bf16_d128_bm16_bn64_w4_s3_kw4_lse_[0-9a-f]+_splitkv]]::@[[PARTIAL]] blocks in (%[[X]], %{{.*}}, %{{.*}}) threads in (%c128{{.*}}) {{.*}} args({{.*}}, %[[PO]] : {{.*}}, %[[PL]] : {{.*}})
// CHECK:         gpu.launch_func {{ *}}@[[C:fa_attention_combine_bf16_d128_bm16_[0-9a-f]+]]::@[[C]] blocks in ({{.*}}) threads in (%c128{{.*}}) {{.*}} args(%[[PO]] : {{.*}}, %[[PL]] : {{.*}}, %{{.*}} : memref<?x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>)
// The partial kernel: its first block is the split times the chunk of key
// blocks, the split count read from the partial LSE.
// CHECK:         gpu.func @[[PARTIAL]](
// CHECK-SAME:        %[[ARG3:arg3]]: memref<?x?x8x?x128xf32
// CHECK-SAME:        %[[ARG4:arg4]]: memref<?x?x8x?xf32
// CHECK-SAME:        split_stage = "partial", splits = 0
// CHECK-DAG:       memref.dim %[[ARG4]], %c0
// Each group of warps takes 16 of the block's 64 keys; after the key loop
// groups 1-3 hand their states (64 accumulator values and two per row:
// 68 floats a thread) to group 0 through shared memory, which rescales
// them to the largest maximum and writes the tile.
// CHECK:           scf.for
// CHECK:           nvvm.cp.async.wait.group 0
// CHECK:           gpu.barrier
// CHECK:           scf.if
// CHECK-COUNT-68:    memref.store %{{.*}} : memref<6528xf32, #gpu.address_space<workgroup>>
// CHECK:           gpu.barrier
// CHECK:           memref.load %{{.*}} : memref<6528xf32, #gpu.address_space<workgroup>>
// CHECK:           arith.maxnumf
// CHECK:           math.exp2
// CHECK:           scf.if
// CHECK:             vector.store %{{.*}}, %[[ARG3]][%{{.*}}, %block_id_z, %block_id_y, %{{.*}}, %{{.*}}] {alignment = 8 : i64} : memref<?x?x8x?x128xf32, {{.*}}>, vector<2xf32>
// CHECK:           memref.store %{{.*}}, %[[ARG4]][%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<?x?x8x?xf32
// CHECK:         gpu.func @[[C]](
// CHECK-SAME:        max_splits = 128 : i64, {{.*}}split_stage = "combine"
// One pass, eight splits a step, the reads past the last split clamped to
// it (and weighed 0 in the sum): every load of a step comes before the
// step's math, so that they are in flight together, from views of the
// item's column over the splits. The carried sums are rescaled to the
// step's maximum.
// CHECK:           %[[LSES:.*]] = memref.subview %{{.*}}[0, %block_id_z, %block_id_y, %{{.*}}] [%[[SPLITS:.*]], 1, 1, 1] [1, 1, 1, 1] : {{.*}} to memref<?xf32, strided<[?], offset: ?>>
// CHECK:           %[[OUTS:.*]] = memref.subview %{{.*}}[0, %block_id_z, %block_id_y, %{{.*}}, %{{.*}}] [%[[SPLITS]], 1, 1, 1, 4] [1, 1, 1, 1, 1] : {{.*}} to memref<?x4xf32, strided<[?, 1], offset: ?>>
// CHECK:           %[[LAST:.*]] = arith.subi %[[SPLITS]], %c1
// CHECK:           scf.for %{{.*}} = %{{.*}} to %[[SPLITS]] step %c8 iter_args(%[[M:.*]] = %{{.*}}, %[[SUM:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (f32, f32, vector<4xf32>)
// CHECK:             %[[VALID:.*]] = arith.cmpi ult, %{{.*}}, %[[SPLITS]]
// CHECK:             %[[READ:.*]] = arith.select %[[VALID]], %{{.*}}, %[[LAST]] : index
// CHECK:             memref.load %[[LSES]][%[[READ]]]
// CHECK:             vector.load %[[OUTS]][%[[READ]], %{{.*}}]
// CHECK-COUNT-7:     vector.load %[[OUTS]]
// CHECK-NOT:         math.exp2
// CHECK:             arith.maximumf %[[M]]
// CHECK-COUNT-7:     arith.maximumf
// CHECK:             arith.subf %[[M]]
// CHECK:             %[[SCALE:.*]] = math.exp2 %{{.*}} fastmath<afn> : f32
// CHECK:             arith.mulf %[[SUM]], %[[SCALE]] : f32
// CHECK:             %[[W:.*]] = math.exp2 %{{.*}} fastmath<afn> : f32
// CHECK:             arith.select %[[VALID]], %[[W]], %{{.*}} : f32
// CHECK-COUNT-8:     vector.fma
// CHECK:           arith.truncf %{{.*}} : vector<4xf32> to vector<4xbf16>

// A fixed count: static partial tensors, and the same two kernels on sm_80.
// FIXED-LABEL: func.func @decode
// FIXED-NOT:     fa.split_count
// FIXED:         bufferization.to_buffer %{{.*}} : tensor<3x?x8x?x128xf32>
// FIXED:         gpu.launch_func {{ *}}@{{.*}}_splitkv
// FIXED:         gpu.launch_func {{ *}}@fa_attention_combine_bf16_d128_bm16_{{[0-9a-f]+}}
// FIXED:         split_stage = "partial", splits = 3

// CANON-LABEL: func.func @decode
// CANON:         gpu.launch_func {{ *}}@{{.*}}_splitkv
// CANON:         gpu.launch_func {{ *}}@fa_attention_combine_bf16_d128_bm16_{{[0-9a-f]+}}

// KW1:           gpu.launch_func {{ *}}@{{.*}}_bm16_bn64_w1_s2_lse_{{[0-9a-f]+}}_splitkv{{.*}} threads in (%c32
// KW1-NOT:       memref<{{[0-9]+}}xf32, #gpu.address_space<workgroup>>
// KW1:           gpu.func @fa_attention_combine

// SM86:          gpu.launch_func {{ *}}@{{.*}}_bm16_bn64_w4_s2_kw4_lse_{{[0-9a-f]+}}_splitkv
// SM86-SAME:     dynamic_shared_memory_size %c69632_i32
// STAGES4:       gpu.launch_func {{ *}}@{{.*}}_bm16_bn64_w4_s4_kw4_lse_{{[0-9a-f]+}}_splitkv
// STAGES4-SAME:  dynamic_shared_memory_size %c135168_i32

// HOPPER: error: the hopper-ws strategy does not build split-KV tiles; use strategy=mma-sync or auto
func.func @decode(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>,
                  %v: tensor<?x2x?x128xbf16>, %o: tensor<?x8x?x128xbf16>)
    -> tensor<?x8x?x128xbf16> {
  %r = fa.attention
      ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>,
                       tensor<?x2x?x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      causal = <bottom_right> -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}
