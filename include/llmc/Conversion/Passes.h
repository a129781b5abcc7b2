//===- Passes.h - llmc lowering passes --------------------------*- C++ -*-===//
#ifndef LLMC_CONVERSION_PASSES_H
#define LLMC_CONVERSION_PASSES_H

#include "llmc/Dialect/ONNX/ONNXDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace llmc {

#define GEN_PASS_DECL
#include "llmc/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "llmc/Conversion/Passes.h.inc"

} // namespace llmc

#endif
