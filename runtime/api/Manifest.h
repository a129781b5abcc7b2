//===- Manifest.h - the generated library's interface description -*- C++ -*-===//
#ifndef LLMC_RUNTIME_MANIFEST_H
#define LLMC_RUNTIME_MANIFEST_H

#include "llmc/llmc.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmc::rt {

struct TensorSpec {
  std::string name;
  llmc_dtype dtype;
  size_t elementSize;
  std::vector<std::string> dims; // "576", "sequence_length", "p + s", "?"
};

struct CacheSpec {
  TensorSpec tensor;
  std::string outputName;
  int64_t axis;
};

/// The batch-step entry (`llmc_step`, see llmc-batch-step): its inputs in
/// call order; `kvPool[i]` is the cache slot input i holds, or -1.
struct StepSpec {
  std::vector<TensorSpec> inputs, outputs;
  std::vector<int64_t> kvPool;
};

struct Manifest {
  std::vector<TensorSpec> inputs, outputs;
  std::vector<CacheSpec> cache;
  std::optional<StepSpec> step;
  /// Parses the JSON the compiler embedded; returns an error message or "".
  std::string parse(const char *json);
};

/// Evaluates a symbolic dim ("2*s + p") under `bindings`; nullopt if a
/// symbol is unbound or the text is malformed.
std::optional<int64_t> evalDim(const std::string &expr,
                               const std::map<std::string, int64_t> &bindings);
/// Symbols of a dim expression that consists of exactly one symbol.
std::optional<std::string> singleSymbol(const std::string &expr);

} // namespace llmc::rt

#endif
