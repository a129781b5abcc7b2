//===- Passes.td - llmc lowering passes --------------------*- tablegen -*-===//
#ifndef LLMC_CONVERSION_PASSES
#define LLMC_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def ConvertONNXToLinalg : Pass<"llmc-convert-onnx-to-linalg", "mlir::ModuleOp"> {
  let summary = "Lower the remaining onnx ops to linalg, tensor and arith";
  let description = [{
    The generic path: every onnx op that no raising pattern claimed becomes
    linalg.generic / tensor ops on tensors with dynamic dims read at run time.
    Fails with the op's location if an op or element type is unsupported.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect", "mlir::math::MathDialect",
                           "mlir::cf::ControlFlowDialect"];
}

def ConvertLLMToLinalg : Pass<"llmc-convert-llm-to-linalg", "mlir::ModuleOp"> {
  let summary = "Lower llm ops to runtime kernel calls or linalg";
  let description = [{
    llm.linear and llm.attention on f32 become calls to the runtime's
    micro-kernels (`llmc_rt_*`, see runtime/kernels) on buffers made explicit
    with bufferization.to_buffer / to_tensor; the other llm ops get a
    linalg reference lowering. `use-kernels=false` lowers everything to
    linalg (used to cross-check the kernels).
  }];
  let options = [
    Option<"useKernels", "use-kernels", "bool", /*default=*/"true",
           "Call runtime micro-kernels for linear and attention">
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect", "mlir::math::MathDialect",
                           "mlir::func::FuncDialect", "mlir::memref::MemRefDialect",
                           "mlir::bufferization::BufferizationDialect",
                           "llmc::onnx::ONNXDialect"];
}

def LowerFunctionABI : Pass<"llmc-lower-function-abi", "mlir::ModuleOp"> {
  let summary = "Give @main the memref calling convention of generated libraries";
  let description = [{
    Rewrites `func.func @main(tensors) -> tensors` into
    `func.func @llmc_main(memref inputs..., memref outputs...)` with the C
    interface: inputs are read through bufferization.to_tensor, results are
    written into caller-provided buffers with materialize_in_destination.
    KV-cache slots (arguments marked `llmc.cache_slot`) become strided views
    into the runtime's cache buffers and `llm.kv_cache_append` writes the new
    entries in place; their `present` results are dropped from the signature.
    The interface (names, dtypes, symbolic dims, cache slots) is recorded as a
    JSON manifest in the module attribute `llmc.manifest`.
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect", "mlir::bufferization::BufferizationDialect",
                           "mlir::func::FuncDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def ExternalizeWeights : Pass<"llmc-externalize-weights", "mlir::ModuleOp"> {
  let summary = "Turn blob-initialized memref.globals into external symbols";
  let description = [{
    After bufferization, large constants are `memref.global`s initialized
    from `dense_resource` blobs. This pass drops their initializers (making
    them external declarations, so the LLVM module never holds weight bytes)
    and records symbol name, size and alignment in `llmc.weights`; the driver
    writes the bytes into the weights object linked into the library.
  }];
}

def OutlineLoopNests : Pass<"llmc-outline-loop-nests", "mlir::ModuleOp"> {
  let summary = "Move the body of each top-level scf.for into its own function";
  let description = [{
    A whole model lowers to one function with hundreds of loop nests; LLVM's
    backend (loop strength reduction, register allocation) is superlinear in
    function size, so compile time explodes. Outlining each top-level loop
    body into a private `llmc_loop_N` function keeps every function small;
    the emitter marks them noinline. The per-iteration call costs far less
    than the loop body it runs.
  }];
  let dependentDialects = ["mlir::func::FuncDialect"];
}

#endif
