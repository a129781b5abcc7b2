//===- ONNXDialect.h - the onnx import dialect ------------------*- C++ -*-===//
#ifndef LLMC_DIALECT_ONNX_ONNXDIALECT_H
#define LLMC_DIALECT_ONNX_ONNXDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llmc/Dialect/ONNX/ONNXOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "llmc/Dialect/ONNX/ONNXOps.h.inc"

#endif
