// fa-compile --strategy=hopper-ws: the wgmma kernel in PTX (no ptxas
// needed), with its launch metadata; a chip without wgmma is refused.
// RUN: rm -rf %t && mkdir -p %t
// RUN: fa-compile %s -o %t/attn --format=ptx --strategy=hopper-ws | FileCheck %s --check-prefix=TOOL
// RUN: FileCheck %s --check-prefix=PTX < %t/attn.ptx
// RUN: FileCheck %s --check-prefix=JSON < %t/attn.json
// A causal kernel at D = 64 loops over tiles: its producer keeps 64
// registers to find each tile's key blocks, the consumers 216.
// RUN: grep -q '"persistent": {' %t/attn.json
// The default epilogue (epilogue=auto, here tma) adds O's tensor map (a
// box of 64 columns of a warpgroup's 64 rows), in the JSON of the kernel
// compiled from the source, with --epilogue=tma, and from its lowered IR.
// RUN: FileCheck %s --check-prefix=JSON-TMA < %t/attn.json
// RUN: FileCheck %s --check-prefix=PTX-TMA < %t/attn.ptx
// RUN: fa-compile %s -o %t/tma --format=ptx --strategy=hopper-ws --epilogue=tma
// RUN: FileCheck %s --check-prefix=JSON-TMA < %t/tma.json
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws epilogue=tma" -o %t/lowered-tma.mlir
// RUN: fa-compile %t/lowered-tma.mlir -o %t/relowered-tma --format=ptx
// RUN: FileCheck %s --check-prefix=JSON-TMA < %t/relowered-tma.json
// --epilogue=registers stores O from the accumulators: three maps, and no
// staging tile (17 KiB less shared memory).
// RUN: fa-compile %s -o %t/regs --format=ptx --strategy=hopper-ws --epilogue=registers
// RUN: FileCheck %s --check-prefix=JSON-REGS < %t/regs.json
// RUN: not fa-compile %s -o %t/x --format=ptx --strategy=hopper-ws --chip=sm_80 2>&1 | FileCheck %s --check-prefix=CHIP
// Three consumer warpgroups (block-m 192) and the producer: 512 threads,
// 160 registers a consumer thread.
// RUN: fa-compile %s -o %t/wg3 --format=ptx --strategy=hopper-ws --block-m=192 --block-n=64 | FileCheck %s --check-prefix=WG3
// RUN: FileCheck %s --check-prefix=WG3-PTX < %t/wg3.ptx
// Lowered IR compiles as it is; hand edits that would make the launch JSON
// and the kernel's tensor-map parameters disagree are errors, not kernels.
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" -o %t/lowered.mlir
// RUN: fa-compile %t/lowered.mlir -o %t/relowered --format=ptx | FileCheck %s --check-prefix=LOWERED
// RUN: sed -e 's/, fa.tensor_maps = 4 : i64//' %t/lowered.mlir > %t/nocount.mlir
// RUN: not fa-compile %t/nocount.mlir -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=NOCOUNT
// The rest of fa.launch is checked against the kernel and the compile too:
// its JSON is what a runtime launches with.
// Tile and schedule options for input lowered already would change nothing.
// RUN: not fa-compile %t/lowered.mlir -o %t/x --format=ptx --block-m=64 2>&1 | FileCheck %s --check-prefix=LOWEREDOPT
// RUN: not fa-compile %t/lowered.mlir -o %t/x --format=ptx --backward-dq=stage 2>&1 | FileCheck %s --check-prefix=LOWEREDOPT
// RUN: not fa-compile %t/lowered.mlir -o %t/x --format=ptx --persistent=on 2>&1 | FileCheck %s --check-prefix=LOWEREDOPT
// RUN: not fa-compile %t/lowered.mlir -o %t/x --format=ptx --strategy=mma-sync 2>&1 | FileCheck %s --check-prefix=LOWEREDOPT
// RUN: not fa-compile %t/lowered.mlir -o %t/x --format=ptx --exp2-emulation=4 2>&1 | FileCheck %s --check-prefix=LOWEREDOPT
// RUN: not fa-compile %t/lowered.mlir -o %t/x --format=ptx --epilogue=staged 2>&1 | FileCheck %s --check-prefix=LOWEREDOPT
// RUN: not fa-compile %s -o %t/x --format=ptx --persistent=sometimes 2>&1 | FileCheck %s --check-prefix=PERSISTENT
// RUN: sed -e 's/threads = 384 : i64/threads = 256 : i64/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=THREADS
// RUN: sed -e 's/chip = "sm_90a", dynamic_shared_memory/chip = "sm_86", dynamic_shared_memory/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=LCHIP
// RUN: sed -e 's/dynamic_shared_memory = [0-9]* : i64/dynamic_shared_memory = -1 : i64/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=SMEM
// RUN: sed -e 's/block_m = 128 : i64, block_n = 128 : i64, chip/block_m = 0 : i64, block_n = 128 : i64, chip/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=TILE
// RUN: sed -e 's/strategy = "hopper-ws", tensor_maps/strategy = "wmma", tensor_maps/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=LSTRATEGY
// RUN: sed -e 's/tensor_maps = \[{argument = 0 : i64/tensor_maps = [{argument = 7 : i64/' %t/lowered.mlir > %t/badarg.mlir
// fa.launch against the host code that launches the kernel: its shared
// memory, its tensor maps (buffer and box), its LSE argument.
// RUN: sed -e 's/dynamic_shared_memory = [0-9]* : i64/dynamic_shared_memory = 100 : i64/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=HSMEM
// RUN: sed -e 's/{argument = 1 : i64, box = \[64, 128, 1, 1\]}/{argument = 1 : i64, box = [64, 64, 1, 1]}/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=HBOX
// RUN: sed -e 's/tensor_maps = \[{argument = 0 : i64/tensor_maps = [{argument = 3 : i64/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=HMAP
// RUN: sed -e 's/lse = false/lse = true/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=HLSE
// RUN: not fa-compile %t/badarg.mlir -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=BADARG
// RUN: sed -e 's/, {argument = 3 : i64, box = \[64, 64, 1, 1\]}//' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=NOOMAP
// RUN: sed -e 's/{argument = 3 : i64, box = \[64, 64, 1, 1\]}/{argument = 3 : i64, box = [64, 128, 1, 1]}/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=OBOX

