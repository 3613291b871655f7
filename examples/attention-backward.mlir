// The backward of examples/attention.mlir, as an ML compiler would emit it
// for training: the gradients dQ, dK and dV of the grouped-query, causal
// (bottom-right) attention from Q, K, V, the forward's O and LSE, and dO.
// fa-compile writes three kernels: delta (rowsum(dO * O)), the fused
// key-block kernel (dK and dV, dQ accumulated in f32) and dq_convert.
//
//   build/bin/fa-compile examples/attention-backward.mlir -o /tmp/bwd
//   make bench-compile   # times this compile too (three kernels)

func.func @attention_backward(
    %q: tensor<2x8x?x128xbf16>, %k: tensor<2x2x?x128xbf16>,
    %v: tensor<2x2x?x128xbf16>, %o: tensor<2x8x?x128xbf16>,
    %do: tensor<2x8x?x128xbf16>, %lse: tensor<2x8x?xf32>,
    %dq0: tensor<2x8x?x128xbf16>, %dk0: tensor<2x2x?x128xbf16>,
    %dv0: tensor<2x2x?x128xbf16>)
    -> (tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>,
        tensor<2x2x?x128xbf16>) {
  %dq, %dk, %dv = fa.attention_backward
      ins(%q, %k, %v, %o, %do, %lse : tensor<2x8x?x128xbf16>,
          tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>,
          tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>)
      outs(%dq0, %dk0, %dv0 : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>,
           tensor<2x2x?x128xbf16>)
      causal = <bottom_right>
      -> tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>
  return %dq, %dk, %dv : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>,
                         tensor<2x2x?x128xbf16>
}
