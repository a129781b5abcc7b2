//===- ONNXImporter.h - ONNX protobuf to the onnx dialect -------*- C++ -*-===//
#ifndef LLMC_IMPORTER_ONNXIMPORTER_H
#define LLMC_IMPORTER_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <map>
#include <memory>
#include <string>

namespace llmc {

struct ImportOptions {
  /// Values for symbolic graph dims (dim_param names), e.g. batch_size=1.
  std::map<std::string, int64_t> dimValues;
  /// Initializers with more elements than this stay out of the IR's
  /// attribute storage: they become `dense_resource` blobs that point into
  /// the model file's memory (see docs/Compiler.md, "Weights").
  int64_t inlineConstantLimit = 64;
  /// Columns per panel of the llm.quantized_linear ops made from
  /// pre-quantized weights (MatMulNBits, DequantizeLinear -> MatMul);
  /// `llmc compile` sets the width its kernels prefer for --mcpu.
  int64_t quantPanel = 16;
};

/// Owns what the imported module's weight blobs point into (the parsed
/// protobuf and mapped external-data files). Must outlive the module.
struct ImportedModel {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::shared_ptr<void> storage;
};

/// Imports an `.onnx` file (with external data next to it, if any) into a
/// module holding `func.func @main`. Errors are reported through the
/// context's diagnostic engine with the location of the offending node;
/// returns a null module on failure.
ImportedModel importONNXFile(mlir::MLIRContext &ctx, const std::string &path,
                             const ImportOptions &options);

} // namespace llmc

#endif
