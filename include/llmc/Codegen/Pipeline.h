//===- Pipeline.h - the llmc compilation pipeline ---------------*- C++ -*-===//
#ifndef LLMC_CODEGEN_PIPELINE_H
#define LLMC_CODEGEN_PIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

#include <string>

namespace llmc {

struct PipelineOptions {
  /// Run the raising passes (llm dialect); off = generic lowering only.
  bool raise = true;
  /// Call runtime micro-kernels for llm.linear / llm.attention.
  bool useKernels = true;
};

/// onnx dialect -> llm dialect (cleanup plus the raising passes).
void buildRaisingPipeline(mlir::OpPassManager &pm, const PipelineOptions &opts);
/// onnx dialect -> llm dialect -> linalg/tensor with the memref ABI entry.
void buildFrontendPipeline(mlir::OpPassManager &pm, const PipelineOptions &opts);
/// tensors -> buffers -> LLVM dialect (weights externalized).
void buildBackendPipeline(mlir::OpPassManager &pm, const PipelineOptions &opts);
/// Registers `llmc-frontend` and `llmc-backend` pipelines for llmc-opt.
void registerPipelines();

} // namespace llmc

#endif
