// A packed tile of one position: G = 16 query heads in 16 rows (32:2). Folding
// 'tile * 1' and 'ceildiv(Nq, 1)' (canonicalization) keeps it a packed
// tile the kernel builds. (With a static Hkv of 1 canonicalization also
// folds the head induction variable into the K/V slices' offsets, which the
// matcher does not take yet.)
// RUN: fa-opt %s "--fa-tile-attention=block-m=16 block-n=64 pack-gqa split-kv=auto" --fa-fuse-online-softmax --canonicalize --cse --fa-lower-to-gpu | FileCheck %s

// CHECK-LABEL: func.func @gqa16
// CHECK:         gpu.launch_func {{ *}}@[[P:fa_attention_f16_d64_bm16_bn64_w4_s3_kw4_lse_[0-9a-f]+_gqa16_splitkv]]::@[[P]] blocks in (%{{.*}}, %c2{{.*}}, %{{.*}})
// CHECK:         gpu.func @[[P]]({{.*}}pack_gqa = 16 : i64
func.func @gqa16(%q: tensor<?x32x?x64xf16>, %k: tensor<?x2x?x64xf16>,
               %v: tensor<?x2x?x64xf16>, %o: tensor<?x32x?x64xf16>)
    -> tensor<?x32x?x64xf16> {
  %r = fa.attention
      ins(%q, %k, %v : tensor<?x32x?x64xf16>, tensor<?x2x?x64xf16>,
                       tensor<?x2x?x64xf16>)
      outs(%o : tensor<?x32x?x64xf16>) causal = <bottom_right>
      -> tensor<?x32x?x64xf16>
  return %r : tensor<?x32x?x64xf16>
}
