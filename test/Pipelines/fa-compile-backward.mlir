// fa-compile on an fa.attention_backward: three kernels, each with launch
// metadata that names its stage, its grid (over Q's or K's rows), the
// arguments it writes and the backward it computes (scale, causal mask,
// regions) for fa-runner's reference; fa-runner finds them from the prefix.
// The mma-sync kernels first. With backward-dq=accumulate: .0 delta (which
// also zeroes the f32 dQ accumulator, an argument after delta), .1 fused
// (dK, dV and dQ added with atomics, over K's tiles of 64 keys at D = 128),
// .2 dq_convert. With backward-dq=stage, mma-sync's default (auto) at D =
// 128: .0 delta, .1 key_value, .2 query (its own tiles, 64 x 64 at D =
// 128, where key_value's are 32 x 64).
// RUN: rm -rf %t && mkdir -p %t
// RUN: fa-compile %s -o %t/bwd --format=ptx --strategy=mma-sync --backward-dq=accumulate | FileCheck %s --check-prefix=TOOL
// RUN: FileCheck %s --check-prefix=DELTA < %t/bwd.0.json
// RUN: FileCheck %s --check-prefix=FUSED < %t/bwd.1.json
// RUN: FileCheck %s --check-prefix=CONVERT < %t/bwd.2.json
// RUN: FileCheck %s --check-prefix=PTX < %t/bwd.1.ptx
// RUN: fa-compile %s -o %t/stage --format=ptx --strategy=mma-sync | FileCheck %s --check-prefix=STAGES
// RUN: fa-compile %s -o %t/stage2 --format=ptx --strategy=mma-sync --backward-dq=stage | FileCheck %s --check-prefix=STAGES2
// RUN: FileCheck %s --check-prefix=KV < %t/stage.1.json
// RUN: FileCheck %s --check-prefix=QUERY < %t/stage.2.json
// RUN: not fa-compile %s -o %t/bad --format=ptx --backward-dq=atomic 2>&1 | FileCheck %s --check-prefix=BADDQ
// A lowered backward whose key_value kernel's fa.launch is edited to the
// query stage: its metadata would give dK (argument 8) as read-only.
// RUN: fa-opt %s --pass-pipeline='builtin.module(func.func(fa-tile-attention-backward{dq=stage},fa-fuse-online-softmax),fa-lower-to-gpu)' -o %t/lowered.mlir
// RUN: sed 's/backward_stage = "key_value"/backward_stage = "query"/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=EDITEDSTAGE
// EDITEDSTAGE: error: the kernel writes its argument 8, which its fa.launch makes read-only in the launch metadata
// A misspelt value of a forward option is reported as such, before the
// module's kind is looked at.
// RUN: not fa-compile %s -o %t/bad --format=ptx --epilogue=tmaa 2>&1 | FileCheck %s --check-prefix=BADEPI
// RUN: not fa-compile %s -o %t/bad --format=ptx --persistent=yes 2>&1 | FileCheck %s --check-prefix=BADPERS
// RUN: not fa-compile %s -o %t/bad --format=ptx --split-kv=many 2>&1 | FileCheck %s --check-prefix=BADSPLIT
// Forward-only schedule options would be ignored: refused.
// RUN: not fa-compile %s -o %t/bad --format=ptx --split-kv=3 2>&1 | FileCheck %s --check-prefix=FWDOPT
// RUN: not fa-compile %s -o %t/bad --format=ptx --pack-gqa 2>&1 | FileCheck %s --check-prefix=FWDOPT
// RUN: not fa-compile %s -o %t/bad --format=ptx --warps=8 2>&1 | FileCheck %s --check-prefix=FWDOPT
// RUN: not fa-compile %s -o %t/bad --format=ptx --persistent=off 2>&1 | FileCheck %s --check-prefix=FWDOPT
// RUN: not fa-compile %s -o %t/bad --format=ptx --exp2-emulation=3 2>&1 | FileCheck %s --check-prefix=FWDOPT
// RUN: not fa-compile %s -o %t/bad --format=ptx --epilogue=staged 2>&1 | FileCheck %s --check-prefix=FWDOPT
// Without a driver, fa-runner says so (exit 3) once it found the three.
// RUN: not fa-runner %t/bwd --batch 1 --hq 2 --hkv 1 --nq 16 --nk 16 2>&1 | FileCheck %s --check-prefix=RUNNER
// RUN: not fa-runner %t/stage --batch 1 --hq 2 --hkv 1 --nq 16 --nk 16 2>&1 | FileCheck %s --check-prefix=RUNNER
// RUN: not fa-runner %t/bwd --nq 16 2>&1 | FileCheck %s --check-prefix=SIZES
//
// The default strategy (auto) on sm_90a, and hopper-ws: dq=auto accumulates
// and the fused kernel is the wgmma one (64 queries by 128 keys, two
// warpgroups); delta and dq_convert are the row-wise kernels. Asking for
// dq=stage with hopper-ws is refused; auto falls back to mma-sync.
// RUN: fa-compile %s -o %t/hw --format=ptx | FileCheck %s --check-prefix=HTOOL
// RUN: FileCheck %s --check-prefix=HFUSED < %t/hw.1.json
// RUN: FileCheck %s --check-prefix=HPTX < %t/hw.1.ptx
// RUN: FileCheck %s --check-prefix=HPTX-LATCH < %t/hw.1.ptx
// RUN: fa-compile %s -o %t/hw2 --format=ptx --strategy=hopper-ws | FileCheck %s --check-prefix=HTOOL2
// A hand-edited map of the fused kernel (of lse, argument 5, which no
// backward kernel maps) is refused before fa-runner looks for a driver.
// RUN: for i in 0 1 2; do cp %t/hw.$i.ptx %t/hwbad.$i.ptx; cp %t/hw.$i.json %t/hwbad.$i.json; done
// RUN: %python %S/../Tools/Inputs/fa-runner-tensor-maps/edit_json.py %t/hw.1.json %t/hwbad.1.json tensor_maps.3.argument=5 'tensor_maps.3.operand="lse"'
// RUN: not fa-runner %t/hwbad --batch 1 --hq 2 --hkv 1 --nq 16 --nk 16 2>&1 | FileCheck %s --check-prefix=BADMAP
// BADMAP: tensor maps of a backward kernel describe q, k, v, do (arguments 0..2 and 4) or dq_accum (argument 7, with dq=accumulate)
// RUN: not fa-compile %s -o %t/hw3 --format=ptx --strategy=hopper-ws --backward-dq=stage 2>&1 | FileCheck %s --check-prefix=HSTAGE
// RUN: fa-compile %s -o %t/hw4 --format=ptx --backward-dq=stage | FileCheck %s --check-prefix=HSTAGES2
// RUN: not fa-compile %s -o %t/hw5 --format=ptx --strategy=hopper-ws --chip=sm_80 2>&1 | FileCheck %s --check-prefix=HCHIP
// The backward's tiles are backward-block-m/backward-block-n (block-m and
// block-n are the forward's: given for a module without fa.attention they
// would be ignored, so they are refused, as are the backward's for a module
// without fa.attention_backward). 128 x 128 at D = 128 needs more
// registers than the wgmma kernel has.
// RUN: fa-compile %s -o %t/hw6 --format=ptx --strategy=mma-sync --backward-block-m=16 --backward-block-n=32 | FileCheck %s --check-prefix=BTILES
// RUN: not fa-compile %s -o %t/hw7 --format=ptx --block-n=64 2>&1 | FileCheck %s --check-prefix=FWDTILES
// RUN: not fa-compile %S/../../examples/attention.mlir -o %t/hw8 --format=ptx --backward-block-m=64 2>&1 | FileCheck %s --check-prefix=BWDTILES
// RUN: not fa-compile %s -o %t/hw9 --format=ptx --strategy=hopper-ws --backward-block-m=128 2>&1 | FileCheck %s --check-prefix=BREGS

