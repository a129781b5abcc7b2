//===- LLMDialect.h - the llm dialect ---------------------------*- C++ -*-===//
#ifndef LLMC_DIALECT_LLM_LLMDIALECT_H
#define LLMC_DIALECT_LLM_LLMDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

#include "llmc/Dialect/LLM/LLMOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "llmc/Dialect/LLM/LLMOps.h.inc"

#endif
