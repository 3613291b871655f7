// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// The mma-sync kernel through the tool (the default strategy, auto, is
// tested below).
// RUN: fa-compile %s -o %t/attn --strategy=mma-sync | FileCheck %s --check-prefix=TOOL
// RUN: FileCheck %s --check-prefix=PTX < %t/attn.ptx
// RUN: FileCheck %s --check-prefix=JSON < %t/attn.json
// RUN: %python -c "import sys; d=open(sys.argv[1],'rb').read(4); sys.exit(d != b'\x7fELF')" %t/attn.cubin
// RUN: not fa-compile %s 2>&1 | FileCheck %s --check-prefix=NOOUT
// RUN: not fa-compile %s -o %t/x --chip=sm_75 2>&1 | FileCheck %s --check-prefix=CHIP
// --opt-level sets the LLVM backend's level (the nvvm target's O); 0-3 only.
// RUN: not fa-compile %s -o %t/x --opt-level=4 2>&1 | FileCheck %s --check-prefix=OPTLEVEL
// RUN: fa-compile %s -o %t/attn --format=ptx --opt-level=1 --strategy=mma-sync | FileCheck %s --check-prefix=PTXONLY
// RUN: fa-opt %s --fa-lower-to-nvgpu-pipeline "--fa-gpu-to-nvvm-pipeline=opt-level=1" | FileCheck %s --check-prefix=TARGETO1
// RUN: not fa-compile %t/missing.mlir -o %t/x 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: fa-compile %s --benchmark=3 --strategy=mma-sync | FileCheck %s --check-prefix=BENCH
// RUN: fa-compile %s --benchmark=1 --format=ptx --strategy=hopper-ws | FileCheck %s --check-prefix=BENCHPTX
// RUN: not fa-opt %s "--fa-compile=format=elf" 2>&1 | FileCheck %s --check-prefix=FORMAT
// --help lists the tool's options, not every LLVM backend's.
// RUN: fa-compile --help | FileCheck %s --check-prefix=HELP
// The tool's flags and the fa-compile pipeline's options (fa-opt, the C API,
// Python) are one table (FACompileOptions.def): same names, defaults, help.
// RUN: fa-opt --help | FileCheck %s --check-prefix=PIPEHELP
// --format=fatbin writes <prefix>.fatbin (a fatbin of the cubin and the
// PTX; fa-runner loads it) and no stale cubin.
// RUN: fa-compile %s -o %t/attn --format=fatbin --strategy=mma-sync | FileCheck %s --check-prefix=FATBIN
// RUN: %python -c "import sys; d=open(sys.argv[1],'rb').read(4); sys.exit(d != bytes([0x50, 0xed, 0x55, 0xba]))" %t/attn.fatbin
// RUN: not ls %t/attn.cubin
// --format=ptx (no ptxas needed) writes PTX and JSON and removes the stale cubin.
// RUN: fa-compile %s -o %t/attn --format=ptx --strategy=mma-sync | FileCheck %s --check-prefix=PTXONLY
// RUN: not ls %t/attn.cubin
// RUN: FileCheck %s --check-prefix=PTX < %t/attn.ptx
// The kernels need nothing from the toolkit's libdevice: with a toolkit
// directory that has neither libdevice nor ptxas the PTX is complete (no
// unresolved __nv_* externs) and nothing is reported.
// RUN: mkdir -p %t/empty-toolkit
// RUN: env CUDA_HOME=%t/empty-toolkit fa-compile %s -o %t/nt --format=ptx 2>&1 | FileCheck %s --check-prefix=EMPTYTOOLKIT
// RUN: FileCheck %s --check-prefix=NOLIBDEVICE < %t/nt.ptx
// A toolkit path that does not exist is one error line and a failure,
// whatever the format; a cubin without ptxas says how to get PTX instead.
// RUN: not fa-compile %s -o %t/x --format=ptx --cuda-path=%t/no-toolkit 2>&1 | FileCheck %s --check-prefix=NOTOOLKIT
// RUN: env CUDA_HOME=%t/no-toolkit not fa-compile %s -o %t/x 2>&1 | FileCheck %s --check-prefix=NOHOME
// RUN: not fa-compile %s -o %t/x --cuda-path=%t/empty-toolkit 2>&1 | FileCheck %s --check-prefix=NOPTXAS
// --version names fa-mlir and the MLIR it was built with, in both tools.
// RUN: fa-compile --version | FileCheck %s --check-prefix=VERSION
// RUN: fa-opt --version | FileCheck %s --check-prefix=VERSION
// Option errors are one line each: no IR after them.
// RUN: not fa-compile %s -o %t/x --stages=1 2>&1 | FileCheck %s --check-prefix=STAGES1
// RUN: not fa-compile %s -o %t/x --warps=-1 2>&1 | FileCheck %s --check-prefix=WARPSNEG
// RUN: not fa-compile %s -o %t/x --strategy=bogus 2>&1 | FileCheck %s --check-prefix=STRATEGY
// RUN: not fa-compile %s -o %t/x --block-m=7 --strategy=mma-sync 2>&1 | FileCheck %s --check-prefix=BLOCKM7
// Options that would be ignored are refused: backward-dq without a
// backward; tile options for input that is tiled already.
// RUN: not fa-compile %s -o %t/x --format=ptx --backward-dq=stage 2>&1 | FileCheck %s --check-prefix=NOBWD
// RUN: fa-opt %s --fa-tile-attention --fa-fuse-online-softmax -o %t/fused.mlir
// RUN: not fa-compile %t/fused.mlir -o %t/x --format=ptx --block-n=16 2>&1 | FileCheck %s --check-prefix=PRETILED
// RUN: fa-compile %t/fused.mlir -o %t/fused --format=ptx --strategy=mma-sync | FileCheck %s --check-prefix=FUSEDOK
// Lowered IR whose fa.launch names another block_m than the grid of its
// host launch tiles by: the launch JSON would leave tiles unlaunched.
// RUN: fa-opt %t/fused.mlir --fa-lower-to-gpu -o %t/lowered.mlir
// -o is a prefix, not a directory; a write that fails (a full disk) is one
// message, and leaves none of the kernel's files.
// RUN: not fa-compile %s -o %t/ --format=ptx 2>&1 | FileCheck %s --check-prefix=ODIR
// RUN: not fa-compile %s -o %t --format=ptx 2>&1 | FileCheck %s --check-prefix=ODIR
// RUN: not fa-compile %s -o - --format=ptx 2>&1 | FileCheck %s --check-prefix=ODASH
// RUN: not fa-compile %s --benchmark=100000 2>&1 | FileCheck %s --check-prefix=BENCHMAX
// RUN: ln -sf /dev/full %t/full.json
// RUN: not fa-compile %s -o %t/full --format=ptx 2>&1 | FileCheck %s --check-prefix=FULL
// RUN: not ls %t/full.ptx
// RUN: fa-compile %t/lowered.mlir -o %t/lowered --format=ptx | FileCheck %s --check-prefix=LOWEREDOK
// RUN: sed -e 's/{block_m = \([0-9]*\) : i64/{block_m = 256 : i64/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=HGRID
// An fa.launch edited to lse = false over a kernel that writes its LSE:
// the metadata would name argument 4 a read-only capture.
// RUN: sed -e 's/lse = true/lse = false/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=HLSEOFF
// A host launch over another grid than the JSON's (query tiles, heads,
// batch): heads and batch swapped, a constant number of tiles.
// RUN: sed -E 's/blocks in \((%%[^,]+), (%%[^,]+), (%%[^)]+)\)/blocks in (\1, \3, \2)/' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=HGRIDY
// RUN: sed -E 's/blocks in \((%%[^,]+), /blocks in (%%c8, /' %t/lowered.mlir | not fa-compile /dev/stdin -o %t/x --format=ptx 2>&1 | FileCheck %s --check-prefix=HGRIDX
// The default strategy, auto: hopper-ws (wgmma, its 128 x 128 tile) on
// sm_90a for this bf16 D = 128 kernel, mma-sync on chips without wgmma.
// RUN: fa-compile %s -o %t/auto --format=ptx | FileCheck %s --check-prefix=AUTO
// RUN: FileCheck %s --check-prefix=AUTOPTX < %t/auto.ptx
// RUN: fa-compile %s -o %t/auto80 --format=ptx --chip=sm_80 | FileCheck %s --check-prefix=AUTO80
// RUN: fa-compile %s -o %t/auto90 --format=ptx --chip=sm_90 | FileCheck %s --check-prefix=AUTO80
// Options only mma-sync takes make auto pick it (with its tile), on sm_90a
// too: warps, a block-m of 16-row warps, a deeper ring.
// RUN: fa-compile %s -o %t/autow --format=ptx --warps=4 | FileCheck %s --check-prefix=AUTOMMA
// RUN: fa-compile %s -o %t/autob --format=ptx --block-m=96 | FileCheck %s --check-prefix=AUTOMMA
// RUN: fa-compile %s -o %t/autos --format=ptx --stages=4 | FileCheck %s --check-prefix=AUTOMMA

