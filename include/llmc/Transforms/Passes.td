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
    decoders). The Concat becomes `llm.kv_cache_append`, and the argument
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

#endif