// BTILES: fa_attention_backward_delta_f16_d128_bm16_bn32_
// BTILES: fa_attention_backward_key_value_f16_d128_bm16_bn32_
// FWDTILES: error: block-m and block-n tile fa.attention, and the module holds only fa.attention_backward; its tiles are backward-block-m and backward-block-n
// BWDTILES: error: backward-block-m and backward-block-n tile fa.attention_backward, which the module does not hold
// BREGS: error: the hopper-ws backward needs 320 accumulator registers per thread at D = 128 with block-m = 128 and block-n = 128

// TOOL: fa-compile: fa_attention_backward_delta_f16_d128_bm32_bn64_{{[0-9a-f]+}} -> {{.*}}bwd.0.{ptx,json}
// TOOL: fa-compile: fa_attention_backward_fused_f16_d128_bm32_bn64_s2_{{[0-9a-f]+}} -> {{.*}}bwd.1.{ptx,json}
// TOOL: fa-compile: fa_attention_backward_dq_convert_f16_d128_bm32_bn64_{{[0-9a-f]+}} -> {{.*}}bwd.2.{ptx,json}

// DELTA: "name": "delta",
// DELTA: "writes": true
// DELTA: "name": "dq_accum",
// DELTA-NEXT: "rank": 4,
// DELTA-NEXT: "shape": [
// DELTA: "type": "memref<?x?x?x128xf32, strided<[?, ?, ?, 1], offset: ?>>",
// DELTA-NEXT: "writes": true
// DELTA: "name": "dq",
// DELTA: "writes": false
// DELTA: "backward": {
// DELTA:   "causal": "top_left",
// DELTA:   "stage": "delta"
// DELTA: "block": [
// DELTA-NEXT: 128,
// DELTA: "expr": "ceildiv(q.size[2], 32)"

