//===- SparsityOption.cpp - parsing `llmc compile --sparsity=...` ---------===//
#include "SparsityOption.h"

#include "llvm/ADT/SmallVector.h"

using namespace llvm;

namespace llmc::tool {

std::string parseSparsityOption(StringRef spec, PipelineOptions &opts) {
  const char *expected = "expected 2:4 or unstructured[=FRACTION], method=magnitude|wanda, norm-gain=folded|raw, dense-kernels";
  SmallVector<StringRef> parts;
  spec.split(parts, ',');
  for (StringRef part : parts) {
    auto [key, value] = part.split('=');
    if (part == "2:4" || key == "unstructured") {
      if (!opts.sparsityPattern.empty())
        return "--sparsity names two patterns ('" + opts.sparsityPattern + "' and '" + key.str() + "')";
      opts.sparsityPattern = key.str();
      if (key == "unstructured" && part.contains('=')) {
        double s;
        if (value.getAsDouble(s) || !(s > 0.0 && s < 1.0))
          return "--sparsity unstructured=" + value.str() + ": the fraction must be a number in (0, 1)";
        opts.sparsity = s;
      }
    } else if (key == "norm-gain" && (value == "folded" || value == "raw")) { // default raw
      opts.pruneNormGain = value == "folded";
    } else if (part == "dense-kernels") {
      opts.sparseKernels = false;
    } else if (key == "method" && (value == "magnitude" || value == "wanda")) {
      opts.pruneMethod = value.str();
    } else if (key == "method") {
      return "--sparsity method '" + value.str() + "' is not available (available: magnitude, wanda)";
    } else {
      return "cannot parse --sparsity component '" + part.str() + "' (" + expected + ")";
    }
  }
  if (opts.sparsityPattern.empty())
    return std::string("--sparsity needs a pattern (") + expected + ")";
  return "";
}

} // namespace llmc::tool
