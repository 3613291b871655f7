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
def FA_AttentionOp : FA_Op<"attention", [Pure]> {
  let summary = "Scaled dot-product attention, softmax(Q K^T * scale) V";
  let description = [{
    Computes, for every batch `b`, query head `h` and query row `i`,

    ```
    s[j]      = scale * sum_d Q[b, h, i, d] * K[b, h / G, j, d]   (masked: -inf)
    O[b,h,i,:] = sum_j softmax(s)[j] * V[b, h / G, j, :]
    LSE[b,h,i] = log(sum_j exp(s[j]))                             (natural log)
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
    - `scale`: the factor applied to `Q K^T`; positive and finite. Absent
      means `1 / sqrt(D)`.
    - `causal`: absent means no mask. Otherwise the causal mask with the
      named alignment (`#fa.causal<top_left>` or `#fa.causal<bottom_right>`).

    A query row that sees no key (possible only with `bottom_right` and
    `Nq > Nk`, or `Nk == 0`) yields an output row of zeros and an LSE of
    `-inf`; never NaN.

    Example:

    ```mlir
    %o, %lse = fa.attention
        ins(%q, %k, %v : tensor<2x8x1024x128xbf16>, tensor<2x2x1024x128xbf16>,
                         tensor<2x2x1024x128xbf16>)
        outs(%o_init, %lse_init : tensor<2x8x1024x128xbf16>,
                                  tensor<2x8x1024xf32>)
        scale = 0.125 causal = <bottom_right>
        -> tensor<2x8x1024x128xbf16>, tensor<2x8x1024xf32>
    ```
  }];

  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    AnyRankedTensor:$output,
    Optional<AnyRankedTensor>:$lse_output,
    OptionalAttr<F32Attr>:$scale,
    OptionalAttr<FA_CausalAlignmentAttr>:$causal
  );
  let results = (outs
    AnyRankedTensor:$result,
    Optional<AnyRankedTensor>:$lse
  );

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:`
              type($query) `,` type($key) `,` type($value) `)`
    `outs` `(` $output (`,` $lse_output^)? `:`
               type($output) (`,` type($lse_output)^)? `)`
    (`scale` `=` $scale^)?
    (`causal` `=` $causal^)?
    attr-dict `->` type(results)
  }];

  let builders = [
    OpBuilder<(ins "Value":$query, "Value":$key, "Value":$value,
                   "Value":$output, "Value":$lseOutput,
                   "std::optional<double>":$scale,
                   "std::optional<CausalAlignment>":$causal)>
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
    bool hasLse() { return static_cast<bool>(getLseOutput()); }
    RankedTensorType getQueryType() { return getQuery().getType(); }
    RankedTensorType getKeyType() { return getKey().getType(); }
    RankedTensorType getValueType() { return getValue().getType(); }
    RankedTensorType getOutputType() { return getOutput().getType(); }
  }];

  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

#endif // FA_DIALECT_FA_IR_FAOPS_TD
