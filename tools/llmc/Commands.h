//===- Commands.h - llmc subcommands ----------------------------*- C++ -*-===//
#ifndef LLMC_TOOLS_COMMANDS_H
#define LLMC_TOOLS_COMMANDS_H

#include "llvm/Support/CommandLine.h"

namespace llmc::tool {
extern llvm::cl::SubCommand compileCmd;
extern llvm::cl::SubCommand runCmd;
extern llvm::cl::SubCommand perplexityCmd;
extern llvm::cl::SubCommand serveCmd;
int runCompile();
int runRun();
int runPerplexity();
int runServe();
} // namespace llmc::tool

#endif
