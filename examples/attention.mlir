// A grouped-query, causal attention as an ML compiler would emit it:
// 8 query heads share 2 key/value heads, head dimension 128, bf16, the
// FlashAttention (bottom-right) causal alignment, and the log-sum-exp that a
// backward pass would need. The sequence length is dynamic.
//
//   make demo            # runs this file through every stage of the pipeline
//   build/bin/fa-opt examples/attention.mlir

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
