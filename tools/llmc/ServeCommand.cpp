// Placeholder until the serve command lands; replaced by its owner.
#include "Commands.h"
#include "llvm/Support/raw_ostream.h"
namespace llmc::tool {
llvm::cl::SubCommand serveCmd("serve", "(not yet available)");
int runServe() {
  llvm::errs() << "llmc serve: not implemented yet\n";
  return 2;
}
} // namespace llmc::tool
