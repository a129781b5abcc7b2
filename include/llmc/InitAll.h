//===- InitAll.h - register llmc's dialects and passes ----------*- C++ -*-===//
#ifndef LLMC_INITALL_H
#define LLMC_INITALL_H

#include "mlir/IR/DialectRegistry.h"

namespace llmc {
/// Our dialects plus the upstream dialects, extensions and interfaces the
/// pipeline uses.
void registerAllDialects(mlir::DialectRegistry &registry);
/// Our passes and pipelines (upstream passes are registered separately).
void registerAllPasses();
} // namespace llmc

#endif
