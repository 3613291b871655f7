// strategy=auto: per kernel, hopper-ws (wgmma) on a chip with wgmma for
// the shapes it builds (f16/bf16, D == Dv in {64, 128, 192, 256}), mma-sync
// otherwise; fa-tile-attention's defaults-for=auto gives those kernels
// hopper-ws's tile (128 x 128 up to D = 128, 128 x 64 beyond). The pipeline
// (fa-compile, the C API, Python) defaults to auto.
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=auto" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto" | FileCheck %s --check-prefix=WGMMA
// RUN: fa-opt %s --fa-lower-to-nvgpu-pipeline | FileCheck %s --check-prefix=WGMMA
// RUN: fa-opt %s "--fa-lower-to-nvgpu-pipeline=chip=sm_80" | FileCheck %s --check-prefix=MMA
// RUN: fa-opt %s "--fa-lower-to-nvgpu-pipeline=chip=sm_90" | FileCheck %s --check-prefix=MMA
// The lowering alone picks by chip, whatever tile the IR has.
// RUN: fa-opt %s --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto chip=sm_80" | FileCheck %s --check-prefix=MMA
// RUN: fa-opt %s --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto" | FileCheck %s --check-prefix=WGMMA-MMATILE

// WGMMA: gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// WGMMA-SAME: strategy = "hopper-ws"
// WGMMA: gpu.func @fa_attention_f16_d256_bm128_bn64_wg2_s2_wgmma_{{[0-9a-f]+}}(
// WGMMA-SAME: strategy = "hopper-ws"
// MMA: gpu.func @fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_{{[0-9a-f]+}}(
// MMA-SAME: strategy = "mma-sync"
// MMA: gpu.func @fa_attention_f16_d256_bm128_bn32_w8_s2_qsmem_{{[0-9a-f]+}}(
// MMA-SAME: strategy = "mma-sync"
// WGMMA-MMATILE: gpu.func @fa_attention_bf16_d128_bm128_bn48_wg2_s2_wgmma_{{[0-9a-f]+}}(
// WGMMA-MMATILE: gpu.func @fa_attention_f16_d256_bm128_bn32_wg2_s2_wgmma_{{[0-9a-f]+}}(

func.func @d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

func.func @d256(%q: tensor<?x?x?x256xf16>, %k: tensor<?x?x?x256xf16>, %v: tensor<?x?x?x256xf16>, %o: tensor<?x?x?x256xf16>) -> tensor<?x?x?x256xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x256xf16>, tensor<?x?x?x256xf16>, tensor<?x?x?x256xf16>) outs(%o : tensor<?x?x?x256xf16>) causal = <top_left> -> tensor<?x?x?x256xf16>
  return %0 : tensor<?x?x?x256xf16>
}
