//===- ONNXDialect.cpp - the onnx import dialect --------------------------===//
#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace llmc::onnx;

#include "llmc/Dialect/ONNX/ONNXOpsDialect.cpp.inc"

void ONNXDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "llmc/Dialect/ONNX/ONNXOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "llmc/Dialect/ONNX/ONNXOps.cpp.inc"
