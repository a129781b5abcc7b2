// Placeholder until the perplexity command lands; replaced by its owner.
#include "Commands.h"
#include "llvm/Support/raw_ostream.h"
namespace llmc::tool {
llvm::cl::SubCommand perplexityCmd("perplexity", "(not yet available)");
int runPerplexity() {
  llvm::errs() << "llmc perplexity: not implemented yet\n";
  return 2;
}
} // namespace llmc::tool
