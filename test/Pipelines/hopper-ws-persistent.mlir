// The persistent hopper-ws kernels through fa-compile: PTX and the launch
// JSON's "persistent" rule, which fa-runner and the Python driver apply.
// Two consumer warpgroups (block-m 128) overlap the softmax with P V;
// three (the default at D = 64 without a mask, 192 x 128) have registers
// for the serial schedule only, and loop over tiles with it.
// RUN: rm -rf %t && mkdir -p %t
// RUN: fa-compile %s -o %t/attn --format=ptx --strategy=hopper-ws --block-m=128 | FileCheck %s --check-prefix=TOOL
// RUN: FileCheck %s --check-prefix=PTX < %t/attn.ptx
// RUN: FileCheck %s --check-prefix=OVERLAP < %t/attn.ptx
// RUN: FileCheck %s --check-prefixes=JSON,JSON2 < %t/attn.json
// RUN: fa-compile %s -o %t/three --format=ptx --strategy=hopper-ws | FileCheck %s --check-prefix=TOOL3
// RUN: FileCheck %s --check-prefix=PTX3 < %t/three.ptx
// RUN: FileCheck %s --check-prefix=SERIAL < %t/three.ptx
// RUN: FileCheck %s --check-prefixes=JSON,JSON3 < %t/three.json
// RUN: fa-compile %s -o %t/three-staged --format=ptx --strategy=hopper-ws --epilogue=staged
// RUN: FileCheck %s --check-prefixes=JSON,JSON3S < %t/three-staged.json

// TOOL: fa-compile: fa_attention_f16_d64_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}attn.{ptx,json}
// TOOL3: fa-compile: fa_attention_f16_d64_bm192_bn128_wg3_s2_wgmma_{{[0-9a-f]+}} -> {{.*}}three.{ptx,json}
// The producer keeps 40 registers (it decodes tiles), the consumers 232,
// or 152 beside three consumer warpgroups.
// PTX-DAG: setmaxnreg.dec.sync.aligned.u32 40;
// PTX-DAG: setmaxnreg.inc.sync.aligned.u32 232;
// PTX3-DAG: setmaxnreg.dec.sync.aligned.u32 40;
// PTX3-DAG: setmaxnreg.inc.sync.aligned.u32 152;
// PTX3-DAG: %nctaid.x
// PTX3-DAG: %nctaid.z
// The overlapped softmax waits for the older of two groups in flight; the
// serial schedule waits for each group.
// OVERLAP: wgmma.wait_group.sync.aligned 1;
// SERIAL-NOT: wgmma.wait_group.sync.aligned 1;
// The tile loop strides by the grid, whatever it is.
// PTX-DAG: %nctaid.x
// PTX-DAG: %nctaid.z
// The tile slots in shared memory.
// PTX-DAG: st.volatile.shared.b32
// PTX-DAG: ld.volatile.shared.b32
// A persistent block has two Q slots (the producer loads the next tile's
// Q while the consumers compute with this one's). With two consumer
// warpgroups, the default epilogue stages O in a tile of their own (128
// rows of 64 columns after the control bytes, at the swizzle's period) and
// stores it by TMA; three store O from their registers (no room for O's
// map in 160 registers).
// JSON2: "dynamic_shared_memory": 116736
// JSON3: "dynamic_shared_memory": 115872
// Three that stage O (epilogue=staged) keep one Q slot (the second's
// selection spilled beside their 152 registers): Q 24 KiB, the rings 64
// KiB, the control bytes, O's tile of 24 KiB at the next 1024 bytes, and
// the alignment.
// JSON3S: "dynamic_shared_memory": 116736
// JSON: "persistent": {
// JSON-NEXT: "grid": "(min(T, S * A), 1, 1): T = the product of \"grid\", S = the device's multiprocessor count, A = cuOccupancyMaxActiveBlocksPerMultiprocessor(kernel, block[0], dynamic_shared_memory)",
// JSON-NEXT: "note": "each block loops over the tiles: any grid computes every tile once, \"grid\" too; this one is the fast one"
// JSON2: "operand": "o",
// JSON3-NOT: "operand": "o",

func.func @attention(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>,
                     %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>)
    -> tensor<?x?x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>)
                    outs(%o : tensor<?x?x?x64xf16>)
                    -> tensor<?x?x?x64xf16>
  return %0 : tensor<?x?x?x64xf16>
}
