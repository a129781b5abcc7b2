//===- Commands.h - llmc subcommands ----------------------------*- C++ -*-===//
#ifndef LLMC_TOOLS_COMMANDS_H
#define LLMC_TOOLS_COMMANDS_H

#include "llmc/llmc_loader.h"

#include "llvm/Support/CommandLine.h"

#include <string>

namespace llmc::tool {
extern llvm::cl::SubCommand compileCmd;
extern llvm::cl::SubCommand runCmd;
extern llvm::cl::SubCommand perplexityCmd;
extern llvm::cl::SubCommand serveCmd;
int runCompile();
int runRun();
int runPerplexity();
int runServe();

/// Loads a library made by `llmc compile` (a name without '/' is taken from
/// the current directory) and opens its model; false with `error` set if
/// either fails.
bool loadModel(const std::string &library, llmc_api &api, llmc_model *&model,
               std::string &error);
} // namespace llmc::tool

#endif