// FUSED: "name": "dq_accum",
// FUSED: "writes": true
// FUSED: "name": "dq",
// FUSED: "writes": false
// FUSED: "name": "dk",
// FUSED: "writes": true
// FUSED: "name": "dv",
// FUSED: "writes": true
// FUSED: "scale": 0.25,
// FUSED: "stage": "fused"
// FUSED: "block": [
// FUSED-NEXT: 128,
// FUSED: "expr": "ceildiv(k.size[2], 64)"
// FUSED: "expr": "k.size[1]"

// CONVERT: "name": "dq_accum",
// CONVERT: "writes": false
// CONVERT: "name": "dq",
// CONVERT-NEXT: "rank": 4,
// CONVERT: "writes": true
// CONVERT: "stage": "dq_convert"
// CONVERT: "expr": "ceildiv(q.size[2], 32)"

// PTX: .entry fa_attention_backward_fused_f16_d128
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// PTX: ex2.approx
// PTX: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// PTX: red.global.add.v4.f32

// STAGES: fa-compile: fa_attention_backward_delta_f16_d128_bm32_bn64_{{[0-9a-f]+}} -> {{.*}}stage.0.{ptx,json}
// STAGES: fa-compile: fa_attention_backward_key_value_f16_d128_bm32_bn64_s2_{{[0-9a-f]+}} -> {{.*}}stage.1.{ptx,json}
// STAGES: fa-compile: fa_attention_backward_query_f16_d128_bm64_bn64_s2_{{[0-9a-f]+}} -> {{.*}}stage.2.{ptx,json}

// KV: "name": "q",
// KV: "writes": false
// KV: "name": "delta",
// KV-NOT: dq_accum
// KV: "name": "dk",
// KV-NEXT: "rank": 4,
// KV: "writes": true
// KV: "name": "dv",
// KV: "writes": true
// KV: "backward": {
// KV:   "from_op": true,
// KV:   "head_dim": 128,
// KV:   "mask_mod": null,
// KV:   "scale": 0.25,
// KV:   "score_mod": {
// KV:   "stage": "key_value"
// KV: "block": [
// KV-NEXT: 128,
// KV: "dynamic_shared_memory": 65536,
// KV: "expr": "ceildiv(k.size[2], 64)"
// KV: "expr": "k.size[1]"

