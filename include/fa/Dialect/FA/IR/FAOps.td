//===- FAOps.td - Operations of the fa dialect -------------*- tablegen -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_IR_FAOPS_TD
#define FA_DIALECT_FA_IR_FAOPS_TD

include "fa/Dialect/FA/IR/FADialect.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

def FA_CausalAlignment : I32EnumAttr<"CausalAlignment",
    "where the causal diagonal sits when Nq != Nk", [
      I32EnumAttrCase<"TopLeft", 0, "top_left">,
      I32EnumAttrCase<"BottomRight", 1, "bottom_right">
    ]> {
  let cppNamespace = "::mlir::fa";
  let genSpecializedAttr = 0;
}

def FA_CausalAlignmentAttr
    : EnumAttr<FA_Dialect, FA_CausalAlignment, "causal"> {
  let summary = "Alignment of the causal mask";
  let description = [{
    `top_left`: query row `i` sees key columns `j <= i` (PyTorch's
    `scaled_dot_product_attention(is_causal=True)`).

    `bottom_right`: query row `i` sees key columns `j <= i + (Nk - Nq)`, so the
    last query row sees every key (FlashAttention 2.1 and later). With
    `Nq > Nk` the first `Nq - Nk` rows see no key at all.

    The two agree when `Nq == Nk`.
  }];
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

// The op is destination-style in its syntax and semantics but deliberately
// does not implement DestinationStyleOpInterface: the tensor dialect's
// canonicalizer folds tensor.cast into every op with that interface without
// re-verifying it, which can turn a valid fa.attention into an invalid one.
// AttentionOp's own canonicalizer folds casts only when the result verifies.
def FA_AttentionOp : FA_Op<"attention", [
    Pure, IsolatedFromAbove, AttrSizedOperandSegments]> {
  let summary = "Scaled dot-product attention, softmax(mod(Q K^T * scale)) V";
  let description = [{
    Computes, for every batch `b`, query head `h`, query row `i` and key `j`,

    ```
    s[i,j]    = scale * sum_d Q[b,h,i,d] * K[b,h/G,j,d]              (f32)
    s'[i,j]   = score_mod(s[i,j], b, h, i, j, captures...)  (s when absent)
    vis[i,j]  = causal(i,j) and mask_mod(b, h, i, j, captures...)
                                                   (each true when absent)
    O[b,h,i,:] = sum_{j: vis} softmax_j(s'[i,j]) * V[b,h/G,j,:]
    LSE[b,h,i] = log(sum_{j: vis} exp(s'[i,j]))                (natural log)
    ```

    where `G = Hq / Hkv` is the number of query heads sharing one key/value
    head (grouped-query attention; `Hkv == 1` is multi-query attention).

    Shapes: Q `[B, Hq, Nq, D]`, K `[B, Hkv, Nk, D]`, V `[B, Hkv, Nk, Dv]`,
    O `[B, Hq, Nq, Dv]`, LSE `[B, Hq, Nq]`. `B`, the head counts and the
    sequence lengths may be dynamic (`?`); the head dimensions `D` and `Dv`
    must be static. Q, K, V and O share one element type: `f16`, `bf16` or
    `f32`; arithmetic is carried out in `f32`. LSE is always `f32`.

    The op is in destination-passing style: `outs` names the tensors the
    results are written into (their contents are not read) and each result
    has the type of its init. Passing a second init requests the
    log-sum-exp result.

    Attributes:
    - `scale`: the factor applied to `Q K^T`; positive and finite, a
      normal f32 whose product with log2(e) is finite too (in [2^-126,
      FLT_MAX / log2(e)], about [1.18e-38, 2.36e38]: the softmax runs on
      that product, and kernels flush subnormals to zero). Absent means
      `1 / sqrt(D)`.
    - `causal`: absent means no causal mask. Otherwise the causal mask with
      the named alignment (`#fa.causal<top_left>` or
      `#fa.causal<bottom_right>`).

    Programmable attention (FlexAttention's `score_mod` and `mask_mod`):
    - `score_mod` (optional region): block arguments `(%score: f32, %b:
      index, %h: index, %q_idx: index, %kv_idx: index, captures...)`, yields
      the modified score (`f32`) with `fa.yield`. It sees the *scaled*
      score, rounded to f32, unless the op that reads it carries
      `fastmath<contract>`: then the product `Q K^T * scale` may be fused
      with it (e.g. `score + bias` as one FMA), as C's FP_CONTRACT allows;
      `h` is the query head; `q_idx` and `kv_idx` are positions in the
      whole sequences.
    - `mask_mod` (optional region): block arguments `(%b, %h, %q_idx,
      %kv_idx: index, captures...)`, yields `i1`: `true` keeps the pair. It
      composes with `causal`: a pair is kept only when both allow it.
    - `captures(...)`: extra tensor operands (`i1`, `i8`, `i16`, `i32`,
      `i64`, `f16`, `bf16`, `f32` or `f64` elements) that every region
      receives, in order, as its trailing block arguments and reads with
      `tensor.extract` / `tensor.dim` (e.g. ALiBi slopes per head, document
      ids per token, a relative-position bias table). Reading out of bounds
      is undefined, as for `tensor.extract`; an `arith.constant` index
      that is negative or past a static size, or a `tensor.dim` of such a
      dimension the capture does not have, is a verifier error.
    - The regions are isolated from above and hold only side-effect-free
      scalar ops: `arith` and `math` ops on scalars, `tensor.extract` and
      `tensor.dim` of a capture, `scf.if`. The exact list is in
      docs/ProgrammableAttention.md; anything else is a verifier error that
      names the op.
    - The value `score_mod` gives for a masked pair is never used. A kept
      pair whose modified score is `-inf` contributes nothing.

    Variable-length batches (FlashAttention's `varlen` functions):
    `varlen(%cu_seqlens_q, %cu_seqlens_k : tensor<?xi32>, tensor<?xi32>)
    max_seqlen_q = %m` packs the B sequences of a batch along one token
    axis. Q is `[Tq, Hq, D]`, K `[Tk, Hkv, D]`, V `[Tk, Hkv, Dv]`, O
    `[Tq, Hq, Dv]` and LSE `[Hq, Tq]`; sequence `b` is query rows
    `[cu_seqlens_q[b], cu_seqlens_q[b+1])` and key rows `[cu_seqlens_k[b],
    cu_seqlens_k[b+1])`, with `B + 1` offsets each (i32). Each sequence is
    an attention of its own: `b` is its index, `q_idx` and `kv_idx` (for
    the regions and the causal mask, whose bottom-right alignment uses the
    sequence's own lengths) are positions within it. `max_seqlen_q`
    (`index`) bounds every query length; it sizes the grid of query tiles.
    Offsets must be non-decreasing and within the operands and no sequence
    may be longer than `max_seqlen_q`, otherwise the behaviour is
    undefined (the runtimes check this before a launch). Rows of O and LSE
    outside every sequence are left unwritten.

    A paged KV cache (FlashAttention's `block_table`):
    `paged(%block_table, %cache_seqlens : tensor<?x?xi32>, tensor<?xi32>)`
    keeps K and V in pages of one pool, `[num_pages, page_size, Hkv, D]`
    (`[.., Dv]` for V) with a static `page_size`. Sequence `b` has
    `cache_seqlens[b]` keys; its key `j` is
    `K[block_table[b, j / page_size], j % page_size, h]`. Q, O and LSE keep
    the fixed layout. The regions' `kv_idx` and the causal mask (bottom-right
    with the sequence's own length) use the position `j`. Lengths beyond
    the block table and page ids outside the pool are undefined behaviour
    (the runtimes check them before a launch); table entries past a
    sequence's last page are never read. See docs/PagedKV.md.

    The two combine (variable-length queries against a paged cache, as a
    serving batch that mixes prefill chunks and decode steps):
    `varlen(%cu_seqlens_q : tensor<?xi32>) max_seqlen_q = %m` without
    `cu_seqlens_k`, and `paged(...)`. Q, O and the LSE are packed as for
    `varlen`, K and V are caches as for `paged`; sequence `b` is query rows
    `[cu_seqlens_q[b], cu_seqlens_q[b+1])` against its `cache_seqlens[b]`
    keys. Its queries are the last `nq_b` positions of the sequence:
    bottom-right alignment uses `cache_seqlens[b] - nq_b`.

    A query row that keeps no key (e.g. `bottom_right` with `Nq > Nk`, a
    `mask_mod` that hides the whole row, `Nk == 0`) yields an output row of
    zeros and an LSE of `-inf`; never NaN.

    Example:

    ```mlir
    %o, %lse = fa.attention
        ins(%q, %k, %v : tensor<2x8x1024x128xbf16>, tensor<2x2x1024x128xbf16>,
                         tensor<2x2x1024x128xbf16>)
        outs(%o_init, %lse_init : tensor<2x8x1024x128xbf16>,
                                  tensor<2x8x1024xf32>)
        scale = 0.125 causal = <bottom_right>
        score_mod {
        ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
          %cap = arith.constant 30.0 : f32
          %x = arith.divf %s, %cap : f32
          %t = math.tanh %x : f32
          %r = arith.mulf %t, %cap : f32
          fa.yield %r : f32
        }
        -> tensor<2x8x1024x128xbf16>, tensor<2x8x1024xf32>
    ```
  }];

  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    AnyRankedTensor:$output,
    Optional<AnyRankedTensor>:$lse_output,
    Variadic<AnyRankedTensor>:$captures,
    Optional<AnyRankedTensor>:$cu_seqlens_q,
    Optional<AnyRankedTensor>:$cu_seqlens_k,
    Optional<Index>:$max_seqlen_q,
    Optional<AnyRankedTensor>:$block_table,
    Optional<AnyRankedTensor>:$cache_seqlens,
    OptionalAttr<F32Attr>:$scale,
    OptionalAttr<FA_CausalAlignmentAttr>:$causal
  );
  let results = (outs
    AnyRankedTensor:$result,
    Optional<AnyRankedTensor>:$lse
  );
  let regions = (region MaxSizedRegion<1>:$score_mod,
                        MaxSizedRegion<1>:$mask_mod);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:`
              type($query) `,` type($key) `,` type($value) `)`
    `outs` `(` $output (`,` $lse_output^)? `:`
               type($output) (`,` type($lse_output)^)? `)`
    (`captures` `(` $captures^ `:` type($captures) `)`)?
    (`varlen` `(` $cu_seqlens_q^ (`,` $cu_seqlens_k^)? `:`
                  type($cu_seqlens_q) (`,` type($cu_seqlens_k)^)? `)`
                  `max_seqlen_q` `=` $max_seqlen_q)?
    (`paged` `(` $block_table^ `,` $cache_seqlens `:` type($block_table) `,`
                 type($cache_seqlens) `)`)?
    (`scale` `=` $scale^)?
    (`causal` `=` $causal^)?
    (`score_mod` $score_mod^)?
    (`mask_mod` $mask_mod^)?
    attr-dict `->` type(results)
  }];

  let builders = [
    OpBuilder<(ins "Value":$query, "Value":$key, "Value":$value,
                   "Value":$output, "Value":$lseOutput,
                   "std::optional<double>":$scale,
                   "std::optional<CausalAlignment>":$causal,
                   CArg<"ValueRange", "{}">:$captures,
                   CArg<"ValueRange", "{}">:$varlen,
                   CArg<"ValueRange", "{}">:$paged)>
  ];

  let extraClassDeclaration = [{
    /// The softmax scale in effect: the `scale` attribute, or 1/sqrt(D).
    double getEffectiveScale();
    /// The inits: the output, then the optional log-sum-exp output.
    MutableOperandRange getInitsMutable();
    /// Head dimension of Q and K (always static on a verified op).
    int64_t getHeadDim();
    /// Head dimension of V and O (always static on a verified op).
    int64_t getValueHeadDim();
    bool isCausal() { return getCausal().has_value(); }
    /// A variable-length batch (packed operands, cu_seqlens offsets).
    bool isVarlen() { return static_cast<bool>(getCuSeqlensQ()); }
    /// Keys and values in pages of a pool (block_table, cache_seqlens).
    bool isPaged() { return static_cast<bool>(getBlockTable()); }
    /// Rows per page of a paged cache (dimension 1 of K; static).
    int64_t getPageSize() { return getKeyType().getDimSize(1); }
    bool hasLse() { return static_cast<bool>(getLseOutput()); }
    bool hasScoreMod() { return !getScoreMod().empty(); }
    bool hasMaskMod() { return !getMaskMod().empty(); }
    RankedTensorType getQueryType() { return getQuery().getType(); }
    RankedTensorType getKeyType() { return getKey().getType(); }
    RankedTensorType getValueType() { return getValue().getType(); }
    RankedTensorType getOutputType() { return getOutput().getType(); }

    /// Block argument types of a score_mod (`forMask` false) or mask_mod
    /// region for the given captures.
    static SmallVector<Type> getModArgumentTypes(MLIRContext *ctx,
                                                 bool forMask,
                                                 TypeRange captures);
    /// Fills the (empty) score_mod region: `body` receives the builder, a
    /// location and the block arguments (score, b, h, q_idx, kv_idx,
    /// captures...) and returns the modified score; fa.yield is added.
    void buildScoreMod(OpBuilder &builder,
                       function_ref<Value(OpBuilder &, Location, ValueRange)>
                           body);
    /// Fills the (empty) mask_mod region: `body` receives (b, h, q_idx,
    /// kv_idx, captures...) and returns the i1 to keep the pair.
    void buildMaskMod(OpBuilder &builder,
                      function_ref<Value(OpBuilder &, Location, ValueRange)>
                          body);
  }];

  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// AttentionBackwardOp
//===----------------------------------------------------------------------===//

def FA_AttentionBackwardOp : FA_Op<"attention_backward", [
    Pure, IsolatedFromAbove]> {
  let summary = "Gradients of fa.attention: (Q, K, V, O, dO, LSE) -> "
                "(dQ, dK, dV)";
  let description = [{
    The gradients of `fa.attention` with respect to Q, K and V, given the
    forward's output `O`, its log-sum-exp `LSE` and the gradient `dO` of the
    loss with respect to `O`. With `s`, `s'` and `vis` as in `fa.attention`
    (the same `scale`, `causal`, `score_mod`, `mask_mod` and captures, which
    must be those of the forward op that produced `O` and `LSE`):

    ```
    P[i,j]     = vis[i,j] ? exp(s'[i,j] - LSE[b,h,i]) : 0   (recomputed)
    delta[i]   = sum_d dO[b,h,i,d] * O[b,h,i,d]
    dP[i,j]    = sum_d dO[b,h,i,d] * V[b,h/G,j,d]
    dS[i,j]    = P[i,j] * (dP[i,j] - delta[i]) * ds'/ds (s[i,j], b, h, i, j)
    dQ[b,h,i,:]   = scale * sum_j dS[i,j] * K[b,h/G,j,:]
    dK[b,hk,j,:]  = scale * sum_{h/G = hk} sum_i dS[i,j] * Q[b,h,i,:]
    dV[b,hk,j,:]  = sum_{h/G = hk} sum_i P[i,j] * dO[b,h,i,:]
    ```

    `ds'/ds` is the derivative of `score_mod` with respect to its score
    argument (1 without a `score_mod`); the compiler derives it from the
    region. Under grouped-query attention the gradients of a key/value head
    sum over the `G` query heads that share it. No gradient flows to the
    captures. A query row that keeps no key (`LSE = -inf`) contributes
    nothing: its dQ row is zero, never NaN. Arithmetic is carried out in
    f32.

    Shapes and element types are the forward's: Q `[B, Hq, Nq, D]`, K
    `[B, Hkv, Nk, D]`, V `[B, Hkv, Nk, Dv]`, O and dO `[B, Hq, Nq, Dv]`, LSE
    `[B, Hq, Nq]` (f32). The op is in destination-passing style: `outs`
    names the dQ, dK and dV tensors (of the types of Q, K and V), whose
    contents are not read, and the results have their types.

    `fa::buildAttentionBackward` (fa/Dialect/FA/IR/FAOps.h) builds the
    backward op of a forward op that returns its LSE, with the same
    attributes, captures and regions.

    ```mlir
    %dq, %dk, %dv = fa.attention_backward
        ins(%q, %k, %v, %o, %do, %lse
            : tensor<2x8x1024x128xbf16>, tensor<2x2x1024x128xbf16>,
              tensor<2x2x1024x128xbf16>, tensor<2x8x1024x128xbf16>,
              tensor<2x8x1024x128xbf16>, tensor<2x8x1024xf32>)
        outs(%dq0, %dk0, %dv0 : tensor<2x8x1024x128xbf16>,
             tensor<2x2x1024x128xbf16>, tensor<2x2x1024x128xbf16>)
        causal = <bottom_right>
        -> tensor<2x8x1024x128xbf16>, tensor<2x2x1024x128xbf16>,
           tensor<2x2x1024x128xbf16>
    ```

    `fa-tile-attention-backward` tiles the op (delta, then dK and dV with
    key/value tiles outer, then dQ), `fa-lower-to-cpu` runs it on the CPU;
    there is no GPU strategy yet (`fa-lower-to-gpu` refuses it). The
    derivative of `score_mod` covers arith add/sub/mul/div/neg/min/max/
    select/extf/truncf, math fma/abs/sqrt/rsqrt/exp/exp2/expm1/log/log2/
    log1p/tanh/sin/cos/sinh/cosh and `scf.if`; a region that applies
    anything else to a value depending on the score (a float-to-integer
    conversion, rounding, `math.powf`, ...) is refused with an error that
    names the op. Index arithmetic and captures need no derivative.
  }];

  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    AnyRankedTensor:$output,
    AnyRankedTensor:$grad_output,
    AnyRankedTensor:$lse,
    AnyRankedTensor:$grad_query_init,
    AnyRankedTensor:$grad_key_init,
    AnyRankedTensor:$grad_value_init,
    Variadic<AnyRankedTensor>:$captures,
    OptionalAttr<F32Attr>:$scale,
    OptionalAttr<FA_CausalAlignmentAttr>:$causal
  );
  let results = (outs
    AnyRankedTensor:$grad_query,
    AnyRankedTensor:$grad_key,
    AnyRankedTensor:$grad_value
  );
  let regions = (region MaxSizedRegion<1>:$score_mod,
                        MaxSizedRegion<1>:$mask_mod);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `,` $output `,` $grad_output `,`
              $lse `:` type($query) `,` type($key) `,` type($value) `,`
              type($output) `,` type($grad_output) `,` type($lse) `)`
    `outs` `(` $grad_query_init `,` $grad_key_init `,` $grad_value_init `:`
               type($grad_query_init) `,` type($grad_key_init) `,`
               type($grad_value_init) `)`
    (`captures` `(` $captures^ `:` type($captures) `)`)?
    (`scale` `=` $scale^)?
    (`causal` `=` $causal^)?
    (`score_mod` $score_mod^)?
    (`mask_mod` $mask_mod^)?
    attr-dict `->` type(results)
  }];

  let extraClassDeclaration = [{
    /// The softmax scale in effect: the `scale` attribute, or 1/sqrt(D).
    double getEffectiveScale();
    bool isCausal() { return getCausal().has_value(); }
    bool hasScoreMod() { return !getScoreMod().empty(); }
    bool hasMaskMod() { return !getMaskMod().empty(); }
  }];

  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def FA_YieldOp : FA_Op<"yield", [Pure, Terminator,
    ParentOneOf<["AttentionOp", "AttentionBackwardOp"]>]> {
  let summary = "Yields the value of a score_mod or mask_mod region";
  let description = [{
    Terminates the `score_mod` region of `fa.attention` and
    `fa.attention_backward` with the modified score (`f32`) and the
    `mask_mod` region with the keep flag (`i1`).
  }];
  let arguments = (ins AnyType:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

def FA_TensorMapOp : FA_Op<"tensor_map", [Pure]> {
  let summary = "The TMA tensor map of a buffer, for a kernel that takes "
                "it by value";
  let description = [{
    The host address of a 128-byte `CUtensorMap` describing `source` (f16,
    bf16 or f32) for TMA: the buffer's sizes and strides innermost first,
    the box `box` (innermost first, in elements, at most 128 bytes a row),
    the 128-byte swizzle, zero fill out of bounds and 256-byte L2
    promotion. `fa-lower-to-gpu strategy=hopper-ws` creates one per TMA
    operand (the forward's Q, K and V; the backward's f32 dQ accumulator,
    which its fused kernel adds to with tensor reductions) next to the
    `gpu.launch_func` of its kernel, which takes the 128 bytes by value (a
    `.param .align 64 .b8 [128]` kernel parameter; see
    `fa-lower-tensor-map-arguments`).

    The runtimes (fa-runner, the Python package) build the maps themselves
    from the launch JSON's `tensor_maps` with `cuTensorMapEncodeTiled` and
    put their addresses in the kernel-parameter array. The op has no
    lowering: an embedder that lowers the host code does the same, since
    upstream's `gpu-to-llvm` would pass the pointer itself (it fails on
    this op rather than miscompiling).

    ```mlir
    %map = fa.tensor_map %k box [64, 128, 1, 1]
        : memref<2x2x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>> -> !llvm.ptr
    ```
  }];
  let arguments = (ins AnyStridedMemRef:$source, DenseI64ArrayAttr:$box);
  let results = (outs AnyType:$map);
  let assemblyFormat =
      "$source `box` $box attr-dict `:` type($source) `->` type($map)";
  let hasVerifier = 1;
}

def FA_SplitCountOp : FA_Op<"split_count", [Pure]> {
  let summary = "How many parts the key range of each tile is split into, "
                "chosen when the kernel is launched";
  let description = [{
    The number of splits of a split-KV attention tile (flash-decoding;
    `fa-tile-attention split-kv=auto`): when the `tiles` independent
    (batch, head, query tile) tiles do not fill the device, the `blocks`
    key blocks of each tile are shared among that many blocks of the
    kernel, whose partial results a combine step merges.

    The value is the launcher's: the runtimes evaluate the rule of
    `include/fa/Runtime/KVSplits.h` (`chooseKVSplits`) with the number of
    the kernel's blocks the device runs at once, and size the partial
    buffers (whose first dimension the kernels read) accordingly; the
    launch metadata names the rule. It is in `[1, max(1, min(max_splits,
    blocks))]`. The result of the attention depends on it only through
    floating-point rounding. The CPU lowering (`fa-lower-to-cpu`)
    evaluates the same rule with the `slots` of its options.

    ```mlir
    %splits = fa.split_count %tiles, %blocks max = 128
    ```
  }];
  let arguments = (ins Index:$tiles, Index:$blocks,
                       ConfinedAttr<I64Attr, [IntMinValue<1>]>:$max_splits);
  let results = (outs Index:$splits);
  let assemblyFormat = "$tiles `,` $blocks `max` `=` $max_splits attr-dict";
}

def FA_PagedRowsOp : FA_Op<"paged_rows", [Pure]> {
  let summary = "Rows of one sequence's keys or values in a paged cache";
  let description = [{
    Rows `[start, start + count)` of sequence `sequence`'s keys (or values)
    at head `head` of a paged cache `[num_pages, page_size, H, D]`: row `r`
    of the result is

    ```
    cache[block_table[sequence, (start + r) / page_size],
          (start + r) % page_size, head, :]
    ```

    `fa-tile-attention` reads the key/value blocks of a paged attention
    (`fa.attention ... paged(...)`) through this op; the GPU strategies
    turn it into copies that look each page up in the block table, and the
    CPU pipeline expands it into a `tensor.generate`
    (`fa-expand-paged-rows`). Only the table entries of the rows read are
    accessed; a page id outside the cache is undefined behaviour.

    ```mlir
    %k_tile = fa.paged_rows %k_cache[%b, %h] pages(%block_table)
        rows(%start, %count)
        : tensor<?x16x8x128xbf16>, tensor<?x?xi32> -> tensor<?x128xbf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$cache, AnyRankedTensor:$block_table,
                       Index:$sequence, Index:$head, Index:$start,
                       Index:$count);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $cache `[` $sequence `,` $head `]` `pages` `(` $block_table `)`
    `rows` `(` $start `,` $count `)` attr-dict
    `:` type($cache) `,` type($block_table) `->` type($result)
  }];
  let extraClassDeclaration = [{
    int64_t getPageSize() { return getCache().getType().getDimSize(1); }
  }];
  let hasVerifier = 1;
}

#endif // FA_DIALECT_FA_IR_FAOPS_TD
