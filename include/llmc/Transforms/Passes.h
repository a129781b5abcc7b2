//===- Passes.h - llmc graph passes -----------------------------*- C++ -*-===//
#ifndef LLMC_TRANSFORMS_PASSES_H
#define LLMC_TRANSFORMS_PASSES_H

#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace llmc {

#define GEN_PASS_DECL
#include "llmc/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "llmc/Transforms/Passes.h.inc"

} // namespace llmc

#endif
