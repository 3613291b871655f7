// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=staged" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=staged persistent=on" | FileCheck %s --check-prefix=ON
// epilogue=tma: the same staging, then TMA stores of the warpgroup's rows.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=tma" | FileCheck %s --check-prefix=TMA
// The default, epilogue=auto, is tma for these tiles (fixed lengths).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s --check-prefix=TMA
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=auto" | FileCheck %s --check-prefix=TMA
// epilogue=registers: O from the accumulators, no staging tile (the
// persistent causal kernel: 197792 bytes, without the 32 KiB tile).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=registers" | FileCheck %s --check-prefix=REGS
// Refused: another value, and the option on the mma-sync strategy.
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=bogus" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=mma-sync epilogue=staged" 2>&1 | FileCheck %s --check-prefix=MMA
// RUN: not fa-compile %s -o %t --format=ptx --strategy=mma-sync --epilogue=staged 2>&1 | FileCheck %s --check-prefix=MMA

// BAD: error: epilogue must be auto, registers, staged or tma, got 'bogus'
// MMA: error: epilogue=staged and epilogue=tma are options of the hopper-ws strategy; mma-sync kernels store O from the registers

// The staged epilogue (epilogue=staged; checked on an H100 on 2026-12-06).
// The hopper-ws epilogue stages O through shared memory: each consumer
// warpgroup, after a barrier of its 128 threads, writes its rows' pairs of
// columns (bf16x2) into the tile, waits on the barrier again, and stores
// whole 16-byte pieces (8 columns) of its rows to O: Dv / 8 pairs per row
// per thread, 64 * Dv / 8 / 128 pieces per thread.

// One tile per block (D = 256 without a mask): the warpgroup's rows of the
// Q tile take O's rows; no shared memory is added (Q 64 KiB, K and V rings
// 2 x 32 KiB each, 112 control bytes, 1 KiB of alignment).
// CHECK-LABEL: func.func @query_tile
// CHECK:       gpu.func @fa_attention_bf16_d256_bm128_bn64_wg2_s2_wgmma
// CHECK-SAME:    dynamic_shared_memory = 197744
// CHECK:         nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// CHECK-COUNT-64: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<2xbf16>, !llvm.ptr<3>
// CHECK:         nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// CHECK-COUNT-16: vector.store %{{.*}} {alignment = 16 : i64} : memref<1x8x?x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, vector<8xbf16>
// CHECK-NOT:     vector<2xbf16>
// CHECK:         gpu.return
// With persistent=on the D = 256 block loops, and O's own tile (64 KiB)
// does not fit beside the rings: O is stored from the registers as pairs.
// ON-LABEL: func.func @query_tile
// ON:       gpu.func @fa_attention_bf16_d256_bm128_bn64_wg2_s2_wgmma
// ON-SAME:    dynamic_shared_memory = 197744
// ON-NOT:     number_of_threads = %c128_i32
// ON-NOT:     vector<8xbf16>
// ON:         vector.store %{{.*}} : memref<1x8x?x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, vector<2xbf16>
// ON:         gpu.return
// epilogue=tma: after the pairs, a proxy fence (generic writes, then async
// reads) and the barrier, the warpgroup's first thread stores four boxes
// (one per 64-column slab) through O's tensor map, the last argument, and
// waits for them to have read the tile before the block exits.
// TMA-LABEL: func.func @query_tile
// TMA:       gpu.func @fa_attention_bf16_d256_bm128_bn64_wg2_s2_wgmma
// TMA-SAME:    %[[OMAP:[a-z0-9]+]]: !llvm.ptr) {{.*}}dynamic_shared_memory = 197744
// TMA-SAME:    fa.tensor_maps = 4
// TMA:         nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// TMA-COUNT-64: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<2xbf16>, !llvm.ptr<3>
// TMA:         nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// TMA:         nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// TMA:         scf.if
// TMA-COUNT-4: nvvm.cp.async.bulk.tensor.global.shared.cta %[[OMAP]], %{{.*}}, box[%c{{[0-9]+}}_i32{{(_[0-9]+)?}}, %{{.*}}, %{{.*}}, %{{.*}}] : !llvm.ptr, <3>
// TMA-NEXT:    nvvm.cp.async.bulk.commit.group
// TMA:         nvvm.cp.async.bulk.wait_group 0 {read}
// TMA-NOT:     vector.store
// TMA:         gpu.return
func.func @query_tile(%q: tensor<1x8x?x256xbf16>, %k: tensor<1x8x?x256xbf16>, %o: tensor<1x8x?x256xbf16>) -> tensor<1x8x?x256xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x256xbf16>, tensor<1x8x?x256xbf16>, tensor<1x8x?x256xbf16>) outs(%o : tensor<1x8x?x256xbf16>) -> tensor<1x8x?x256xbf16>
  return %0 : tensor<1x8x?x256xbf16>
}

