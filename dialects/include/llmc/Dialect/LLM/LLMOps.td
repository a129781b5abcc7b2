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
    `panel`). Made by llmc-quantize-weights.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$codes,
                   AnyRankedTensor:$scales, Optional<AnyRankedTensor>:$zeros,
                   Optional<AnyRankedTensor>:$bias, Optional<AnyRankedTensor>:$residual,
                   I64Attr:$bits, I64Attr:$group, I64Attr:$panel,
                   DefaultValuedAttr<BoolAttr, "true">:$symmetric,
                   OptionalAttr<F32Attr>:$rms_epsilon, UnitAttr:$gated);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $codes `,` $scales (`zeros` `(` $zeros^ `)`)? (`bias` `(` $bias^ `)`)?
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

def LLM_AttentionOp : LLM_Op<"attention", [Pure]> {
  let summary = "Scaled dot-product attention with grouped KV heads.";
  let description = [{
    `query` is [B, H, S, D], `key` and `value` are [B, KVH, T, D] with
    H % KVH == 0 (query head h reads KV head h / (H / KVH)); `mask`, if
    present, is additive and broadcasts to [B, H, S, T]. With `causal` set,
    query i (at absolute position T - S + i) may attend to keys 0..T-S+i
    only. The result is softmax(scale * Q K^T + mask) V, [B, H, S, D].
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                   AnyRankedTensor:$value, Optional<AnyRankedTensor>:$mask,
                   F32Attr:$scale, BoolAttr:$causal);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$query `,` $key `,` $value (`,` $mask^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LLM_KVCacheAppendOp : LLM_Op<"kv_cache_append", [Pure]> {
  let summary = "Append new keys/values to a cache slot: concat(past, new, axis).";
  let description = [{
    Semantically a concatenation along the sequence axis `axis` of a cache
    slot `past` (a function argument marked `llmc.cache_slot`) and the new
    entries. The function-ABI lowering implements it in place: the runtime
    passes the slot as a view into a buffer with room for the new entries,
    the new entries are written behind the past ones and the result is a
    view of both — no copy of the past. This is the compiler/runtime KV-cache
    contract (see docs/Runtime.md).
  }];
  let arguments = (ins AnyRankedTensor:$past, AnyRankedTensor:$update,
                   I64Attr:$axis, I64Attr:$slot);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$past `,` $update attr-dict `:` functional-type(operands, results)";
}

#endif // LLMC_DIALECT_LLM_OPS