// NOBWD: error: backward-dq chooses how a backward computes dQ, and the module holds no fa.attention_backward
// PRETILED: error: the input's attention is tiled already (its tiles are in fa.attention_tile); block-m, block-n, split-kv and pack-gqa tile fa.attention
// FUSEDOK: fa-compile: fa_attention_{{.*}} -> {{.*}}fused.{ptx,json}
// LOWEREDOK: fa-compile: fa_attention_{{.*}} -> {{.*}}lowered.{ptx,json}
// ODASH: fa-compile: -o takes a path prefix (it writes <prefix>.ptx, <prefix>.json, ...); '-' (standard output) cannot hold several files
// BENCHMAX: fa-compile: --benchmark must be 1 to 1000 compilations, got 100000
// ODIR: fa-compile: -o takes a path prefix (it writes <prefix>.ptx, <prefix>.json, ...), and '{{.*}}' is a directory; pass e.g. -o {{.*}}/attention
// FULL: fa-compile: cannot write {{.*}}full.json: No space left on device
// FULL-NOT: LLVM ERROR
// HLSEOFF: error: the kernel writes its argument 4, which its fa.launch makes read-only in the launch metadata (a runtime may pass an input there): its lse or stage does not match the kernel
// HGRIDY: error: the fa.launch of fa_attention_{{[a-z0-9_]+}} describes grid y as the query heads (Q's dimension 1; so does the launch JSON), and its launch's grid y is another value
// HGRIDX: error: the fa.launch of fa_attention_{{[a-z0-9_]+}} describes grid x as the query tiles (ceildiv(Q's dimension 2, 128); so does the launch JSON), and its launch's grid x is another value
// HGRID: error: the fa.launch of fa_attention_{{[a-z0-9_]+}} has block_m 256 and pack_gqa 1 (256 rows a tile), and its launch's grid tiles {{[0-9]+}} rows a tile
// VERSION: fa-mlir {{[0-9]+\.[0-9]+\.[0-9]+(\+g[0-9a-f]+(-dirty)?)?}} (MLIR {{[0-9]+\.[0-9]+\.[0-9]+}})
// EMPTYTOOLKIT-NOT: error
// EMPTYTOOLKIT: fa-compile: fa_attention_{{.*}} -> {{.*}}nt.{ptx,json}
// EMPTYTOOLKIT-NOT: error
// NOTOOLKIT: error: the CUDA toolkit path '{{.*}}no-toolkit' (from --cuda-path) is not a directory; point it at a CUDA toolkit, or unset it to compile PTX without one
// NOTOOLKIT-NOT: error
// NOHOME: error: the CUDA toolkit path '{{.*}}no-toolkit' (from CUDA_HOME) is not a directory
// NOHOME-NOT: error
// NOPTXAS: error: no ptxas at {{.*}}empty-toolkit{{/|\\}}bin{{/|\\}}ptxas to make a cubin: install the CUDA toolkit there, pass --cuda-path (or set CUDA_HOME), or compile with --format=ptx (the driver compiles PTX at load time)
// NOPTXAS-NOT: error
// STAGES1: error: stages must be 0 (the strategy's choice) or in [2, 4] (a ring of one block cannot overlap loads with the tensor cores), got 1
// STAGES1-NOT: see current operation
// STAGES1-NOT: builtin.module
// WARPSNEG: error: warps must be 0 (the strategy's choice) or positive, got -1
// WARPSNEG-NOT: builtin.module
// STRATEGY: error: strategy must be mma-sync, hopper-ws or auto, got 'bogus'
// AUTO: fa-compile: fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_lse_{{[0-9a-f]+}} -> {{.*}}auto.{ptx,json}
// AUTOPTX: wgmma.mma_async
// AUTOMMA: fa-compile: fa_attention_bf16_d128_bm{{128|96}}_bn48_w{{[0-9]+}}_s{{2|4}}_{{.*}} -> {{.*}}auto{{w|b|s}}.{ptx,json}
// AUTO80: fa-compile: fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_lse_{{[0-9a-f]+}} -> {{.*}}auto{{8|9}}0.{ptx,json}
// STRATEGY-NOT: builtin.module
// BLOCKM7: error: block-m must be a multiple of 16 for the mma-sync strategy, got 7
// BLOCKM7-NOT: see current operation
// BLOCKM7-NOT: scf.forall
// OPTLEVEL: error: opt-level must be 0, 1, 2 or 3, not 4
// OPTLEVEL-NOT: builtin.module
// TARGETO1: #nvvm.target<O = 1, chip = "sm_90a"
// TOOL: fa-compile: fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_lse_{{[0-9a-f]+}} -> {{.*}}attn.{ptx,cubin,json}
// NOLIBDEVICE-NOT: __nv_
// NOLIBDEVICE: .entry fa_attention
// NOLIBDEVICE-NOT: __nv_
// PTXONLY: fa-compile: fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_lse_{{[0-9a-f]+}} -> {{.*}}attn.{ptx,json}

