//===- llmc.cpp - the llmc command-line driver ----------------------------===//
//
//   llmc compile model.onnx -o model.so [--emit=...] [--print-ir-after-all]
//   llmc run model.so --prompt "..." [-n N] [--temperature T] ...
//   llmc perplexity model.so --text FILE [--ctx 512]
//   llmc serve model.so [--port N]
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "llmc/llmc.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // The LLVM libraries register hundreds of backend options (--amdgpu-...,
  // --x86-...) in the top-level command; `llmc --help` should list the
  // subcommands, not those. Hidden options are still accepted.
  llvm::cl::HideUnrelatedOptions(llvm::ArrayRef<const llvm::cl::OptionCategory *>{},
                                 llvm::cl::SubCommand::getTopLevel());
  // Without this, --version prints LLVM's version as if it were llmc's.
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "llmc " << LLMC_VERSION << " (generated libraries: C API ABI version "
       << LLMC_ABI_VERSION << ")\n  built with LLVM/MLIR " << LLVM_VERSION_STRING << "\n";
  });
  llvm::cl::ParseCommandLineOptions(
      argc, argv,
      "llmc: ahead-of-time compiler for ONNX language models\n\n"
      "  llmc compile model.onnx -o model.so   compile to a shared library\n"
      "  llmc run model.so --prompt TEXT       generate text with it\n"
      "  llmc perplexity model.so --text FILE  measure perplexity (llama.cpp's method)\n"
      "  llmc serve model.so --port N          OpenAI-compatible HTTP server\n");
  if (llmc::tool::compileCmd)
    return llmc::tool::runCompile();
  if (llmc::tool::runCmd)
    return llmc::tool::runRun();
  if (llmc::tool::perplexityCmd)
    return llmc::tool::runPerplexity();
  if (llmc::tool::serveCmd)
    return llmc::tool::runServe();
  llvm::errs() << "llmc: no command given (try `llmc --help`)\n";
  return 2;
}