// TOOL: fa-compile: fa_attention_f16_d64_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}attn.{ptx,json}
// PTX: .target sm_90a
// The tensor maps of Q, K, V and O, by value (__grid_constant__).
// PTX: .param .align 64 .b8 {{.*}}[128],
// PTX-NEXT: .param .align 64 .b8 {{.*}}[128],
// PTX-NEXT: .param .align 64 .b8 {{.*}}[128],
// PTX-NEXT: .param .align 64 .b8 {{.*}}[128]
// PTX: .maxntid 384, 1, 1
// PTX: mbarrier.init.shared.b64
// PTX: fence.mbarrier_init.release.cluster;
// PTX-DAG: setmaxnreg.dec.sync.aligned.u32 64;
// PTX-DAG: setmaxnreg.inc.sync.aligned.u32 216;
// PTX-DAG: mbarrier.arrive.expect_tx.shared.b64
// PTX-DAG: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// PTX-DAG: mbarrier.try_wait.parity.shared.b64
// PTX-DAG: mbarrier.arrive.shared.b64
// PTX-DAG: bar.sync {{.*}}, 256;
// PTX-DAG: bar.arrive {{.*}}, 256;
// PTX-DAG: wgmma.fence.sync.aligned
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, p, 1, 1, 0, 0;
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 1;
// PTX-DAG: wgmma.commit_group.sync.aligned
// PTX-DAG: wgmma.wait_group.sync.aligned 0
// The softmax of a block runs while the P V of the previous one does.
// PTX-DAG: wgmma.wait_group.sync.aligned 1
// No cp.async left: every load is TMA.
// PTX-NOT: cp.async.cg
// JSON: "block": [
// JSON-NEXT: 384,
// JSON: "dynamic_shared_memory": 116736
// JSON: "strategy": "hopper-ws"
// JSON: "tensor_maps": [
// JSON-NEXT: {
// JSON-NEXT: "argument": 0,
// JSON-NEXT: "box": [
// JSON-NEXT: 64,
// JSON-NEXT: 128,
// JSON-NEXT: 1,
// JSON-NEXT: 1
// JSON-NEXT: ],
// JSON-NEXT: "element_type": "f16",
// JSON-NEXT: "interleave": "none",
// JSON-NEXT: "l2_promotion": "256B",
// JSON-NEXT: "oob_fill": "zeros",
// JSON-NEXT: "operand": "q",
// JSON-NEXT: "rank": 4,
// JSON-NEXT: "swizzle": "128B"
// JSON: "operand": "k",
// JSON: "operand": "v",
// JSON-REGS: "dynamic_shared_memory": 99488
// JSON-REGS: "operand": "v",
// JSON-REGS-NOT: "operand": "o",
// JSON-TMA: "tensor_maps": [
// JSON-TMA: "operand": "q",
// JSON-TMA: "operand": "k",
// JSON-TMA: "operand": "v",
// JSON-TMA-NEXT: "rank": 4,
// JSON-TMA-NEXT: "swizzle": "128B"
// JSON-TMA-NEXT: },
// JSON-TMA-NEXT: {
// JSON-TMA-NEXT: "argument": 3,
// JSON-TMA-NEXT: "box": [
// JSON-TMA-NEXT: 64,
// JSON-TMA-NEXT: 64,
// JSON-TMA-NEXT: 1,
// JSON-TMA-NEXT: 1
// JSON-TMA-NEXT: ],
// JSON-TMA: "operand": "o",
// JSON-TMA-NEXT: "rank": 4,
// JSON-TMA-NEXT: "swizzle": "128B"
// JSON-TMA-NEXT: }
// JSON-TMA-NEXT: ]
// PTX-TMA: fence.proxy.async.shared::cta;
// PTX-TMA: cp.async.bulk.tensor.4d.global.shared::cta.tile.bulk_group
// PTX-TMA: cp.async.bulk.commit_group;
// PTX-TMA: cp.async.bulk.wait_group.read 0;
// JSON: "block_m": 128
// JSON-NEXT: "block_n": 128