// What matters in the generated assembly: tensor cores, ldmatrix, cp.async, exp2 on the
// SFU, shuffles for the row reductions, and the sm_90a target.
// PTX: .target sm_90a
// PTX: .entry fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_lse_{{[0-9a-f]+}}(
// PTX: .maxntid 128, 1, 1
// PTX-DAG: cp.async.cg.shared.global
// PTX-DAG: cp.async.wait_group
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// Shared memory is addressed with 32-bit registers (-nvptx-short-ptr).
// PTX-DAG: cp.async.cg.shared.global [%r{{[0-9]+}}{{(\+[0-9]+)?}}], [%rd
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: bar.sync

// JSON-DAG: "kernel": "fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_lse_{{[0-9a-f]+}}"
// JSON-DAG: "from_op": true
// JSON-DAG: "score_mod": null
// JSON-DAG: "mask_mod": null
// JSON-DAG: "captures": []
// JSON-DAG: "compiler": "fa-mlir {{.*}} (MLIR 22.{{.*}})"
// JSON-DAG: "chip": "sm_90a"
// JSON-DAG: "dynamic_shared_memory": 81920
// JSON-DAG: "expr": "ceildiv(q.size[2], 128)"
// JSON-DAG: "expr": "q.size[1]"
// JSON-DAG: "expr": "q.size[0]"
// JSON-DAG: "causal": "bottom_right"
// JSON-DAG: "lse": true
// JSON-DAG: "type": "memref<2x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>"
// JSON-DAG: "type": "memref<2x8x?xf32, strided<[?, ?, 1], offset: ?>>"
// JSON-DAG: "block_m": 128
// JSON-DAG: "warps": 4
// JSON-DAG: "block_n": 48