// QUERY: "name": "dq",
// QUERY-NEXT: "rank": 4,
// QUERY: "writes": true
// QUERY: "stage": "query"
// QUERY: "block": [
// QUERY-NEXT: 128,
// QUERY: "expr": "ceildiv(q.size[2], 64)"

// STAGES2: fa-compile: fa_attention_backward_key_value_f16_d128_bm32_bn64_s2_{{[0-9a-f]+}} -> {{.*}}stage2.1.{ptx,json}

// FWDOPT: error: split-kv, pack-gqa, warps, key-warps, persistent, epilogue, paged-loads, exp2-emulation and column-intervals shape forward kernels, and the module holds only fa.attention_backward (whose kernels take their warps from their tiles)
// BADDQ: error: backward-dq must be auto, accumulate or stage, got 'atomic'
// BADDQ-NOT: error
// BADEPI: error: epilogue must be auto, registers, staged or tma, got 'tmaa'
// BADEPI-NOT: error
// BADPERS: error: persistent must be auto, on or off, got 'yes'
// BADSPLIT: error: split-kv must be none, auto or a count in [1, 128], got 'many'

// RUNNER: fa-runner: no CUDA driver
// SIZES: fa-runner: batch is dynamic in these kernels; pass --batch

func.func @backward(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>, %v: tensor<?x?x?x128xf16>, %o: tensor<?x?x?x128xf16>, %do: tensor<?x?x?x128xf16>, %lse: tensor<?x?x?xf32>, %dq0: tensor<?x?x?x128xf16>, %dk0: tensor<?x?x?x128xf16>, %dv0: tensor<?x?x?x128xf16>)
    -> (tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>) {
  %0:3 = fa.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?xf32>)
      outs(%dq0, %dk0, %dv0 : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>) scale = 2.500000e-01 causal = <top_left>
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 0.5 : f32
      %x = arith.mulf %s, %c : f32
      fa.yield %x : f32
    }
      -> tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>
  return %0#0, %0#1, %0#2 : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>
}

// HTOOL: fa-compile: fa_attention_backward_delta_f16_d128_bm64_bn128_{{[0-9a-f]+}} -> {{.*}}hw.0.{ptx,json}
// HTOOL: fa-compile: fa_attention_backward_fused_f16_d128_bm64_bn128_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}hw.1.{ptx,json}
// HTOOL: fa-compile: fa_attention_backward_dq_convert_f16_d128_bm64_bn128_{{[0-9a-f]+}} -> {{.*}}hw.2.{ptx,json}
// HTOOL2: fa-compile: fa_attention_backward_fused_f16_d128_bm64_bn128_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}hw2.1.{ptx,json}

// HFUSED: "name": "dq_accum",
// HFUSED: "writes": true
// HFUSED: "name": "dk",
// HFUSED: "writes": true
// HFUSED: "name": "dv",
// HFUSED: "writes": true
// HFUSED: "stage": "fused"
// HFUSED: "block": [
// HFUSED-NEXT: 256,
// HFUSED: "dynamic_shared_memory": 198680,
// HFUSED: "expr": "ceildiv(k.size[2], 128)"
// HFUSED: "strategy": "hopper-ws"
// HFUSED-NEXT: "tensor_maps": [
// HFUSED-NEXT: {
// HFUSED-NEXT: "argument": 0,
// HFUSED-NEXT: "box": [
// HFUSED-NEXT: 64,
// HFUSED-NEXT: 64,
// HFUSED: "operand": "q",
// HFUSED: "argument": 1,
// HFUSED-NEXT: "box": [
// HFUSED-NEXT: 64,
// HFUSED-NEXT: 128,
// HFUSED: "operand": "k",
// HFUSED: "argument": 2,
// HFUSED-NEXT: "box": [
// HFUSED-NEXT: 64,
// HFUSED-NEXT: 128,
// HFUSED: "operand": "v",
// HFUSED: "argument": 4,
// HFUSED-NEXT: "box": [
// HFUSED-NEXT: 64,
// HFUSED-NEXT: 64,
// HFUSED-NEXT: 1,
// HFUSED-NEXT: 1
// HFUSED-NEXT: ],
// HFUSED-NEXT: "element_type": "f16",
// HFUSED: "operand": "do",
// HFUSED: "argument": 7,
// HFUSED-NEXT: "box": [
// HFUSED-NEXT: 32,
// HFUSED-NEXT: 16,
// HFUSED-NEXT: 1,
// HFUSED-NEXT: 1
// HFUSED-NEXT: ],
// HFUSED-NEXT: "element_type": "f32",
// HFUSED: "operand": "dq_accum",
// HFUSED-NEXT: "rank": 4,
// HFUSED-NEXT: "swizzle": "128B"

