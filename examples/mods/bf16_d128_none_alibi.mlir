func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>, %capture0: tensor<?xf32>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      captures(%capture0 : tensor<?xf32>)
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, %cap0: tensor<?xf32>):
        %slope = tensor.extract %cap0[%h] : tensor<?xf32>
        %d = arith.subi %kv_idx, %q_idx : index
        %di = arith.index_cast %d : index to i64
        %df = arith.sitofp %di : i64 to f32
        %bias = arith.mulf %slope, %df fastmath<contract> : f32
        %r = arith.addf %score, %bias fastmath<contract> : f32
        fa.yield %r : f32
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
