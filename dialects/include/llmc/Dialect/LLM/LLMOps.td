//===- LLMOps.td - model-level ops of decoder LLMs ---------*- tablegen -*-===//
//
// The `llm` dialect names the building blocks of a decoder-only transformer
// with explicit semantics, so that later passes (fusion, quantization, layout
// specialization) and kernel selection can reason about them. Raising
// patterns (lib/Transforms/Raise*) create these ops from decomposed ONNX
// subgraphs; each op also has a reference lowering to linalg so that every
// op is always executable.
//
//===----------------------------------------------------------------------===//

#ifndef LLMC_DIALECT_LLM_OPS
#define LLMC_DIALECT_LLM_OPS

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def LLM_Dialect : Dialect {
  let name = "llm";
  let summary = "Model-level ops of decoder-only language models.";
  let description = [{
    Tensor-level ops for token embedding, RMSNorm, linear layers, rotary
    position embedding, grouped-query causal attention, SwiGLU and the KV
    cache. Shapes use the convention B = batch, S = new tokens, P = past
    tokens, T = P + S, H = query heads, KVH = key/value heads, D = head size.
  }];
  let cppNamespace = "::llmc::llm";
}

class LLM_Op<string mnemonic, list<Trait> traits = []>
    : Op<LLM_Dialect, mnemonic, traits>;

