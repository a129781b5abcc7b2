//===- Emitter.h - LLVM dialect module to object / shared library -*- C++ -*-===//
#ifndef LLMC_CODEGEN_EMITTER_H
#define LLMC_CODEGEN_EMITTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

#include <string>

namespace llmc {

struct TargetOptions {
  std::string triple;     // empty: the host's
  std::string cpu = "host"; // "host" resolves to the host CPU
  std::string features;   // extra "+avx2,..." (empty: CPU defaults)
  int optLevel = 3;
};

/// Translates the LLVM-dialect module and writes textual LLVM IR.
mlir::LogicalResult emitLLVMIR(mlir::ModuleOp module, const TargetOptions &t,
                               const std::string &path);
/// Translates, optimizes and writes an ELF object file.
mlir::LogicalResult emitObject(mlir::ModuleOp module, const TargetOptions &t,
                               const std::string &path);

struct LinkOptions {
  std::string output;        // .so path
  std::string tokenizerPath; // tokenizer.json to embed ("" = none)
  std::string runtimeLibrary; // libllmc_runtime.a ("" = find it)
  std::string workDir;       // temporary directory ("" = make one)
  bool keepWorkDir = false;
};

/// Writes the weights object (blobs recorded by llmc-externalize-weights,
/// the manifest and the tokenizer) and links model object + weights +
/// runtime into a shared library.
mlir::LogicalResult linkSharedLibrary(mlir::ModuleOp module,
                                      const std::string &modelObject,
                                      const LinkOptions &opts);

} // namespace llmc

#endif
