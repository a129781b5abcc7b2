//===- llmc.cpp - the llmc command-line driver ----------------------------===//
//
//   llmc compile model.onnx -o model.so [--emit=...] [--print-ir-after-all]
//   llmc run model.so --prompt "..." [-n N] [--temperature T] ...
//   llmc perplexity model.so --text FILE [--ctx 512]
//   llmc serve model.so [--port N]
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
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