// TMA loads K, V, Q and dO (the maps are 64-byte aligned kernel
// parameters, one slab of 64 columns a box) onto mbarriers; S^T and dP^T
// (64 x 64, K-major), dV (P^T from registers, dO N-major), dS^T fenced for
// the async proxy (the only shared memory wgmma reads that threads wrote),
// dQ (dS M-major, K N-major, 64 columns a warpgroup), dK behind it (dS^T
// from registers, Q N-major) while dQ's rows are reduced: two boxes of 32
// columns a warp, by TMA.
// HPTX: .entry fa_attention_backward_fused_f16_d128
// HPTX-COUNT-5: .param .align 64 .b8 fa_attention_backward_fused_f16_d128{{.*}}[128]
// HPTX-COUNT-3: mbarrier.init.shared.b64
// HPTX: fence.mbarrier_init
// HPTX-COUNT-4: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// HPTX: mbarrier.try_wait.parity.shared.b64
// HPTX-NOT: fence.proxy.async
// HPTX: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 0, 0;
// HPTX: ex2.approx
// HPTX: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, p, 1, 1, 1;
// HPTX-NOT: wgmma.mma_async.sync.aligned.m64n64k16
// HPTX: fence.proxy.async.shared::cta
// HPTX-NEXT: bar.sync 0;
// HPTX: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 1, 1;
// HPTX: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, p, 1, 1, 1;
// HPTX: wgmma.wait_group.sync.aligned 1
// HPTX: cp.async.bulk.wait_group.read 0
// HPTX-COUNT-2: cp.reduce.async.bulk.tensor.4d.global.shared::cta.add.tile.bulk_group
// HPTX: cp.async.bulk.wait_group 0
// HPTX-NOT: mma.sync
// HPTX-NOT: red.global
// dK's wait follows the bulk reductions' commit: lane 0 issues them, then
// joins the warp at the wait (the loop's latch block, which LLVM places
// before the loop body; the loop's compare may come first).
// HPTX-LATCH: [[JOIN:\$L__BB[0-9_]+]]:{{[[:space:]]+(setp[^;]*;[[:space:]]+)?}}wgmma.wait_group.sync.aligned 0;
// HPTX-LATCH: @%p{{[0-9]+}} bra [[JOIN]];
// HPTX-LATCH-COUNT-2: cp.reduce.async.bulk.tensor.4d
// HPTX-LATCH-NEXT: cp.async.bulk.commit_group;
// HPTX-LATCH-NEXT: bra.uni [[JOIN]];

// HSTAGE: error: the hopper-ws backward builds the fused stage (dq=accumulate), got the key_value stage
// HCHIP: error: the hopper-ws backward needs wgmma (sm_90a), got sm_80
// HSTAGES2: fa-compile: fa_attention_backward_key_value_f16_d128_bm32_bn64_s2_{{[0-9a-f]+}} -> {{.*}}hw4.1.{ptx,json}
