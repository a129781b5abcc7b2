//===- Awq.h - AWQ: activation-aware per-input scales before quantizing -*- C++ -*-===//
//
// AWQ (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization for LLM
// Compression and Acceleration") protects the weights that multiply large
// activations. For y = x W (W [K, N]) it picks per-input scales s and uses
// y = (x / s) (diag(s) W): the function is unchanged, but the rows of
// inputs with large activations are magnified before rounding, so their
// relative rounding error shrinks. The 1 / s is folded into whatever
// produces x (an RMSNorm gain, the up projection of a SwiGLU), which costs
// nothing at run time; the quantized format and kernels are unchanged.
//
// The search (as in the reference implementation): s_k = a_k^alpha with a_k
// the activation magnitude of input k, clamped to >= 1e-4 and normalized by
// sqrt(max(s) min(s)), for alpha in {0, 1/grid, ..., (grid-1)/grid}; the
// alpha whose round-to-nearest quantization of diag(s) W, scaled back by
// 1 / s, has the least output error wins. alpha = 0 is plain RTN, so the
// chosen scales never do worse than RTN on the objective.
//
// Differences from the reference, forced by the statistics llmc collects
// (include/llmc/CalibrationStats.h holds the Gram matrix H = sum_t x_t x_t^T
// per linear, not the activations):
//   * a_k is the RMS sqrt(H_kk / T), where the reference takes mean |x_k|;
//   * the output error ||X (W_q - W)||^2 is computed from H as
//     sum_n d_n^T H d_n, on `searchColumns` output columns per weight spread
//     evenly over N (all of them if N is smaller), not on a batch of tokens.
// Inputs that never fired (H_kk = 0) keep s_k = 1.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_AWQ_H
#define LLMC_AWQ_H

#include "llmc/QuantLayout.h"

#include <cstdint>
#include <string>
#include <vector>

namespace llmc::awq {

struct Options {
  int grid = 20;                ///< alphas 0, 1/grid, ..., (grid-1)/grid
  int64_t searchColumns = 256;  ///< output columns per weight the search evaluates
  int threads = 0;              ///< 0: all hardware threads
};

/// One weight that reads the scaled input: logical [K, N], row-major (or
/// [N, K] if `transposed`).
struct WeightRef {
  const float *w;
  bool transposed;
  int64_t N;
};

struct Result {
  std::vector<float> scales; ///< s, K values (1 for dead inputs)
  double alpha = 0;          ///< the chosen exponent
  double error = 0;          ///< relative output error of the chosen s, on the searched columns
  double rtnError = 0;       ///< the same for plain RTN (alpha = 0)
};

/// Chooses s for weights that all read the same input (statistics: H, K x K
/// row-major, over `tokens` rows), each to be quantized with `scheme`
/// (groups along K, as include/llmc/QuantLayout.h). Returns "" or an error.
std::string searchScales(const std::vector<WeightRef> &weights, int64_t K, const double *H, int64_t tokens,
                         const quant::Scheme &scheme, const Options &options, Result &out);

/// The activation magnitudes a_k = sqrt(H_kk / tokens) (0 for dead inputs).
std::vector<double> activationRms(const double *H, int64_t K, int64_t tokens);

/// s for one alpha: a^alpha clamped to >= 1e-4 and normalized by
/// sqrt(max * min) over the live inputs; dead inputs (a_k = 0) get 1.
std::vector<float> scalesForAlpha(const std::vector<double> &rms, double alpha);

} // namespace llmc::awq

#endif // LLMC_AWQ_H
