//===- Calibrate.h - calibration statistics for `llmc compile` --*- C++ -*-===//
#ifndef LLMC_TOOLS_CALIBRATE_H
#define LLMC_TOOLS_CALIBRATE_H

#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace llmc::tool {

struct CalibrationRequest {
  std::string model;                    ///< the .onnx being compiled
  std::vector<std::string> compileArgs; ///< options the instrumented compile shares with the real one
  std::string textFile;                 ///< calibration text (plain)
  int chunks = 32, ctx = 256;           ///< token chunks run, each from an empty KV cache
  std::string statsPath;                ///< where the statistics go
  bool keepTemps = false;
};

/// Compiles an instrumented f32 library of the model (this executable,
/// `compile --instrument-linears`) into a temporary directory, runs it on
/// the calibration text and writes the per-linear input statistics
/// (include/llmc/CalibrationStats.h) to `statsPath`. Prints progress and
/// timings to stderr. Returns 0 or an exit code.
int collectCalibrationStats(const CalibrationRequest &req);

/// Prints the JSON report of llmc-quantize-weights (one line per tensor and
/// a total) to `os`; false if it cannot be read.
bool printQuantizeReport(const std::string &jsonPath, llvm::raw_ostream &os);

} // namespace llmc::tool

#endif
