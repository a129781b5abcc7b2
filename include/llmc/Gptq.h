//===- Gptq.h - GPTQ: quantization that compensates its own errors -*- C++ -*-===//
//
// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers") quantizes a linear layer y = x W one
// input row k of W at a time and spreads the rounding error of row k over
// the rows not yet quantized, weighted by the inverse of the Gram matrix
// H = sum_t x_t x_t^T of the layer's inputs on calibration text. It
// minimizes ||X (W_q - W)||, the layer's output error, instead of the
// weight error that round-to-nearest minimizes.
//
// This implementation produces the codes, scales and zero points of
// include/llmc/QuantLayout.h (same schemes and grids as quantizeRTN, so the
// same kernels run the result):
//   * H is damped by `dampFraction` * mean(diag H); inputs that were always
//     zero (H_kk == 0) get H_kk = 1 and weight 0, as in the reference code;
//   * U is the upper Cholesky factor of H^-1 (computed as the inverse of
//     the "upper-lower" factor of H, one factorization instead of three);
//   * rows are processed in blocks (a multiple of the group size, >= 128)
//     with the updates of later blocks applied lazily once per block;
//   * a group's scale and zero point are computed when its first row is
//     reached, from the weights as updated so far (the groups of one
//     block lie inside it); per-channel schemes take them from the
//     original weights first;
//   * output columns are independent, so they are processed in chunks on
//     several threads.
// With H = identity no error is spread and the result is exactly
// quantizeRTN's.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_GPTQ_H
#define LLMC_GPTQ_H

#include "llmc/QuantLayout.h"

#include <cstdint>
#include <string>
#include <vector>

namespace llmc::gptq {

struct Options {
  double dampFraction = 0.01; ///< added to diag(H), relative to its mean
  int64_t blockSize = 128;    ///< rows per lazy-update block (rounded to groups)
  int threads = 0;            ///< 0: all hardware threads
  /// Quantize inputs in order of decreasing energy H_kk ("act-order"); the
  /// group parameters then come from the original weights ("static groups").
  bool actOrder = false;
  /// Choose each group's scale among the RTN range shrunk by up to 25%,
  /// minimizing the group's error weighted by H_kk.
  bool clipSearch = false;
};

/// The upper triangular U with U^T U = (H + damp I)^-1, row-major K x K, for
/// a symmetric positive semi-definite H (row-major K x K). `dead[k]` is set
/// for inputs with H_kk <= 0 (their diagonal is taken as 1). If H + damp I
/// is not positive definite the damping is raised tenfold up to 4 times.
/// Returns "" or an error message.
std::string inverseCholeskyUpper(const double *H, int64_t K, double dampFraction, std::vector<double> &U,
                                 std::vector<bool> &dead);

/// Quantizes W ([K, N] row-major, or [N, K] if `transposed`) into layout `l`
/// like quant::quantizeRTN, with GPTQ's error compensation for inputs whose
/// Gram matrix is H (K x K, row-major). Returns "" or an error message.
std::string quantize(const float *w, bool transposed, const double *H, const quant::Layout &l,
                     const Options &options, uint8_t *codes, uint16_t *scales, uint8_t *zeros);

/// Round to nearest, with each group's scale chosen like Options::clipSearch
/// does (the RTN range shrunk by 0, 2.5, ..., 25 %, whichever gives the least
/// error weighted by `energy`, the inputs' energies diag(H), K values). Same
/// layout and padding as quant::quantizeRTN. Returns "" or an error message.
std::string quantizeClipped(const float *w, bool transposed, const double *energy, const quant::Layout &l,
                            uint8_t *codes, uint16_t *scales, uint8_t *zeros, int threads = 0);

/// The buffers of one quantization of a weight (zeros may be null if symmetric).
struct QuantizedView {
  const uint8_t *codes;
  const uint16_t *scales;
  const uint8_t *zeros;
};

/// relativeOutputError of several quantizations of the same weight at once
/// (the denominator is computed once).
std::vector<double> relativeOutputErrors(const float *w, bool transposed, const double *H, const quant::Layout &l,
                                         const std::vector<QuantizedView> &qs, int threads = 0);

/// Relative output error of a quantized weight on the calibration inputs:
/// sum_n d_n^T H d_n / sum_n w_n^T H w_n with d = dequantized W - W, i.e.
/// ||X (W_q - W)||^2 / ||X W||^2. 0 if the denominator is 0.
double relativeOutputError(const float *w, bool transposed, const double *H, const quant::Layout &l,
                           const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                           int threads = 0);

} // namespace llmc::gptq

#endif // LLMC_GPTQ_H
