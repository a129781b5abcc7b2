//===- SparsityOption.h - parsing `llmc compile --sparsity=...` -*- C++ -*-===//
#ifndef LLMC_TOOLS_SPARSITYOPTION_H
#define LLMC_TOOLS_SPARSITYOPTION_H

#include "llmc/Codegen/Pipeline.h"

#include "llvm/ADT/StringRef.h"

#include <string>

namespace llmc::tool {

/// Parses `2:4|unstructured[=S][,method=magnitude|wanda][,norm-gain=folded|raw]`
/// `[,dense-kernels]` into `opts` (sparsityPattern, sparsity, pruneMethod,
/// pruneNormGain, sparseKernels).
/// Returns "" or a message for the user.
std::string parseSparsityOption(llvm::StringRef spec, PipelineOptions &opts);

} // namespace llmc::tool

#endif
