// fa-compile --strategy=hopper-ws: the wgmma kernel in PTX (no ptxas
// needed), with its launch metadata; a chip without wgmma is refused.
// RUN: rm -rf %t && mkdir -p %t
// RUN: fa-compile %s -o %t/attn --format=ptx --strategy=hopper-ws | FileCheck %s --check-prefix=TOOL
// RUN: FileCheck %s --check-prefix=PTX < %t/attn.ptx
// RUN: FileCheck %s --check-prefix=JSON < %t/attn.json
// RUN: not fa-compile %s -o %t/x --format=ptx --strategy=hopper-ws --chip=sm_80 2>&1 | FileCheck %s --check-prefix=CHIP
// Three consumer warpgroups (block-m 192): 384 threads.
// RUN: fa-compile %s -o %t/wg3 --format=ptx --strategy=hopper-ws --block-m=192 --block-n=96 | FileCheck %s --check-prefix=WG3
// RUN: FileCheck %s --check-prefix=WG3-PTX < %t/wg3.ptx

// TOOL: fa-compile: fa_attention_f16_d64_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}attn.{ptx,json}
// PTX: .target sm_90a
// PTX: .maxntid 256, 1, 1
// PTX-DAG: cp.async.cg.shared.global
// PTX-DAG: fence.proxy.async.shared::cta
// PTX-DAG: wgmma.fence.sync.aligned
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, p, 1, 1, 0, 0;
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 1;
// PTX-DAG: wgmma.commit_group.sync.aligned
// PTX-DAG: wgmma.wait_group.sync.aligned 0
// JSON: "block": [
// JSON-NEXT: 256,
// JSON: "dynamic_shared_memory": 82944
// JSON: "strategy": "hopper-ws"
// JSON: "block_m": 128
// JSON-NEXT: "block_n": 128
// WG3: fa-compile: fa_attention_f16_d64_bm192_bn96_wg3_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}wg3.{ptx,json}
// WG3-PTX: .maxntid 384, 1, 1
// WG3-PTX: wgmma.mma_async.sync.aligned.m64n96k16.f32.f16.f16
// CHIP: error: the hopper-ws strategy needs sm_90a (wgmma), got 'sm_80'; use strategy=mma-sync

func.func @attention(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>,
                     %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>)
    -> tensor<?x?x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>)
                    outs(%o : tensor<?x?x?x64xf16>) causal = <top_left>
                    -> tensor<?x?x?x64xf16>
  return %0 : tensor<?x?x?x64xf16>
}
