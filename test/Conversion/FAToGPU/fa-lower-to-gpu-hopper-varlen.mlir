// Variable-length tiles on the hopper-ws strategy: one block per (query
// tile of the longest sequence, head, sequence), as with mma-sync; TMA reads
// the packed [T, H, D] Q, K and V through rank-3 tensor maps (a box is 64
// columns of one head's rows) at the sequence's first row plus the tile's;
// O and the LSE are views of the sequence. A block past the end of its
// sequence returns; the last K/V block of a sequence holds the next
// sequence's rows, whose V rows the producer zeroes before the consumers
// read the slot (the "V tail staged" barrier, the eleventh).
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax --fa-lower-to-gpu=strategy=hopper-ws | FileCheck %s
// auto (the pipeline's default) picks hopper-ws for it on sm_90a,
// mma-sync elsewhere.
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=auto" --fa-fuse-online-softmax --fa-lower-to-gpu=strategy=auto | FileCheck %s --check-prefix=AUTO
// epilogue=staged keeps its 16-byte pieces (rows past the sequence are not
// stored); epilogue=tma, whose boxes would write them, is refused.
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=staged" | FileCheck %s --check-prefix=STAGED
// The default epilogue (auto) stages variable-length tiles as staged does.
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax --fa-lower-to-gpu=strategy=hopper-ws | FileCheck %s --check-prefix=STAGED
// RUN: not fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=tma" 2>&1 | FileCheck %s --check-prefix=TMA
// STAGED: vector.store %{{.*}} {alignment = 16 : i64} : memref<{{.*}}>, vector<8xbf16>
// STAGED-NOT: cp.async.bulk.tensor.global.shared.cta
// TMA: error: epilogue=tma stores whole boxes of O's rows, which in packed variable-length tensors would overwrite the next sequence's rows; use epilogue=staged
// RUN: fa-opt %s --fa-lower-to-nvgpu-pipeline | FileCheck %s --check-prefix=AUTO
// RUN: fa-opt %s "--fa-lower-to-nvgpu-pipeline=chip=sm_80" | FileCheck %s --check-prefix=SM80

