//===- Passes.td - Passes of the fa dialect ----------------*- tablegen -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_TRANSFORMS_PASSES_TD
#define FA_DIALECT_FA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def FATileAttention : Pass<"fa-tile-attention", "func::FuncOp"> {
  let summary = "Tile fa.attention into query tiles and key/value blocks, "
                "with an exact three-pass softmax";
  let description = [{
    Rewrites every `fa.attention` into an `scf.forall` over
    `(batch, query head, query tile of block-m rows)` whose body computes one
    output tile with the whole head dimension resident. Inside, three serial
    `scf.for` loops walk the key/value sequence in blocks of `block-n`:

    1. `fa.softmax_stage = "row_max"`: the row maximum of the masked, scaled
       scores `S = scale * Q K^T`;
    2. `fa.softmax_stage = "row_sum"`: `l = sum_j exp(S - m)`;
    3. `fa.softmax_stage = "weighted_values"`: `O = sum_j exp(S - m) / l * V`.

    Each loop recomputes its block of scores, so the softmax is exact and
    unfused: this IR is correct on its own and is the input that
    `fa-fuse-online-softmax` rewrites. The `scores` body computes each
    element with its global indices (`row = first row + linalg.index 0`,
    `col = block start + linalg.index 1`, batch and query head from the
    forall): the scale, then a clone of the op's `score_mod` region, then,
    when anything masks, `select(visible, score, -inf)` with `visible` the
    causal bound and a clone of `mask_mod` (captures are read where they
    are, outside the forall). Tails (a sequence length that is not a
    multiple of a block) are dynamic-size tiles, never padded reads. With a
    causal mask the key loop stops after the last block a tile can see.
    Grouped-query heads read key/value head `h / (Hq / Hkv)`.

    With `split-kv` (flash-decoding, for problems whose tiles do not fill
    the GPU: one query token against a long cache) the forall runs over
    `(split, batch, query head, query tile)`: part `s` of `S` walks key
    blocks `[s * c, (s + 1) * c)` with `c = ceildiv(ceildiv(Nk, block-n),
    S)` (clipped to what the tile sees) and writes its normalized output
    and LSE, in f32, to partial tensors `[S, B, Hq, Nq, Dv]` and `[S, B, Hq,
    Nq]`. A second forall over `(batch, query head, query tile)`, marked
    `fa.split_combine`, merges them: `M = max_s lse_s`, `w_s = exp(lse_s -
    M)`, `O = sum_s w_s O_s / sum_s w_s`, `LSE = M + log sum_s w_s` (a row
    that saw no key stays 0 and -inf). `S` is a constant (`split-kv=N`) or
    `fa.split_count` (`split-kv=auto`), which the launcher evaluates.

    With `pack-gqa` (grouped-query attention with short queries, e.g.
    decoding) and `G = Hq / Hkv > 1` the forall runs over key/value heads,
    and a tile holds the `G` query heads of its group at `P = block-m / G`
    positions, so that they share every K and V block it loads. The Q tile
    is the slice `[b, h * G : h * G + G, first : first + n, :]` (with
    `n = min(P, Nq - first)`) collapsed to `G * n` head-major rows; the
    `scores` body reads the query head `h * G + r / n` and position
    `first + r % n` of row `r`; the output and LSE tiles are expanded back
    into `[G, n, ...]` slices (the partial tensors too when split). The
    head counts must be static and `G <= block-m`.

    A variable-length attention (`varlen(cu_q, cu_k) max_seqlen_q = m`,
    packed `[T, H, D]` operands) tiles over `(dim(cu_q) - 1, Hq,
    ceildiv(m, block-m))`: sequence `b`'s tile reads `cu_q[b]`, `cu_q[b+1]`
    (and the same of `cu_k`), takes `max(min(block-m, nq - first), 0)`
    rows at packed row `cu_q[b] + first`, its keys at `cu_k[b] + j`, masks
    with the sequence's own lengths and writes O at `[cu_q[b] + first, h,
    0]` and the LSE at `[h, cu_q[b] + first]` (docs/Varlen.md). With
    pack-gqa the forall is `(dim(cu_q) - 1, Hkv, ceildiv(m, block-m / G))`
    and the Q slice `[n, G, D]` of the packed tokens is transposed to
    `[G, n, D]` before the head-major collapse (the output transposed
    back). Not with split-kv (an error).

    A paged attention (`paged(block_table, cache_seqlens)`, K and V pools
    `[num_pages, page_size, Hkv, D]`) tiles as a fixed-length one; each tile
    reads its sequence's key count `cache_seqlens[b]` (which bounds its key
    loop and, bottom-right, aligns its causal mask) and reads each key
    block through the block table with `fa.paged_rows` (docs/PagedKV.md).
    With pack-gqa; not with split-kv (an error). Without an explicit
    block-n, a paged tile keeps the default block where it holds whole
    pages or fits in one, and takes 32 keys otherwise.

    The linalg ops carry an `fa.role` attribute (`scores`, `probabilities`,
    `weighted_values`, ...), the loops an `fa.softmax_stage` attribute and
    the forall `fa.attention_tile = {block_m, block_n}` (and a GPU block
    mapping of its dimensions): the contract with the later passes, which
    the fa dialect verifies against the IR (an attribute whose block sizes
    disagree with the loops is an error).
  }];
  let options = [
    Option<"blockM", "block-m", "int64_t", /*default=*/"0",
           "query rows per output tile (0: 128; 192 for hopper-ws plain "
           "attention at D = 64; a split tile 16; with pack-gqa at least "
           "the group)">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"0",
           "keys per key/value block of the serial loop (0: by head "
           "dimension, 64 up to D = 64, 48 up to D = 128, else 32; a "
           "split tile 64 up to D = 128)">,
    Option<"defaultsFor", "defaults-for", "std::string",
           /*default=*/"\"mma-sync\"",
           "the strategy whose default tile sizes replace 0: mma-sync, "
           "hopper-ws (128 x 128 up to D = 128, 128 x 64 beyond; 192 x 128 "
           "at D = 64 without a causal mask, score_mod, mask_mod or "
           "variable lengths), or auto "
           "(hopper-ws's for the ops fa-lower-to-gpu strategy=auto builds "
           "with wgmma on sm_90a: f16 or bf16, D == Dv in {64, 128, 192, "
           "256}; mma-sync's for the others; for sm_90a only)">,
    Option<"splitKV", "split-kv", "std::string", /*default=*/"\"none\"",
           "split each tile's key range among several blocks: none, auto "
           "(the launcher chooses, fa.split_count) or a count in [1, 128]">,
    Option<"packGQA", "pack-gqa", "bool", /*default=*/"false",
           "pack the query heads of each key/value group into one tile "
           "(block-m / G positions each); needs static head counts">
  ];
  let dependentDialects = [
    "::mlir::fa::FADialect",
    "::mlir::arith::ArithDialect", "::mlir::cf::ControlFlowDialect",
    "::mlir::gpu::GPUDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

def FAFuseOnlineSoftmax : Pass<"fa-fuse-online-softmax", "func::FuncOp"> {
  let summary = "Fuse the three softmax loops of a tiled attention into one "
                "online-softmax loop";
  let description = [{
    Finds the `row_max`, `row_sum` and `weighted_values` loops produced by
    `fa-tile-attention` and replaces them with one loop over the key/value
    blocks that carries, per query row, the running maximum `m` and sum `l`
    (f32) and the unnormalized output accumulator. Per block:

    ```
    s2    = (scale * log2(e)) * Q K^T          (masked: -inf)
    m_new = max(m, rowmax(s2))
    alpha = exp2(m - m_new)                    (rescales the old state)
    p     = exp2(s2 - m_new)
    l     = alpha * l + rowsum(p)
    acc   = alpha * acc + p V
    ```

    `scale * log2(e)` is folded into the scores so the loop uses only `exp2`;
    `m` lives in the log2 domain and is converted back (`m * ln 2`) where the
    natural-log maximum is used, e.g. by the log-sum-exp `m + log(l)`. After
    the loop `O = acc / l`. A row that sees no key keeps `m = -inf`, `l = 0`,
    and yields `O = 0` (never NaN).

    The pattern checks what it rewrites: the three loops must compute the
    same scores (compared as dataflow graphs, so canonicalization between
    the passes does not matter) and every other body must be the one the
    tiling builds. The modified score is multiplied by log2(e) after the
    `score_mod` and before the final `select(visible, s, -inf)`, folded
    into a constant multiplication that produces it (the scale, or the
    last factor of a softcap). Loops it does not recognise are left unfused
    with a warning that says why (the CPU lowering runs them unfused), or,
    with `require-fused` (the GPU compile pipeline, whose strategies build
    fused tiles only), with an error that says why.
  }];
  let options = [
    Option<"requireFused", "require-fused", "bool", /*default=*/"false",
           "a tile left unfused is an error, not a warning (the GPU "
           "pipelines: no strategy builds an unfused tile)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def FATileAttentionBackward
    : Pass<"fa-tile-attention-backward", "func::FuncOp"> {
  let summary = "Tile fa.attention_backward: delta, then dK/dV with key/value "
                "blocks outer, then dQ";
  let description = [{
    Rewrites every `fa.attention_backward` into three `scf.forall` ops, each
    marked `fa.attention_backward_tile = {stage, block_m, block_n}`:

    1. `stage = "delta"`, over `(batch, query head, query tile of block-m
       rows)`: `delta[i] = sum_d dO[i, d] * O[i, d]` in f32 (role `delta`),
       into a `[B, Hq, Nq]` f32 tensor.
    2. `stage = "key_value"`, over `(batch, key/value head, key tile of
       block-n keys)`: the tile's dK and dV stay in f32 accumulators while a
       loop over the query heads that share the key/value head
       (`fa.backward_loop = "query_heads"`, grouped-query attention) and, in
       it, a loop over query blocks of block-m rows (`"query_blocks"`)
       stream Q, dO, LSE and delta. Per block: `S = Q K^T`, the `scores`
       op (scale, score_mod, masks, as in `fa-tile-attention`, plus
       `d score_mod / d score` as a second result when there is a
       score_mod), `P = exp(s - LSE)` recomputed (0 where LSE is -inf),
       `dV += P^T dO`, `dP = dO V^T`, `dS = P (dP - delta) d score_mod / d
       score`, `dK += dS^T Q`. After the loops `dK = scale * dK` and both
       are stored in the element type. With a causal mask the query loop
       starts at the first row that sees the tile's first key.
    3. `stage = "query"`, over `(batch, query head, query tile)`: the dQ of
       the tile in an f32 accumulator over a loop of key blocks
       (`"key_blocks"`, stopping after the last block a causal tile sees)
       that recomputes `S`, `P`, `dP` and `dS` as above and adds `dS K`;
       then `dQ = scale * dQ`. This stage is deterministic: each dQ tile is
       summed by one iteration, in key order. (A GPU strategy may instead
       add dQ from the key/value stage with atomics, reading the same IR.)

    With `dq=accumulate` the key_value and query stages are one stage,
    `stage = "fused"`, over `(batch, key/value head)`: a serial loop over
    the key tiles (`fa.backward_loop = "key_tiles"`, steps of block-n)
    computes each tile's dK and dV as above and also adds `dS K` to an f32
    accumulator of the group's dQ (`[G, Nq, D]`), so that S, P, dP and dS
    are computed once; then `dQ = scale * dQ`. The loop's iterations
    depend on each other only through that sum, in key order on the CPU; a
    GPU strategy runs them in parallel with atomic f32 adds (the FlashAttention
    schedule), or in order where determinism is asked for.

    The derivative of the score_mod is derived from the region
    (fa/Dialect/FA/IR/ScoreModDerivative.h); a region with an op that
    cannot be differentiated is an error that names the op. No gradient
    flows to the captures. Every tile-level op carries its `fa.role`
    (`delta`, `qk`, `scores`, `recomputed_probabilities`,
    `grad_probabilities`, `grad_scores`, `grad_value`, `grad_key`,
    `grad_query`, `scaled_store`, `store`) and is exactly what its builder
    makes, so that later passes can check it (`isCanonicalTileOp`).
  }];
  let options = [
    Option<"dq", "dq", "std::string", /*default=*/"\"stage\"",
           "where dQ is computed: stage (its own deterministic stage), "
           "accumulate (in f32 in the key/value loop, the fused stage) or "
           "auto (with mma-sync's tiles accumulate up to D = 64, else "
           "stage, the faster there on the H200; with hopper-ws's "
           "(defaults-for) accumulate: the wgmma kernel is the fused "
           "stage)">,
    Option<"blockM", "block-m", "int64_t", /*default=*/"0",
           "query rows per query block and per dQ tile (0: 64 up to D = "
           "64, else 32)">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"0",
           "keys per dK/dV tile and per key block of the dQ loop (0: 64 up "
           "to D = 128, else 32; dq=accumulate: 128 up to D = 64)">,
    Option<"queryBlockM", "query-block-m", "int64_t", /*default=*/"0",
           "query rows per tile of the query stage (0: block-m if given, "
           "else 64 up to D = 128, else 32)">,
    Option<"queryBlockN", "query-block-n", "int64_t", /*default=*/"0",
           "keys per block of the query stage (0: block-n if given, else 64 "
           "up to D = 128, else 32)">,
    Option<"defaultsFor", "defaults-for", "std::string",
           /*default=*/"\"mma-sync\"",
           "the strategy whose default tiles replace 0: mma-sync, hopper-ws "
           "(the wgmma fused kernel's: block-m 64, block-n 128 up to D = "
           "128, and dq=auto accumulates there) or auto (hopper-ws's for "
           "f16/bf16 ops with D == Dv <= 128, mma-sync's for the others; "
           "for sm_90a only)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::cf::ControlFlowDialect",
    "::mlir::gpu::GPUDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

def FAResolveSplitCount : Pass<"fa-resolve-split-count", "func::FuncOp"> {
  let summary = "Evaluate fa.split_count for a fixed device";
  let description = [{
    Replaces every `fa.split_count %tiles, %blocks max = M` with index
    arithmetic that evaluates its rule (`chooseKVSplits` in
    `include/fa/Runtime/KVSplits.h`) for `slots` concurrent blocks: 1 when
    the tiles fill the slots, else `min(slots / tiles, blocks, M)` (the
    parts that run in one wave).
    The GPU path leaves the op to the launcher, which knows the device;
    `fa-lower-to-cpu` runs this pass so that the host code it lowers can
    size the partial tensors.
  }];
  let options = [
    Option<"slots", "slots", "int64_t", /*default=*/"132",
           "blocks the device runs at once (e.g. multiprocessors times "
           "resident blocks); at least 1">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def FAExpandPagedRows : Pass<"fa-expand-paged-rows", "func::FuncOp"> {
  let summary = "Expand fa.paged_rows into a tensor.generate that reads "
                "through the block table";
  let description = [{
    Rewrites every `fa.paged_rows` into a `tensor.generate` whose element
    `(r, d)` reads `block_table[b, (start + r) / page_size]` and then
    `cache[page, (start + r) % page_size, h, d]`, for targets without a
    copy engine of their own: `fa-lower-to-cpu` runs it before
    bufferization. The GPU strategies read `fa.paged_rows` itself.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // FA_DIALECT_FA_TRANSFORMS_PASSES_TD
