func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
        %cap = arith.constant 30.0 : f32
        %inv = arith.constant 0.03333333333333333 : f32
        %x = arith.mulf %score, %inv : f32
        %t = math.tanh %x : f32
        %r = arith.mulf %t, %cap : f32
        fa.yield %r : f32
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
