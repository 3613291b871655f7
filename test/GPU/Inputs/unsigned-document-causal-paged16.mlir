func.func @attention(%q: tensor<?x?x?x128xbf16>, %k_cache: tensor<?x16x?x128xbf16>, %v_cache: tensor<?x16x?x128xbf16>, %o: tensor<?x?x?x128xbf16>, %block_table: tensor<?x?xi32>, %cache_seqlens: tensor<?xi32>, %capture0: tensor<?x?xi32>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k_cache, %v_cache : tensor<?x?x?x128xbf16>, tensor<?x16x?x128xbf16>, tensor<?x16x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      captures(%capture0 : tensor<?x?xi32>)
      paged(%block_table, %cache_seqlens : tensor<?x?xi32>, tensor<?xi32>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index, %cap0: tensor<?x?xi32>):
        %dq = tensor.extract %cap0[%b, %q_idx] : tensor<?x?xi32>
        %dk = tensor.extract %cap0[%b, %kv_idx] : tensor<?x?xi32>
        %same = arith.cmpi eq, %dq, %dk : i32
        %le = arith.cmpi ule, %kv_idx, %q_idx : index
        %both = arith.andi %same, %le : i1
        fa.yield %both : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