// -----

// A persistent block (causal at D = 128, tiles in pairs): the producer
// loads the next tiles' Q while the consumers store O, so O has a tile of
// its own after the control bytes (two Q slots and the rings, 196608
// bytes, + 160 control bytes, at a 1024-byte boundary, where TMA reads
// swizzled boxes: 197632), 32 KiB: 231424 bytes with the alignment. The pairs'
// addresses are the thread's base with 16 (d % 8) XORed in; the pieces'
// rounds, 8 rows apart at D = 128, add 1024 bytes each.
// CHECK-LABEL: func.func @own_tile
// CHECK:       gpu.func @fa_attention_f16_d128_bm128_bn128_wg2_s2_wgmma
// CHECK-SAME:    dynamic_shared_memory = 231424
// CHECK-SAME:    persistent = true
// CHECK:         nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// CHECK:         %[[BASE:.*]] = arith.addi %{{.*}}, %{{.*}} : i32
// CHECK:         llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<2xf16>, !llvm.ptr<3>
// CHECK:         arith.xori %[[BASE]], %c16_i32{{(_[0-9]+)?}} : i32
// CHECK-COUNT-15: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<2xf16>, !llvm.ptr<3>
// CHECK:         memref.store %{{.*}}, %{{.*}} : memref<1x8x?xf32, strided<[?, ?, 1], offset: ?>>
// CHECK-COUNT-16: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<2xf16>, !llvm.ptr<3>
// CHECK:         memref.store %{{.*}}, %{{.*}} : memref<1x8x?xf32, strided<[?, ?, 1], offset: ?>>
// CHECK:         nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// CHECK:         %[[FIRST:.*]] = arith.addi %{{.*}}, %{{.*}} : i32
// CHECK:         llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<8xf16>
// CHECK:         arith.addi %[[FIRST]], %c1024_i32{{(_[0-9]+)?}} : i32
// CHECK-COUNT-7: vector.store %{{.*}} {alignment = 16 : i64} : memref<1x8x?x128xf16, strided<[?, ?, ?, 1], offset: ?>>, vector<8xf16>
// CHECK-NOT:     vector<2xf16>
// CHECK:         gpu.return
// ON-LABEL: func.func @own_tile
// ON:       gpu.func @fa_attention_f16_d128_bm128_bn128_wg2_s2_wgmma
// ON-SAME:    dynamic_shared_memory = 231424
// epilogue=tma: a persistent tile's epilogue first waits (its first
// thread) for the last tile's stores to have read the staging tile, then
// takes the barrier; the last wait follows the tile loop.
// TMA-LABEL: func.func @own_tile
// TMA:       gpu.func @fa_attention_f16_d128_bm128_bn128_wg2_s2_wgmma
// TMA-SAME:    dynamic_shared_memory = 231424
// TMA:         nvvm.cp.async.bulk.wait_group 0 {read}
// TMA:         nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// TMA-COUNT-16: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<2xf16>, !llvm.ptr<3>
// TMA:         nvvm.fence.proxy
// TMA:         nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// TMA-COUNT-2: nvvm.cp.async.bulk.tensor.global.shared.cta
// TMA-NEXT:    nvvm.cp.async.bulk.commit.group
// TMA:         nvvm.cp.async.bulk.wait_group 0 {read}
// TMA-NEXT:  }
// TMA-NEXT:  }
// TMA-NEXT:  gpu.return
// REGS-LABEL: func.func @query_tile
// REGS-NOT:     number_of_threads = %c128_i32
// REGS:         vector.store %{{.*}} : memref<1x8x?x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, vector<2xbf16>
// REGS-LABEL: func.func @own_tile
// REGS:       gpu.func @fa_attention_f16_d128_bm128_bn128_wg2_s2_wgmma
// REGS-SAME:    dynamic_shared_memory = 197792
// REGS-NOT:     number_of_threads = %c128_i32
// REGS-NOT:     vector<8xf16>
// REGS:         gpu.return
func.func @own_tile(%q: tensor<1x8x?x128xf16>, %k: tensor<1x8x?x128xf16>, %o: tensor<1x8x?x128xf16>, %lse: tensor<1x8x?xf32>) -> (tensor<1x8x?x128xf16>, tensor<1x8x?xf32>) {
  %0:2 = fa.attention ins(%q, %k, %k : tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>) outs(%o, %lse : tensor<1x8x?x128xf16>, tensor<1x8x?xf32>) causal = <bottom_right> -> tensor<1x8x?x128xf16>, tensor<1x8x?xf32>
  return %0#0, %0#1 : tensor<1x8x?x128xf16>, tensor<1x8x?xf32>
}