// WG3: fa-compile: fa_attention_f16_d64_bm192_bn64_wg3_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}wg3.{ptx,json}
// WG3-PTX: .maxntid 512, 1, 1
// WG3-PTX-DAG: setmaxnreg.dec.sync.aligned.u32 32;
// WG3-PTX-DAG: setmaxnreg.inc.sync.aligned.u32 160;
// WG3-PTX-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
// LOWERED: fa-compile: fa_attention_f16_d64_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}relowered.{ptx,json}
// PERSISTENT: error: persistent must be auto, on or off, got 'sometimes'
// PERSISTENT-NOT: error
// LOWEREDOPT: error: the input is lowered to the GPU already (its kernels carry fa.launch): the strategy, tile and schedule options (strategy, block-m/n, warps, stages, key-warps, split-kv, pack-gqa, persistent, epilogue, paged-loads, exp2-emulation, column-intervals, backward-*) would change nothing
// THREADS: error: its fa.launch has 256 threads, but the kernel's known block size is 384
// LCHIP: error: its fa.launch names chip 'sm_86', but the compile targets 'sm_90a'
// SMEM: error: its fa.launch asks for -1 bytes of dynamic shared memory; sm_90a has 0 to 232432
// TILE: error: its fa.launch has block_m 0, block_n 128 and pack_gqa 1; tiles are positive, block_m at least pack_gqa
// LSTRATEGY: error: its fa.launch names strategy 'wmma'; kernels are mma-sync or hopper-ws
// NOCOUNT: error: its fa.launch lists 4 tensor maps but its 'fa.tensor_maps' attribute counts 0: the launch JSON and the kernel's parameters would disagree
// NOCOUNT-NOT: see current operation
// BADARG: error: its fa.launch has a tensor map of argument 7 with 4 box sizes: maps describe Q, K, V or O (in a backward kernel Q, K, V, dO or its f32 dQ accumulator: arguments 0-2, 4 and 7), one size per dimension
// HSMEM: error: the fa.launch of fa_attention_{{[a-z0-9_]+}} asks for 100 bytes of dynamic shared memory, and its launch for {{[0-9]+}}
// HBOX: error: the fa.launch of fa_attention_{{[a-z0-9_]+}} describes tensor map 1 as argument 1 with box [64, 64, 1, 1], and its launch builds it from another buffer or with box [64, 128, 1, 1]
// HMAP: error: the fa.launch of fa_attention_{{[a-z0-9_]+}} describes tensor map 0 as argument 3 with box [64, 128, 1, 1], and its launch builds it from another buffer or with box [64, 128, 1, 1]
// NOOMAP: error: its fa.launch lists 3 tensor maps but its 'fa.tensor_maps' attribute counts 4: the launch JSON and the kernel's parameters would disagree
// OBOX: error: the fa.launch of fa_attention_{{[a-z0-9_]+}} describes tensor map 3 as argument 3 with box [64, 128, 1, 1], and its launch builds it from another buffer or with box [64, 64, 1, 1]
// HLSE: error: its fa.launch says it writes an LSE, and its argument 4 is not an f32 memref of rank 3
// CHIP: error: the hopper-ws strategy needs sm_90a (wgmma), got 'sm_80'; use strategy=mma-sync

func.func @attention(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>,
                     %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>)
    -> tensor<?x?x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>)
                    outs(%o : tensor<?x?x?x64xf16>) causal = <top_left>
                    -> tensor<?x?x?x64xf16>
  return %0 : tensor<?x?x?x64xf16>
}
