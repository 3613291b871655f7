func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>, %capture0: tensor<?xf32>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      captures(%capture0 : tensor<?xf32>)
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, %cap0: tensor<?xf32>):
        %m = arith.constant 128 : index
        %neg = arith.constant -128 : index
        %d = arith.subi %kv_idx, %q_idx : index
        %lo = arith.maxsi %d, %neg : index
        %c = arith.minsi %lo, %m : index
        %i = arith.addi %c, %m : index
        %bias = tensor.extract %cap0[%i] : tensor<?xf32>
        %r = arith.addf %score, %bias : f32
        fa.yield %r : f32
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
