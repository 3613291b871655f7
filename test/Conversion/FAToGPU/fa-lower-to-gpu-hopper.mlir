// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s

// The hopper-ws strategy: a producer warpgroup and two consumer
// warpgroups of 64 rows over 128-key blocks. The host passes one TMA tensor
// map per operand (fa.tensor_map, by value in the kernel). One thread
// initializes the mbarriers of the ring; then the producer (the last
// warpgroup) gives registers away and its first warp loads Q, then K and V
// of every block into a free stage with cp.async.bulk.tensor, one load per
// 64-column slab, after expecting the bytes on the stage's barrier. The
// consumers take registers and wait for Q. They peel the first block they
// compute: S = Q K^T as eight m64n128k16 wgmmas from shared-memory
// descriptors (one asm statement; the first overwrites, scale-d = 0), its
// scores body and online softmax. Then per block j they issue S_j, issue
// O += P_j-1 V_j-1 as eight wgmmas (one statement) with P from registers
// and V N-major (trans-b = 1), wait for S_j only, release K_j, run the
// softmax of S_j while the P V runs, wait for it and release V_j-1; the
// last P V follows the loop.
// The causal mask compares each key with a bound of its row: the blocks
// loop over query tiles in pairs (fa-lower-to-gpu-hopper-persistent.mlir
// tests the order), the producer with 56 registers, the consumers with
// 224, each tile's coordinates published in the tile slot, its Q in one
// of two Q slots.