// CHECK-LABEL: func.func @varlen
// CHECK-SAME:    %[[CUQ:[a-z0-9]+]]: tensor<?xi32>, %[[CUK:[a-z0-9]+]]: tensor<?xi32>, %[[MAXQ:[a-z0-9]+]]: index
// CHECK:         %[[QMAP:.*]] = fa.tensor_map %{{.*}} box [64, 1, 128] : memref<?x8x128xbf16, {{.*}}> -> !llvm.ptr
// CHECK:         %[[KMAP:.*]] = fa.tensor_map %{{.*}} box [64, 1, 128] : memref<?x2x128xbf16, {{.*}}> -> !llvm.ptr
// CHECK:         %[[VMAP:.*]] = fa.tensor_map %{{.*}} box [64, 1, 128] : memref<?x2x128xbf16, {{.*}}> -> !llvm.ptr
// CHECK:         %[[TILES:.*]] = arith.ceildivui %[[MAXQ]], %{{.*}} : index
// CHECK:         %[[SEQS:.*]] = arith.subi %{{.*}}, %{{.*}} : index
// The shared memory of the kernel (one more barrier than a fixed-length
// kernel's): 2 * (128 * 128 + 2 * 2 * 128 * 128) + 11 * 8 + 32 + 1024.
// CHECK:         %[[SMEM:.*]] = arith.constant 164984 : i32
// CHECK:         gpu.launch_func @[[K:fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_lse_[0-9a-f]+_varlen]]::@[[K]] blocks in (%[[TILES]], %{{.*}}, %[[SEQS]]) threads in (%{{.*}}, %{{.*}}, %{{.*}}) dynamic_shared_memory_size %[[SMEM]]
// CHECK-SAME:      %[[QMAP]] : !llvm.ptr, %[[KMAP]] : !llvm.ptr, %[[VMAP]] : !llvm.ptr)
// CHECK:         gpu.func @[[K]]
// CHECK-SAME:      fa.launch = {block_m = 128 : i64, block_n = 128 : i64, chip = "sm_90a", dynamic_shared_memory = 164984 : i64, lse = true, stages = 2 : i64, strategy = "hopper-ws", tensor_maps = [{argument = 0 : i64, box = [64, 1, 128]}, {argument = 1 : i64, box = [64, 1, 128]}, {argument = 2 : i64, box = [64, 1, 128]}], threads = 384 : i64, varlen = true, warps = 12 : i64}
// No tile loop: one tile per block.
// CHECK-NOT:       persistent
// Eleven barriers, the last ("V tail staged") with one arrival.
// CHECK-COUNT-10:  nvvm.mbarrier.init
// CHECK:           arith.constant 163920 : i32
// CHECK:           nvvm.mbarrier.init %{{.*}}, %c1_i32{{.*}} : !llvm.ptr<3>, i32
// CHECK-NEXT:      nvvm.fence.mbarrier.init
// The sequence's first rows, from the offsets.
// CHECK:           %[[QBASE:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK:           %[[KBASE:.*]] = arith.index_cast %{{.*}} : i32 to index
// O and the LSE as views of the sequence.
// CHECK:           memref.reinterpret_cast %{{.*}} sizes: [1, 8, %{{.*}}, 128], strides: [0, %{{.*}}, %{{.*}}, 1] : memref<bf16> to memref<1x8x?x128xbf16, strided<[0, ?, ?, 1], offset: ?>>
// CHECK:           memref.reinterpret_cast %{{.*}} sizes: [1, 8, %{{.*}}], strides: [0, %{{.*}}, %{{.*}}] : memref<f32> to memref<1x8x?xf32, strided<[0, ?, ?], offset: ?>>
// A block whose tile has no rows in its sequence does nothing (after
// the search of the mask's key blocks).
// CHECK:           scf.while
// CHECK:           %[[LIVE:.*]] = arith.cmpi sgt, %{{.*}}, %c0{{.*}} : index
// CHECK-NEXT:      scf.if %[[LIVE]] {
// CHECK:             nvvm.setmaxregister decrease 24
// Q: coordinates (column, head, sequence base + first row).
// CHECK:             %[[QROW:.*]] = arith.addi %[[QBASE]], %{{.*}} : index
// CHECK:             %[[QROW32:.*]] = arith.index_cast %[[QROW]] : index to i32
// CHECK:             %[[QHEAD:.*]] = arith.index_cast %{{.*}} : index to i32
// CHECK:             nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg7, %{{.*}}, box[%{{.*}}, %[[QHEAD]], %[[QROW32]]]
// K at the sequence's key rows.
// CHECK:             %[[KROW:.*]] = arith.addi %[[KBASE]], %{{.*}} : index
// CHECK:             nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg8, %{{.*}}, box[%{{.*}}, %{{.*}}, %{{.*}}]
// V: the sequence ends inside the block (keys - start < 128): load on
// "V tail staged", wait for it, zero the rows past the keys in both slabs,
// fence the writes for the async proxy, then signal "V loaded".
// CHECK:             %[[TAIL:.*]] = arith.cmpi slt, %{{.*}}, %c128{{.*}} : index
// CHECK-NEXT:        %{{.*}} = scf.if %[[TAIL]] -> (i32) {
// CHECK:               nvvm.mbarrier.arrive.expect_tx %[[STAGEDPTR:.*]], %c32768
// CHECK:               nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg9, %[[STAGEDPTR]], box
// CHECK:               nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg9, %[[STAGEDPTR]], box
// CHECK:             nvvm.mbarrier.try_wait.parity
// CHECK:             scf.for
// CHECK:               llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// CHECK:               %{{.*}} = arith.constant 16384 : i32
// CHECK:               llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// CHECK:             }
// CHECK-NEXT:        nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK:             nvvm.bar.warp.sync
// CHECK:             nvvm.mbarrier.arrive %{{.*}} : !llvm.ptr<3>
// CHECK:           } else {
// CHECK:             nvvm.mbarrier.arrive.expect_tx
// CHECK:             nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg9
// The consumers: wgmma, and the epilogue into the sequence's O.
// CHECK:           nvvm.wgmma.fence.aligned
// CHECK:           llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// CHECK:           gpu.return

// AUTO: gpu.launch_func @{{fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_lse_[0-9a-f]+_varlen}}
// SM80: gpu.launch_func @{{fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_lse_[0-9a-f]+_varlen}}
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
