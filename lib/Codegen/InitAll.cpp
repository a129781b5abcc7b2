//===- InitAll.cpp - register llmc's dialects and passes ------------------===//
#include "llmc/InitAll.h"
#include "llmc/Codegen/Pipeline.h"
#include "llmc/Conversion/Passes.h"
#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/Dialect/ONNX/ONNXDialect.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"

void llmc::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<onnx::ONNXDialect, llm::LLMDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
}

void llmc::registerAllPasses() {
  registerLLMCConversionPasses();
  registerLLMCTransformsPasses();
  registerPipelines();
}