// HELP-NOT: amdgpu
// HELP: fa-compile options:
// HELP-DAG: --block-n=
// HELP-DAG: --format=
// HELP-DAG: --opt-level=
// HELP-DAG: --warps=
// Valid values and defaults are in the help.
// HELP-DAG: --chip=<string> {{.*}}- target chip: sm_80, sm_86, sm_87, sm_89, sm_90 or sm_90a (default)
// HELP-DAG: --strategy=<string> {{.*}}- kernel strategy: auto (the default: hopper-ws on sm_90a for f16/bf16 with D == Dv in {64, 128, 192, 256} unless --warps, a block-m not a multiple of 64 or stages other than 2 are given, else mma-sync), mma-sync (sm_80 and newer) or hopper-ws
// HELP-DAG: --stages=<long> {{.*}}- depth of the K/V ring in shared memory, 2 to 4 (0: the strategy's choice: mma-sync 3 for key-split tiles where they fit, else 2; hopper-ws and the backward 2)
// HELP-DAG: =fatbin {{.*}}-   PTX and a fatbin of the cubin and the PTX (runs ptxas and fatbinary)
// HELP-NOT: amdgpu
// HELP-NOT: nvptx-short-ptr
// PIPEHELP: --fa-compile {{.*}}- fa.attention to gpu.binary
// PIPEHELP-DAG: --stages=<long> {{.*}}- depth of the K/V ring in shared memory, 2 to 4 (0: the strategy's choice: mma-sync 3 for key-split tiles where they fit, else 2; hopper-ws and the backward 2)
// PIPEHELP-DAG: --chip=<string> {{.*}}- target chip: sm_80, sm_86, sm_87, sm_89, sm_90 or sm_90a (default)
// PIPEHELP-DAG: =fatbin {{.*}}-   PTX and a fatbin of the cubin and the PTX (runs ptxas and fatbinary)
// PIPEHELP: --fa-gpu-to-nvvm-pipeline
// FATBIN: fa-compile: fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_lse_{{[0-9a-f]+}} -> {{.*}}attn.{ptx,fatbin,json}

// NOOUT: fa-compile: no output prefix; pass -o <prefix> (or --benchmark=N)
// CHIP: error: unsupported chip 'sm_75'
// MISSING: fa-compile: {{.*}}missing.mlir
// BENCH: fa-compile: 3 runs, median {{[0-9.]+}} s, min {{[0-9.]+}} s, max {{[0-9.]+}} s (parse to PTX + cubin + metadata, mma-sync)
// BENCH-NEXT: fa-compile: split (medians): our passes {{[0-9.]+}} s (parse and lower to GPU {{[0-9.]+}} s, GPU to NVVM {{[0-9.]+}} s), LLVM backend {{[0-9.]+}} s, ptxas {{[0-9.]+}} s (waited for: {{[0-9.]+}} s)
// BENCH-NEXT: fa-compile: everything but ptxas: median {{[0-9.]+}} s (the first compile {{[0-9.]+}} s)
// BENCHPTX: (parse to PTX + metadata, hopper-ws)
// BENCHPTX-NEXT: LLVM backend {{[0-9.]+}} s, ptxas not run (--format=ptx)
// FORMAT: for the --format option: Cannot find option named 'elf'!

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
