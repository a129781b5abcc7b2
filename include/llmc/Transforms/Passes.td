//===- Passes.td - llmc graph passes (raising) -------------*- tablegen -*-===//
//
// Raising passes recognise the decomposed subgraphs that exporters emit and
// replace them with llm ops. Each checks every constant it relies on and
// leaves the graph alone when a check fails: a pattern that does not fire
// only costs speed, the generic path still computes the right answer.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TRANSFORMS_PASSES
#define LLMC_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def RaiseKVCache : Pass<"llmc-raise-kv-cache", "mlir::ModuleOp"> {
  let summary = "Recognise KV-cache slots: Concat(past input, new) returned as output";
  let description = [{
    A graph input X whose only use is `onnx.Concat(X, new)` along one axis,
    where the Concat result is also returned by @main, is a KV-cache slot
    (the `past_key_values.N.*` / `present.N.*` convention of exported
    decoders) if its length along that axis is symbolic (static concats of
    inputs are ordinary Concats). The Concat becomes `llm.kv_cache_append`, and the argument
    and result are marked `llmc.cache_slot = N` so the ABI lowering can
    update the runtime's cache in place. Inputs with other uses, concats
    along different axes or not returned are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseLinear : Pass<"llmc-raise-linear", "mlir::func::FuncOp"> {
  let summary = "MatMul/Gemm with a constant 2-D weight to llm.linear";
  let description = [{
    `onnx.MatMul(x, W)` with W a constant [K, N] and x of rank >= 2, and
    `onnx.Gemm(x, W, b?)` with alpha = beta = 1, transA = 0 and a constant W
    (either transB), become `llm.linear`. Non-constant right operands,
    rank-1 inputs and scaled Gemms are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseEmbedding : Pass<"llmc-raise-embedding", "mlir::func::FuncOp"> {
  let summary = "Gather of rows of a constant table to llm.embedding";
  let description = [{
    `onnx.Gather(table, ids)` with axis 0, a constant rank-2 float table
    [vocab, dim] and integer ids becomes `llm.embedding`. Gathers along other
    axes, of run-time tensors or of rank != 2 tables are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseRMSNorm : Pass<"llmc-raise-rms-norm", "mlir::func::FuncOp"> {
  let summary = "Decomposed RMSNorm to llm.rms_norm";
  let description = [{
    Matches `w * (x * 1/sqrt(mean(x^2, -1) + eps))` in the forms exporters
    emit: Pow(x, 2) or Mul(x, x); ReduceMean over the last axis with
    keepdims; Add(eps); Sqrt then Reciprocal or Div(1, .), or Div(x, .);
    the weight multiply on either side. The exponent must be exactly 2, the
    reduction exactly the last axis, eps a scalar constant, the weight a
    constant vector of the normalized size — otherwise nothing changes.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseSwiGLU : Pass<"llmc-raise-swiglu", "mlir::func::FuncOp"> {
  let summary = "Mul(Mul(g, Sigmoid(g)), up) to llm.swiglu";
  let description = [{
    SiLU written as `g * Sigmoid(g)` (operands in either order) multiplied
    by `up` with the same shape becomes `llm.swiglu(g, up)`. A Sigmoid of a
    different value than the one it multiplies is left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseRotary : Pass<"llmc-raise-rotary", "mlir::func::FuncOp"> {
  let summary = "Rotate-half RoPE to llm.rotary";
  let description = [{
    Matches `x * cos + Concat(Neg(x[..., D/2:]), x[..., :D/2]) * sin` (the
    rotate-half form) where both Slices cut the last axis of the same x in
    exact halves. Slices of other axes or at other offsets do not match.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseAttention : Pass<"llmc-raise-attention", "mlir::func::FuncOp"> {
  let summary = "MatMul/scale/mask/Softmax/MatMul to llm.attention (with GQA)";
  let description = [{
    Matches `Softmax(scale(MatMul(Q, Transpose(K))) [+ mask], -1) @ V` where
    Q is [B, H, S, D], K^T is a last-two-axes transpose of K, scale is a
    scalar Mul or Div, and K/V may be the repeat_kv expansion
    `Reshape(Expand(Unsqueeze(kv, 2)))` of [B, KVH, T, D] tensors (then the
    un-expanded tensors feed llm.attention directly: grouped-query attention
    without copies). The additive mask is kept as an operand.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

#endif