def LLM_EmbeddingOp : LLM_Op<"embedding", [Pure]> {
  let summary = "Token embedding lookup: out[..., :] = table[ids[...], :].";
  let description = [{
    `table` is [V, E]; `ids` is an integer tensor of any rank; the result has
    shape ids.shape + [E]. Out-of-range ids are clamped (the runtime validates
    token ids before a step).
  }];
  let arguments = (ins AnyRankedTensor:$table, AnyRankedTensor:$ids);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$table `[` $ids `]` attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LLM_RMSNormOp : LLM_Op<"rms_norm", [Pure, SameOperandsAndResultElementType]> {
  let summary = "RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight.";
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                   F32Attr:$epsilon);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LLM_LinearOp : LLM_Op<"linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "y = x @ W (+ bias), with optional fused prologue/epilogues.";
  let description = [{
    `input` is [..., K]; `weight` is [K, N] when `transpose_weight` is false
    and [N, K] when it is true (the Gemm transB / PyTorch nn.Linear layout);
    the optional `bias` is [N]. The result is [..., N].

    Fusion passes attach more work to the same op (see docs/Passes.md):
    - `rms_epsilon`: each input row is first divided by
      sqrt(mean(x^2) + rms_epsilon) (an RMSNorm whose gain was folded into
      the weight's rows by llmc-fuse-rms-norm);
    - `gated`: the weight holds 2N columns, gate then up, and the result is
      silu(x W_gate) * (x W_up) (llmc-fuse-gate-up);
    - `residual` ([..., N]) is added last (llmc-fuse-epilogue).
    With `packed_panel = nr` set (llmc-pack-weights) the weight is a 1-D
    tensor in the blocked layout of include/llmc/PackedLayout.h, f32 or bf16,
    holding panels of nr columns; K and N are then the input's and result's
    last dimensions.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                   Optional<AnyRankedTensor>:$bias,
                   Optional<AnyRankedTensor>:$residual,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_weight,
                   OptionalAttr<F32Attr>:$rms_epsilon,
                   UnitAttr:$gated,
                   OptionalAttr<I64Attr>:$packed_panel);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? (`residual` `(` $residual^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let builders = [
    OpBuilder<(ins "mlir::Type":$result, "mlir::Value":$input, "mlir::Value":$weight,
                   "mlir::Value":$bias, "bool":$transposeWeight), [{
      build($_builder, $_state, result, input, weight, bias, /*residual=*/mlir::Value(),
            transposeWeight, /*rms_epsilon=*/nullptr, /*gated=*/false, /*packed_panel=*/nullptr);
    }]>
  ];
  let extraClassDeclaration = [{
    /// Output columns of the logical weight (2N when gated).
    int64_t getWeightColumns();
    /// True if the weight is stored packed (llmc-pack-weights ran).
    bool isPacked() { return getPackedPanel().has_value(); }
  }];
  let hasVerifier = 1;
}

def LLM_QuantizedLinearOp : LLM_Op<"quantized_linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "llm.linear whose weight is stored quantized (int8 / int4)";
  let description = [{
    Same computation and fused prologue/epilogues as `llm.linear` (see
    there: `rms_epsilon`, `gated`, `bias`, `residual`), with the weight
    stored in the quantized panel layout of include/llmc/QuantLayout.h:
    `codes` (ui8), fp16 `scales` bit patterns (i16) and, for asymmetric
    schemes, `zeros` (ui8); `bits` 8 or 4, `group` K elements per scale
    (0 = one per output column), `panel` columns per panel. The logical
    weight is [K, N] (gated: [K, 2N], gate then up, with N a multiple of
    `panel`). `act_bits = 8`: the input rows are quantized to int8 at run
    time and the dot products are int32 sums; int8 weights (W8A8) take one
    f32 scale per row, int4 weights (W4A8, group 0 or a multiple of 32) one
    per row and block of 32 k (QuantLayout.h, "W8A8", "W4A8"); 0 (the
    default) keeps the activations f32 (weight-only). Made by
    llmc-quantize-weights.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$codes,
                   AnyRankedTensor:$scales, Optional<AnyRankedTensor>:$zeros,
                   Optional<AnyRankedTensor>:$bias, Optional<AnyRankedTensor>:$residual,
                   I64Attr:$bits, I64Attr:$group, I64Attr:$panel,
                   DefaultValuedAttr<BoolAttr, "true">:$symmetric,
                   OptionalAttr<F32Attr>:$rms_epsilon, UnitAttr:$gated,
                   DefaultValuedAttr<I64Attr, "0">:$act_bits);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $codes `,` $scales (`zeros` `(` $zeros^ `)`)? (`bias` `(` $bias^ `)`)?
    (`residual` `(` $residual^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def LLM_SparseLinearOp : LLM_Op<"sparse_linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "llm.linear whose weight is stored pruned (2:4 or unstructured)";
  let description = [{
    Same computation and fused prologue/epilogues as `llm.linear` (see
    there: `rms_epsilon`, `gated`, `bias`, `residual`), with the weight
    stored in a compressed format of include/llmc/SparseLayout.h in panels
    of `panel` columns (gated: gate and up panels interleaved):
    - `format = "2:4"`: `values` (f32, two per block of 4 k) and `indices`
      (i32 metadata words, 2-bit positions); no `starts`;
    - `format = "unstructured"`: `values` (f32) and `indices` (ui8 offsets
      within 256-k chunks), ELLPACK rows per (panel, chunk) whose prefix sums
      are `starts` (i32).
    With `bits = 4` (2:4 only) the kept weights are int4: `values` holds the
    codes (ui8, two per block) and `scales` the fp16 bit patterns (i16) per
    32 k and column (SparseLayout.h, Sparse24Q4).
    The logical weight is [K, N] (gated: gate and up, each [K, N]). Made by
    llmc-pack-sparse-weights from linears pruned by llmc-prune-weights.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$values,
                   AnyRankedTensor:$indices, Optional<AnyRankedTensor>:$starts,
                   Optional<AnyRankedTensor>:$scales,
                   Optional<AnyRankedTensor>:$bias, Optional<AnyRankedTensor>:$residual,
                   StrAttr:$format, I64Attr:$panel, DefaultValuedAttr<I64Attr, "32">:$bits,
                   OptionalAttr<F32Attr>:$rms_epsilon, UnitAttr:$gated);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $values `,` $indices (`starts` `(` $starts^ `)`)? (`scales` `(` $scales^ `)`)?
    (`bias` `(` $bias^ `)`)?
    (`residual` `(` $residual^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def LLM_RotaryOp : LLM_Op<"rotary", [Pure]> {
  let summary = "Rotary position embedding: x * cos + rotate(x) * sin.";
  let description = [{
    `input` is [..., D]; `cos` and `sin` broadcast to it. With
    `interleaved = false` (the "rotate half" / NeoX form) rotate(x) is
    concat(-x[D/2:], x[:D/2]) and cos/sin repeat their D/2 frequencies twice;
    with `interleaved = true` (the GPT-J / llama.cpp form) pairs (2i, 2i+1)
    are rotated: rotate(x)[2i] = -x[2i+1], rotate(x)[2i+1] = x[2i], and
    cos/sin carry each frequency at both positions of its pair.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$cos,
                   AnyRankedTensor:$sin, BoolAttr:$interleaved);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $cos `,` $sin attr-dict `:` functional-type(operands, results)";
}

def LLM_SwiGLUOp : LLM_Op<"swiglu", [Pure, SameOperandsAndResultType]> {
  let summary = "SwiGLU gate: silu(gate) * up = gate * sigmoid(gate) * up.";
  let arguments = (ins AnyRankedTensor:$gate, AnyRankedTensor:$up);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
}

def LLM_AttentionOp : LLM_Op<"attention", [Pure, AttrSizedOperandSegments]> {
  let summary = "Scaled dot-product attention with grouped KV heads.";
  let description = [{
    `query` is [B, H, S, D], `key` and `value` are [B, KVH, T, D] with
    H % KVH == 0 (query head h reads KV head h / (H / KVH)); `mask`, if
    present, is additive and broadcasts to [B, H, S, T]. With `causal` set,
    query i (at absolute position T - S + i) may attend to keys 0..T-S+i
    only. The result is softmax(scale * Q K^T + mask) V, [B, H, S, D].

    With `rope(cos, sin)` (llmc-fuse-rope) the query is rotated first:
    Q = llm.rotary(query, cos, sin) in the form `rope_interleaved` says,
    cos/sin broadcasting to [B, H, S, D]; the keys arrive rotated (their
    `kv_cache_append` carries the same cos/sin).

    With --kv-cache=int8 (llmc-quantize-kv-cache) `key` and `value` are both
    i8 cache rows [B, KVH, T, D + 4]: D symmetric codes and the row's f32
    scale in the last 4 bytes (runtime/kernels/KVQuant.h). With
    --kv-cache=bf16 they are both bf16 [B, KVH, T, D].
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                   AnyRankedTensor:$value, Optional<AnyRankedTensor>:$mask,
                   Optional<AnyRankedTensor>:$cos, Optional<AnyRankedTensor>:$sin,
                   F32Attr:$scale, BoolAttr:$causal,
                   DefaultValuedAttr<BoolAttr, "false">:$rope_interleaved);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`,` $mask^)? (`rope` `(` $cos^ `,` $sin `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let builders = [
    OpBuilder<(ins "mlir::Type":$result, "mlir::Value":$query, "mlir::Value":$key,
                   "mlir::Value":$value, "mlir::Value":$mask, "mlir::FloatAttr":$scale,
                   "mlir::BoolAttr":$causal), [{
      build($_builder, $_state, result, query, key, value, mask, /*cos=*/mlir::Value(),
            /*sin=*/mlir::Value(), scale, causal, $_builder.getBoolAttr(false));
    }]>
  ];
  let hasVerifier = 1;
}

def LLM_KVCacheAppendOp : LLM_Op<"kv_cache_append", [Pure, AttrSizedOperandSegments]> {
  let summary = "Append new keys/values to a cache slot: concat(past, new, axis).";
  let description = [{
    Semantically a concatenation along the sequence axis `axis` of a cache
    slot `past` (a function argument marked `llmc.cache_slot`) and the new
    entries. The function-ABI lowering implements it in place: the runtime
    passes the slot as a view into a buffer with room for the new entries,
    the new entries are written behind the past ones and the result is a
    view of both — no copy of the past. This is the compiler/runtime KV-cache
    contract (see docs/Runtime.md).

    With `rope(cos, sin)` (llmc-fuse-rope) the new entries are rotated as
    they are stored: concat(past, llm.rotary(update, cos, sin)) in the form
    `rope_interleaved` says, cos/sin broadcasting to `update` ([B, KVH, S, D]).

    With --kv-cache=int8 `past` and the result are i8 [B, KVH, T, D + 4]
    (rows of D codes + a f32 scale) and the f32 `update` rows are quantized
    as they are stored. With --kv-cache=bf16 `past` and the result are bf16
    [B, KVH, T, D] and the f32 `update` rows are rounded (to nearest even)
    as they are stored.
  }];
  let arguments = (ins AnyRankedTensor:$past, AnyRankedTensor:$update,
                   Optional<AnyRankedTensor>:$cos, Optional<AnyRankedTensor>:$sin,
                   I64Attr:$axis, I64Attr:$slot,
                   DefaultValuedAttr<BoolAttr, "false">:$rope_interleaved);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $past `,` $update (`rope` `(` $cos^ `,` $sin `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    OpBuilder<(ins "mlir::Type":$result, "mlir::Value":$past, "mlir::Value":$update,
                   "mlir::IntegerAttr":$axis, "mlir::IntegerAttr":$slot), [{
      build($_builder, $_state, result, past, update, /*cos=*/mlir::Value(),
            /*sin=*/mlir::Value(), axis, slot, $_builder.getBoolAttr(false));
    }]>
  ];
  let hasVerifier = 1;
}

def LLM_PagedAttentionOp : LLM_Op<"paged_attention", [AttrSizedOperandSegments]> {
  let summary = "Causal attention of a ragged batch over a paged KV cache (writes the cache).";
  let description = [{
    The batch-step form of `kv_cache_append` + `attention` (made by
    llmc-batch-step). The new tokens of S sequences are concatenated along
    T: `query` is [1, H, T, D], `key` / `value` the new entries
    [1, KVH, T, D]. The cache lives in two pools of fixed-size blocks,
    `key_pool` / `value_pool` [NB, KVH, BS, D]; `block_tables` [S, MB] (i32)
    maps each sequence's logical blocks to pool blocks, sequence s owns the
    new tokens [seq_starts[s], seq_starts[s+1]) (`seq_starts` [S+1], i32)
    and its first new token is at position `seq_positions[s]` ([S], i32).

    First the new keys/values are stored: token t of sequence s at position
    p goes to block block_tables[s][p / BS], row p % BS. Then each token
    attends causally to positions 0..p of its own sequence, read through
    the block table; query head h reads KV head h / (H / KVH). The result is
    [1, H, T, D]. The op writes the pools (runtime memory behind the
    `llmc.kv_pool` arguments), so it has side effects: this is the
    compiler/runtime paged-KV contract (docs/Runtime.md).

    With `rope(cos, sin)` (llmc-fuse-rope, carried over from @main by
    llmc-batch-step) the new keys are rotated as they are stored and the
    queries as they are loaded (llm.rotary in the form `rope_interleaved`
    says); cos/sin broadcast to [1, heads, T, D]: row t is token t's.

    With --kv-cache=int8 the pools are i8 [NB, KVH, BS, D + 4] (rows of D
    codes + a f32 scale); the new rows are quantized as they are stored.
    With --kv-cache=bf16 they are bf16 [NB, KVH, BS, D], the new rows rounded
    to bf16 as they are stored.
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key, AnyRankedTensor:$value,
                   AnyRankedTensor:$key_pool, AnyRankedTensor:$value_pool,
                   AnyRankedTensor:$block_tables, AnyRankedTensor:$seq_starts,
                   AnyRankedTensor:$seq_positions,
                   Optional<AnyRankedTensor>:$cos, Optional<AnyRankedTensor>:$sin,
                   F32Attr:$scale, I64Attr:$key_slot, I64Attr:$value_slot,
                   DefaultValuedAttr<BoolAttr, "false">:$rope_interleaved);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `into` $key_pool `,` $value_pool `tables` $block_tables
    `starts` $seq_starts `positions` $seq_positions (`rope` `(` $cos^ `,` $sin `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let builders = [
    OpBuilder<(ins "mlir::Type":$result, "mlir::Value":$query, "mlir::Value":$key,
                   "mlir::Value":$value, "mlir::Value":$key_pool, "mlir::Value":$value_pool,
                   "mlir::Value":$block_tables, "mlir::Value":$seq_starts,
                   "mlir::Value":$seq_positions, "mlir::FloatAttr":$scale,
                   "mlir::IntegerAttr":$key_slot, "mlir::IntegerAttr":$value_slot), [{
      build($_builder, $_state, result, query, key, value, key_pool, value_pool, block_tables,
            seq_starts, seq_positions, /*cos=*/mlir::Value(), /*sin=*/mlir::Value(), scale,
            key_slot, value_slot, $_builder.getBoolAttr(false));
    }]>
  ];
  let hasVerifier = 1;
}

def LLM_QuantizedEmbeddingOp : LLM_Op<"quantized_embedding", [Pure]> {
  let summary = "Token embedding lookup from a quantized table";
  let description = [{
    `llm.embedding` whose table [V, E] (V = `vocab`) is stored quantized as
    the weight W = table^T ([K = E, N = V]) in the layout of
    include/llmc/QuantLayout.h: `codes` (ui8), fp16 `scales` (i16 bit
    patterns), for asymmetric schemes `zeros` (ui8); groups run along E.
    This is the layout of an LM head over the same vocabulary, so with tied
    embeddings the head's quantized tensors serve both. The result is
    ids.shape + [E]: the dequantized column of each id (ids clamped to
    [0, V - 1]). Made by llmc-quantize-weights (`embedding=int8|int4`).
  }];
  let arguments = (ins AnyRankedTensor:$ids, AnyRankedTensor:$codes, AnyRankedTensor:$scales,
                   Optional<AnyRankedTensor>:$zeros, I64Attr:$vocab, I64Attr:$bits,
                   I64Attr:$group, I64Attr:$panel, DefaultValuedAttr<BoolAttr, "true">:$symmetric);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $codes `,` $scales (`zeros` `(` $zeros^ `)`)? `[` $ids `]` attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def LLM_ObserveOp : LLM_Op<"observe", [MemoryEffects<[MemWrite]>]> {
  let summary = "Hand a linear layer's input to the calibration statistics";
  let description = [{
    Made by llmc-instrument-linears for `llmc compile --calibration`: the
    input [..., K] of quantization candidate linear number `id` (with
    `columns` output columns) goes to the runtime, which accumulates its
    Gram matrix sum_t x_t x_t^T (runtime/api/Calibration.cpp). The op has
    no result and a write effect, so it is kept where it is.
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$id, I64Attr:$columns);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

#endif // LLMC_DIALECT_LLM_OPS