// CHECK:       %[[QB:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x8x?x128xbf16> to memref<2x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-NEXT:  %[[KB:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x2x?x128xbf16>
// CHECK-NEXT:  %[[VB:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x2x?x128xbf16>
// CHECK:       %[[QM:.*]] = fa.tensor_map %[[QB]] box [64, 128, 1, 1] : memref<2x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>> -> !llvm.ptr
// CHECK-NEXT:  %[[KM:.*]] = fa.tensor_map %[[KB]] box [64, 128, 1, 1]
// CHECK-NEXT:  %[[VM:.*]] = fa.tensor_map %[[VB]] box [64, 128, 1, 1]
// O's map (the default epilogue, epilogue=auto, stores O by TMA: boxes of
// 64 rows and 64 columns from a staging tile of the block's own).
// CHECK-NEXT:  %[[OM:.*]] = fa.tensor_map %{{.*}} box [64, 64, 1, 1] : memref<2x8x?x128xbf16
// CHECK:       gpu.launch_func @[[K:fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_lse_[0-9a-f]+]]::@[[K]] blocks in ({{.*}}) threads in (%c384, {{.*}}) dynamic_shared_memory_size %c231424_i32
// CHECK-SAME:    %[[QM]] : !llvm.ptr, %[[KM]] : !llvm.ptr, %[[VM]] : !llvm.ptr, %[[OM]] : !llvm.ptr)
// CHECK:       gpu.func @[[K]](
// CHECK-SAME:    %[[QMAP:[a-z0-9]+]]: !llvm.ptr, %[[KMAP:[a-z0-9]+]]: !llvm.ptr, %[[VMAP:[a-z0-9]+]]: !llvm.ptr, %[[OMAP:[a-z0-9]+]]: !llvm.ptr) kernel
// CHECK-SAME:    fa.launch = {block_m = 128 : i64, block_n = 128 : i64, chip = "sm_90a", dynamic_shared_memory = 231424 : i64, lse = true, persistent = true, stages = 2 : i64, strategy = "hopper-ws", tensor_maps = [{argument = 0 : i64, box = [64, 128, 1, 1]}, {argument = 1 : i64, box = [64, 128, 1, 1]}, {argument = 2 : i64, box = [64, 128, 1, 1]}, {argument = 3 : i64, box = [64, 64, 1, 1]}], threads = 384 : i64, warps = 12 : i64}
// CHECK-SAME:    fa.tensor_maps = 4 : i64
// CHECK-SAME:    known_block_size = array<i32: 384, 1, 1>
// CHECK:         memref.extract_aligned_pointer_as_index
// Q loaded (1 arrival), per stage K and V loaded (1) and K and V released
// (2, one per consumer warpgroup), Q released (256, one per consumer
// thread); then the same two of the second Q slot.
// CHECK:           nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK:           nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK:           nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK:           nvvm.mbarrier.init %{{.*}}, %c2_i32
// CHECK:           nvvm.mbarrier.init %{{.*}}, %c2_i32
// CHECK:           nvvm.fence.mbarrier.init
// CHECK:         gpu.barrier
// CHECK:         %[[PRODUCER:.*]] = arith.cmpi eq, %{{.*}}, %c2{{(_[0-9]+)?}} : index
// CHECK:         scf.if %[[PRODUCER]] {
// CHECK-NEXT:      nvvm.setmaxregister  decrease 56
// CHECK:           scf.for
// CHECK-COUNT-3:     llvm.store volatile
// CHECK:             nvvm.mbarrier.arrive.expect_tx %[[QBAR:.*]], %c32768_i32
// CHECK:           nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[QMAP]], %[[QBAR]], box[%c0_i32{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK:           nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[QMAP]], %[[QBAR]], box[%c64_i32, %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK:           scf.for
// The bottom-right causal mask skips blocks: the producer loads those the
// consumers compute, once their stage is released.
// CHECK:             scf.if %{{.*}} -> (i32)
// CHECK:               nvvm.mbarrier.try_wait.parity
// CHECK:               nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK-COUNT-2:       nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]]
// CHECK:               nvvm.mbarrier.try_wait.parity
// CHECK:               nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK-COUNT-2:       nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[VMAP]]
// CHECK:               scf.yield
// CHECK:             } else {
// CHECK-NEXT:          scf.yield
// The consumers take turns issuing their MMAs (ping-pong on named barriers
// 1 and 2 of 256 threads): the last warpgroup gives the first its turn.
// CHECK:           llvm.store volatile %c-1_i32
// CHECK:           nvvm.setmaxregister  increase 224
// CHECK:           scf.if
// CHECK:             nvvm.barrier.arrive id = %{{.*}} number_of_threads = %c256_i32
// The consumers' loop over the tiles the producer publishes.
// CHECK:           scf.while
// CHECK:           nvvm.mbarrier.try_wait.parity
// CHECK:           scf.condition
// CHECK-COUNT-3:   llvm.load volatile
// The first block the consumers compute (the bottom-right mask may hide the
// first ones), peeled: S = Q K^T and its softmax only.
// CHECK:           scf.while
// CHECK:           %[[ANY:.*]] = arith.cmpi slt, %{{[0-9]+}}, %{{[0-9]+}}#0 : index
// CHECK-NEXT:      scf.if %[[ANY]] -> (f32,
// CHECK:             nvvm.mbarrier.try_wait.parity
// CHECK:             nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// CHECK:             nvvm.wgmma.fence.aligned
// One asm statement for the chain of eight, a scope per MMA: the first
// overwrites (scale-d from the operand $130, 0), the others accumulate (a
// register set to 1). Q's slot (one of two Q slots) and K's (of the ring)
// change from tile to tile: their descriptors are the operands $128 and
// $129, moved next to each MMA inside the statement. (In the loop over
// key blocks below Q's moved descriptors are operands, which LLVM hoists.)
// CHECK:             llvm.inline_asm has_side_effects "{\0A.reg .b32 one;\0A{\0A.reg .pred p;\0Asetp.ne.b32 p, $130, 0;\0Awgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, $128, $129, p, 1, 1, 0, 0;\0A}\0A{\0A.reg .b64 b;\0Aadd.s64 b, $129, 2;\0A.reg .b64 a;\0Aadd.s64 a, $128, 2;\0Amov.b32 one, 1;\0A.reg .pred p;\0Asetp.ne.b32 p, one, 0;\0Awgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, a, b, p, 1, 1, 0, 0;\0A}
// CHECK-SAME:          add.s64 b, $129, 1030;\0A.reg .b64 a;\0Aadd.s64 a, $128, 1030;{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, a, b, p, 1, 1, 0, 0;\0A}\0A}"
// CHECK-SAME:          "=f,{{.*}},=f,0,1,{{.*}},63,l,l,r"
// CHECK-NOT:         llvm.inline_asm
// CHECK:             nvvm.wgmma.commit.group.sync.aligned
// CHECK:             nvvm.barrier.arrive id = %{{.*}} number_of_threads = %c256_i32
// CHECK-NEXT:        nvvm.wgmma.wait.group.sync.aligned 0
// CHECK:             nvvm.mbarrier.arrive %{{.*}} : !llvm.ptr<3>
// The causal mask of the fused IR, per accumulator element.
// CHECK:             arith.cmpi
// CHECK-NOT:         wgmma.mma_async
// CHECK:             scf.for
// Block j: S_j, then the P V of block j - 1 behind it.
// CHECK:               nvvm.mbarrier.try_wait.parity
// CHECK:               nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// CHECK:               nvvm.wgmma.fence.aligned
// The same chain for block j.
// CHECK:               llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, $128, $136, p,
// CHECK-SAME:            add.s64 b, $136, 2;\0Amov.b32 one, 1;{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, $129, b, p,
// CHECK-SAME:            add.s64 b, $136, 1030;{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, $135, b, p, 1, 1, 0, 0;\0A}\0A}"
// CHECK-SAME:            "=f,{{.*}},63,l,l,l,l,l,l,l,l,l,r"
// CHECK-NOT:           llvm.inline_asm
// CHECK:               nvvm.wgmma.commit.group.sync.aligned
// CHECK:               nvvm.mbarrier.try_wait.parity
// CHECK:               nvvm.wgmma.fence.aligned
// P's registers are $128..$159 (four per MMA), V's slot descriptor $160
// (moved inside), scale-d (1) $161.
// CHECK:               llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $161, 0;\0Awgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, {$128, $129, $130, $131}, $160, p, 1, 1, 1;\0A}
// CHECK-SAME:            add.s64 b, $160, 128;{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, {$132, $133, $134, $135}, b, p, 1, 1, 1;
// CHECK-SAME:            add.s64 b, $160, 896;{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, {$156, $157, $158, $159}, b, p, 1, 1, 1;\0A}"
// CHECK-SAME:            "=f,{{.*}},63,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,r,l,r"
// CHECK-NOT:           llvm.inline_asm
// CHECK:               nvvm.wgmma.commit.group.sync.aligned
// CHECK:               nvvm.barrier.arrive id = %{{.*}} number_of_threads = %c256_i32
// S_j is ready; the P V runs on under the softmax, unmasked or masked.
// CHECK-NEXT:          nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:               nvvm.mbarrier.arrive %{{.*}} : !llvm.ptr<3>
// CHECK:               scf.if %{{.*}} -> (f32,
// CHECK-NOT:             wgmma
// CHECK:               } else {
// CHECK-NOT:             wgmma
// CHECK:               }
// CHECK-NEXT:          nvvm.wgmma.wait.group.sync.aligned 0
// CHECK:               nvvm.mbarrier.arrive %{{.*}} : !llvm.ptr<3>
// CHECK:               arith.mulf
// The last P V.
// CHECK:             nvvm.mbarrier.try_wait.parity
// CHECK:             nvvm.wgmma.fence.aligned
// Inside the loop over tiles, V's descriptor moves inside too.
// CHECK:             llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, {$128, $129, $130, $131}, $160, p,
// CHECK-SAME:          add.s64 b, $160, 896;{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{[^}]*}}, $63}, {$156, $157, $158, $159}, b, p, 1, 1, 1;\0A}"
// CHECK-NOT:         llvm.inline_asm
// CHECK:             nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT:        nvvm.wgmma.wait.group.sync.aligned 0
// CHECK:             nvvm.mbarrier.arrive %{{.*}} : !llvm.ptr<3>
// The epilogue (fa-lower-to-gpu-hopper-epilogue.mlir): the warpgroup's
// rows staged, fenced for the async proxy, stored by TMA through O's map.
// CHECK:             nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK:             nvvm.cp.async.bulk.tensor.global.shared.cta %[[OMAP]]
// CHECK:             nvvm.cp.async.bulk.tensor.global.shared.cta %[[OMAP]]
// Before the block exits, its last boxes are read.
// CHECK:           nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK:         gpu.return

func.func @attention(%q: tensor<2x8x?x128xbf16>, %k: tensor<2x2x?x128xbf16>,
                     %v: tensor<2x2x?x128xbf16>, %o: tensor<2x8x?x128xbf16>,
                     %lse: tensor<2x8x?xf32>)
    -> (tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>) {
  %out, %logsumexp = fa.attention
      ins(%q, %k, %v : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>,
                       tensor<2x2x?x128xbf16>)
      outs(%o, %lse : tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>)
      causal = <bottom_right>
      -> tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
  return %out, %logsumexp : tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
}
